"""Retention: finished requests past RETENTION_DAYS found, turned into report tallies, and deleted with all they own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.engine.kpis import CLOSING_TASK_EVENTS, COUNTED_EVENTS
from bot.engine.purged import InstanceRow, PurgedTally, TaskRow
from bot.store.records import PurgedRows
from bot.store.rows import epoch, moment

from .part import SQLPart

__all__ = ["SQLRetention"]

_FINISHED = "('completed', 'rejected', 'cancelled', 'failed')"
_ADD_TALLY = """INSERT INTO purged_tallies (workflow, step_id, measure, day, count, seconds, with_due, overdue)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (workflow, step_id, measure, day) DO UPDATE SET count = purged_tallies.count + excluded.count,
       seconds = purged_tallies.seconds + excluded.seconds, with_due = purged_tallies.with_due + excluded.with_due,
       overdue = purged_tallies.overdue + excluded.overdue"""
_MARK_HIGHEST = """INSERT INTO retention_marks (mark_name, mark) VALUES ('highest_purged_request', ?)
   ON CONFLICT (mark_name) DO UPDATE SET mark = CASE WHEN excluded.mark > retention_marks.mark
       THEN excluded.mark ELSE retention_marks.mark END"""
# What a request owns, deleted in an order that leaves no reference dangling. `{among}` names the requests.
_OWNED: tuple[tuple[str, str], ...] = (
    ("timers", "DELETE FROM timers WHERE {among}"),
    ("report rows", "DELETE FROM report_tasks WHERE {among}"),
    ("report rows", "DELETE FROM report_requests WHERE {among}"),
    ("task assignees", "DELETE FROM task_assignees WHERE task_id IN (SELECT id FROM tasks WHERE {among})"),
    ("tasks", "DELETE FROM tasks WHERE {among}"),
    ("events", "DELETE FROM events WHERE {among}"),
    ("API origins", "DELETE FROM api_requests WHERE {among}"),
    ("Workflow Builder executions", "DELETE FROM function_executions WHERE {among}"),
    (
        "Slack message records",
        "DELETE FROM slack_messages WHERE message_key IN "
        "(SELECT message_key FROM outbox WHERE {among} AND message_key IS NOT NULL)",
    ),
    ("outbox messages", "DELETE FROM outbox WHERE {among} AND status <> 'pending'"),
    ("requests", "DELETE FROM instances WHERE {among}"),
)


class SQLRetention(SQLPart):
    """Requests past their retention: claimed, read for the tallies that outlive them, deleted."""

    async def claim_expired_requests(self, finished_before: datetime, *, limit: int) -> list[int]:
        """Up to `limit` requests that finished before then and have no message still to send, oldest first,
        locked for this transaction where processes share the database (others skip them)."""
        rows = await self._db.all(
            f"SELECT i.id FROM instances i WHERE i.finished_at < ? AND i.status IN {_FINISHED} "
            "AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.instance_id = i.id AND o.status = 'pending') "
            f"ORDER BY i.finished_at, i.id LIMIT ?{self._dialect.skip_locked}",
            (epoch(finished_before), limit),
        )
        return [int(row[0]) for row in rows]

    async def purged_rows(self, instance_ids: Sequence[int]) -> PurgedRows:
        """What reports read of these requests: their rows, their decided tasks and their counted events."""
        ids = list(instance_ids)
        instances = [
            InstanceRow(int(r[0]), r[1], r[2], r[3], moment(r[4]), moment(r[5]) if r[5] is not None else None)
            for r in await self._all_among(
                "SELECT id, workflow, requester, status, created_at, finished_at FROM instances WHERE {among}",
                "id", ids, "bigint",
            )
        ]  # fmt: skip
        # Every event of the batch through events_by_instance (a few a request), its kinds picked out here: with the
        # kinds in the query, SQLite may prefer the (kind, at) index and read those kinds of every request.
        events = await self._all_among(
            "SELECT e.kind, e.at, e.task_id, i.workflow, t.step_id FROM events e "
            "JOIN instances i ON i.id = e.instance_id LEFT JOIN tasks t ON t.id = e.task_id WHERE {among}",
            "e.instance_id", ids, "bigint",
        )  # fmt: skip
        closed = {r[2] for r in events if r[0] in CLOSING_TASK_EVENTS and r[2] is not None}
        tasks = [
            TaskRow(r[0], int(r[1]), r[2], r[3], r[4], moment(r[5]), moment(r[6]) if r[6] is not None else None,
                    moment(r[7]) if r[7] is not None else None, ())
            for r in await self._all_among(
                "SELECT t.id, t.instance_id, i.workflow, t.step_id, t.status, t.created_at, t.acted_at, t.due_at "
                "FROM tasks t JOIN instances i ON i.id = t.instance_id "
                "WHERE t.status <> 'open' AND t.status <> 'cancelled' AND {among}",
                "t.instance_id", ids, "bigint",
            )
            if r[0] in closed
        ]  # fmt: skip
        counted = [(r[3], r[4], r[0], moment(r[1])) for r in events if r[0] in COUNTED_EVENTS]
        return PurgedRows(tuple(instances), tuple(tasks), tuple(counted))

    async def add_purged_tallies(self, tallies: Sequence[PurgedTally]) -> None:
        await self._db.write_many(
            _ADD_TALLY,
            [
                (t.workflow, t.step_id or "", t.measure, epoch(t.starts), t.count, t.seconds, t.with_due, t.overdue)
                for t in tallies
            ],
        )

    async def delete_requests(self, instance_ids: Sequence[int]) -> dict[str, int]:
        """Delete these requests and every row they own but messages still to send; how many rows of each kind."""
        deleted = dict.fromkeys((name for name, _sql in _OWNED), 0)
        ids = list(instance_ids)
        if not ids:
            return deleted
        await self._db.write(_MARK_HIGHEST, (max(ids),))
        for name, sql in _OWNED:
            column = "instance_id" if name != "requests" else "id"
            for condition, params in self._dialect.member_of(column, ids, "bigint"):
                deleted[name] += await self._db.changed(sql.format(among=condition), params)
        return deleted
