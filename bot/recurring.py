"""Recurring starts: a workflow with `start: {schedule: …}` is started by the calendar, each occurrence once.

Every process sweeps; an occurrence is claimed by a unique key in the store (`schedule:<workflow>:<moment>`) in
the same transaction that starts its request, so two processes never start it twice. A schedule counts from
the moment Baton first saw it (so a new schedule does not start last month's occurrence); an occurrence missed
while Baton was down starts once when it is back, marked late (`trigger: schedule-late` in the history). Only
the latest missed occurrence starts: a week of downtime does not bring seven daily checklists at once.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from bot.engine import RefusalReason, WorkflowDefinition
from bot.engine.worktime import zone
from bot.service import Refused, Started, WorkflowService
from bot.store import Store

__all__ = ["LATE_AFTER", "ScheduledStarts"]

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)  # started later than this after its time: Baton was down, or stuck


class ScheduledStarts:
    """Start each scheduled workflow's latest due occurrence, once across every process."""

    def __init__(self, service: WorkflowService, store: Store) -> None:
        self._service = service
        self._store = store
        self._since: dict[str, datetime] = {}  # stored once and never changed: no need to ask again

    async def start_due(self) -> list[Started]:
        """Start every occurrence that has fallen due and is not started yet; return what was started."""
        started: list[Started] = []
        for name, definition in sorted(self._service.catalog.workflows.items()):
            if definition.start.schedule is not None:
                result = await self._start_if_due(name, definition)
                if result is not None:
                    started.append(result)
        return started

    async def _start_if_due(self, name: str, definition: WorkflowDefinition) -> Started | None:
        policy = definition.start
        recurrence = policy.recurrence
        assert recurrence is not None and policy.schedule is not None and policy.requester is not None
        now = self._service.now()
        occurrence = recurrence.latest(now, zone(self._service.directory.calendar.timezone))
        since = await self._scheduled_since(name, policy.schedule, now)
        if occurrence is None or occurrence < since:
            return None  # nothing due since Baton first saw this schedule
        key = f"schedule:{name}:{int(occurrence.timestamp())}"
        if await self._service.sightings.seen(key):
            return None
        late = now - occurrence > LATE_AFTER
        result = await self._service.start(
            name, policy.requester, dict(policy.form), trigger="schedule-late" if late else "schedule", request_key=key
        )
        if isinstance(result, Started):
            log.log(
                logging.WARNING if late else logging.INFO,
                "scheduled start%s: workflow=%s instance=%s due=%s",
                " (late)" if late else "",
                name,
                result.instance.id,
                occurrence.isoformat(),
                extra={"workflow": name, "instance": result.instance.id},
            )
            return result
        if not isinstance(result, Refused) or result.why.reason is not RefusalReason.ALREADY_RECEIVED:
            log.error("scheduled start of %s at %s failed: %s", name, occurrence.isoformat(), result)
        return None

    async def _scheduled_since(self, name: str, schedule: str, now: datetime) -> datetime:
        """When Baton first saw this schedule of this workflow (stored, so every process agrees)."""
        digest = hashlib.sha256(schedule.encode()).hexdigest()[:16]
        key = f"schedule-since:{name}:{digest}"
        if key not in self._since:
            async with self._store.transaction() as work:
                await work.first_sighting(key, now)
                self._since[key] = await work.sighted_at(key) or now
        return self._since[key]
