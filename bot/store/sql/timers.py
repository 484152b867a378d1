"""Timers: reminders, escalations and deadlines, stored with their due time and fired by the sweep."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.engine.timers import Timer
from bot.store.records import DueTimer
from bot.store.rows import TIMER_COLUMNS, TimerChange, due_timer, epoch, timer_row, timer_writes

from .part import SQLPart

__all__ = ["SQLTimers"]

_ADD_TIMER = (
    "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_CANCEL_TIMERS = (
    "UPDATE timers SET status = 'cancelled' WHERE task_id = ? AND status = 'pending' "
    "AND (CAST(? AS TEXT) IS NULL OR recipient = ?) "
    "AND (? = 0 OR kind IN ('remind_before', 'remind_due', 'remind_overdue'))"
)

_PENDING_TIMERS = (
    f"SELECT {', '.join(TIMER_COLUMNS)} FROM timers WHERE task_id = ? AND status = 'pending' ORDER BY due_at, id"
)


class SQLTimers(SQLPart):
    """Pending, fired, cancelled and failed timers."""

    async def add_timers(self, instance_id: int, timers: Sequence[Timer]) -> None:
        await self._db.write_many(_ADD_TIMER, [(*timer_row(instance_id, timer), "pending") for timer in timers])

    async def cancel_timers(self, task_id: str, *, recipient: str | None = None, reminders_only: bool = False) -> None:
        await self._db.write(_CANCEL_TIMERS, _cancellation(task_id, recipient, reminders_only))

    async def apply_timer_changes(self, changes: Sequence[TimerChange]) -> None:
        """Apply transitions' AddTimers and CancelTimers effects as if one by one in this order, in two statements."""
        cancels, added = timer_writes(changes)
        await self._db.write_many(_CANCEL_TIMERS, [_cancellation(*cancel) for cancel in cancels])
        await self._db.write_many(_ADD_TIMER, added)

    async def claim_due_timers(self, now: datetime, *, limit: int) -> list[DueTimer]:
        """Mark the first `limit` due timers fired (on PostgreSQL, those whose instances no other transaction
        holds, locking those instances too) and return them in due order."""
        sql, params = self._dialect.claim_timers(epoch(now), limit=limit)
        claimed = [due_timer(row) for row in await self._db.all(sql, params)]
        return sorted(claimed, key=lambda timer: (timer.due_at, timer.id))

    async def pending_timers(self, task_id: str) -> list[DueTimer]:
        rows = await self._db.all(_PENDING_TIMERS, (task_id,))
        return [due_timer(row) for row in rows]

    async def mark_timer_failed(self, timer_id: int) -> None:
        await self._db.write("UPDATE timers SET status = 'failed' WHERE id = ?", (timer_id,))


def _cancellation(task_id: str, recipient: str | None, reminders_only: bool) -> tuple[Any, ...]:
    """The parameters of _CANCEL_TIMERS."""
    return (task_id, recipient, recipient, 1 if reminders_only else 0)
