"""The event log: each request's history, appended to and never rewritten."""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot.engine import Event
from bot.engine.flow import FLOW_EVENTS
from bot.engine.kpis import CLOSING_TASK_EVENTS, FINISHING_EVENTS
from bot.store.records import AuditEntry
from bot.store.rows import event_row, moment

from .part import SQLPart

__all__ = ["SQLHistory"]

_APPEND_EVENT = (
    "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
    "VALUES (?, (SELECT workflow FROM instances WHERE id = ?), ?, ?, ?, ?, ?)"
)


# The kinds of events a finished request's report rows are made of (bot/store/report_rows.py).
_REPORTED = frozenset((*FLOW_EVENTS, *CLOSING_TASK_EVENTS, *FINISHING_EVENTS))


class SQLHistory(SQLPart):
    """Events, each stored with its request's workflow (for reports on some workflows)."""

    async def append_events(self, instance_id: int, events: Sequence[Event]) -> None:
        await self.append_history([(instance_id, event) for event in events])

    async def append_history(self, lines: Sequence[tuple[int, Event]]) -> None:
        """Append events to several instances' histories, in this order, in one statement."""
        await self._db.write_many(
            _APPEND_EVENT, [(instance_id, *event_row(instance_id, event)) for instance_id, event in lines]
        )
        for instance_id, event in lines:  # a finished request's report rows are read from these: rewritten
            if event.kind in _REPORTED and instance_id not in self._reported:
                self._reported[instance_id] = None

    async def audit_trail(self, instance_id: int) -> list[AuditEntry]:
        rows = await self._db.all(
            "SELECT id, instance_id, kind, at, actor, task_id, data FROM events WHERE instance_id = ? ORDER BY id",
            (instance_id,),
        )
        return [AuditEntry(r[0], r[1], r[2], moment(r[3]), r[4], r[5], json.loads(r[6])) for r in rows]
