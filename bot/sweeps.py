"""Work the clock starts: the timer sweep (reminders, escalations, deadlines) and the morning digests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from bot.engine import FireTimer, Instance, OrgDirectory, Refusal, Transition, WorkflowDefinition, decide
from bot.engine.digest import plan_digests
from bot.recording import Recording
from bot.store import DueTimer, UnitOfWork
from bot.workspace import definition_of

__all__ = ["DigestSweep", "TimerSweep"]

log = logging.getLogger(__name__)


class TimerSweep:
    """Fires what fell due; each timer is claimed once, in small batched transactions."""

    def __init__(self, recording: Recording) -> None:
        self._workspace, self._recorder, self._on_commit = recording.workspace, recording.recorder, recording.on_commit

    async def fire_due_timers(self, *, batch: int = 100) -> int:
        """Fire every reminder, escalation and deadline that is due; each is claimed once, in a transaction.

        Batches are small so that one transaction holds the store briefly: clicks wait for at most one batch."""
        fired = 0
        while True:
            count = await self._fire_batch(batch)
            fired += count
            if count < batch:
                break
        if fired:
            self._on_commit()
        return fired

    async def _fire_batch(self, batch: int) -> int:
        now = self._workspace.now()
        async with self._workspace.store.transaction() as work:
            due = await work.claim_due_timers(now, limit=batch)
            if not due:
                return 0
            directory = await self._workspace.directory_in(work, now)
            try:
                async with work.savepoint():
                    await self._fire_together(work, directory, due, now)
            except Exception as error:
                log.warning("firing %s timers together failed (%r); firing them one at a time", len(due), error)
                await self._fire_one_at_a_time(work, directory, due, now)
        return len(due)

    async def _fire_together(
        self, work: UnitOfWork, directory: OrgDirectory, due: Sequence[DueTimer], now: datetime
    ) -> None:
        """Decide every claimed timer in memory, in due order, then store all the outcomes at once."""
        current = await work.instances({timer.instance_id for timer in due})
        outcomes: list[tuple[WorkflowDefinition, Transition]] = []
        for timer in due:
            decided = await _decide(work, directory, current.get(timer.instance_id), timer, now)
            if decided is None:
                continue
            definition, outcome = decided
            outcomes.append((definition, outcome))
            current[outcome.instance.id] = outcome.instance  # a later timer of the same request sees this one's outcome
        await self._recorder.record_all(work, outcomes)

    async def _fire_one_at_a_time(
        self, work: UnitOfWork, directory: OrgDirectory, due: Sequence[DueTimer], now: datetime
    ) -> None:
        """Fire each timer in a savepoint of its own: one that fails is marked failed and the others go on."""
        current: dict[int, Instance] = {}
        for timer in due:
            try:
                async with work.savepoint():
                    instance = current.get(timer.instance_id) or await work.instance(timer.instance_id)
                    decided = await _decide(work, directory, instance, timer, now)
                    if decided is None:
                        continue
                    definition, outcome = decided
                    await self._recorder.record(work, definition, outcome)
                    current[outcome.instance.id] = outcome.instance
            except Exception:
                log.exception("timer %s (%s of task %s) failed; marked failed", timer.id, timer.kind, timer.task_id)
                await work.mark_timer_failed(timer.id)


class DigestSweep:
    """Each person's morning digest, once per local day, when the workspace has digests on."""

    def __init__(self, recording: Recording) -> None:
        self._workspace, self._renderer, self._on_commit = (
            recording.workspace,
            recording.recorder.renderer,
            recording.on_commit,
        )

    async def send_digests(self) -> int:
        """Send each person's morning digest once per local day (when the workspace has digests on)."""
        settings = self._workspace.catalog.org.settings
        if not settings.daily_digest:
            return 0
        now = self._workspace.now()
        async with self._workspace.store.transaction() as work:
            plans = plan_digests(await work.open_assignments(), self._workspace.directory, settings, now)
            # One query, in id order: where rows are locked, in the order every batch of clicks takes them.
            loaded = await work.instances({a.instance_id for plan in plans for a in (*plan.own, *plan.team_overdue)})
            sent = 0
            for plan in plans:
                if not await work.first_digest(plan.user_id, plan.local_date, now):
                    continue
                ids = {a.instance_id for a in (*plan.own, *plan.team_overdue)}
                instances = {i: loaded[i] for i in ids if i in loaded}
                await work.enqueue([self._renderer.digest_message(plan, instances, now)], now)
                sent += 1
        if sent:
            self._on_commit()
            log.info("daily digests sent: %s", sent)
        return sent


async def _decide(
    work: UnitOfWork, directory: OrgDirectory, instance: Instance | None, timer: DueTimer, now: datetime
) -> tuple[WorkflowDefinition, Transition] | None:
    """The engine's outcome of a due timer on its request, or None when there is nothing to do."""
    if instance is None:
        return None
    definition = await definition_of(work, instance)
    outcome = decide(definition, directory, instance, _fire(timer), now)
    return None if isinstance(outcome, Refusal) else (definition, outcome)


def _fire(timer: DueTimer) -> FireTimer:
    return FireTimer(timer.task_id, timer.kind, timer.due_at, timer.recipient, timer.level)
