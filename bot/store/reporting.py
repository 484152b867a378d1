"""Portable read-only queries for reports, exports and metrics, shared by every store.

Each function takes the unit of work's `fetch(sql, params)` (its session's `all`: bot/store/session.py), so one
set of SQL, with `?` placeholders, serves every database. Times are epoch seconds (REAL / DOUBLE PRECISION).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bot.engine.kpis import COUNTED_EVENTS, EventCount
from bot.engine.purged import PurgedTally
from bot.engine.satisfaction import RATED_EVENT, RatingRow

from .older_states import instance_from_state
from .rows import moment

__all__ = [
    "EventExport",
    "Fetch",
    "InstanceExport",
    "OpsSnapshot",
    "export_events",
    "export_instances",
    "ops_snapshot",
    "purged_tallies",
    "rating_rows",
]

Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[Sequence[Any]]]]

# ISO weeks start on Monday; the epoch (1970-01-01) was a Thursday, so weeks counted from Monday 1969-12-29.
_WEEK_ZERO = date(1969, 12, 29)
_WEEK_SQL = "((CAST({column} AS BIGINT) + 259200) / 604800)"


@dataclass(frozen=True)
class InstanceExport:
    """One request as exported: its row and the parts of its state a person reads."""

    id: int
    workflow: str
    definition_version: str
    title: str
    requester: str
    status: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    finished_by: str | None
    outcome_reason: str | None
    form: dict[str, Any] = field(default_factory=dict)
    satisfaction: int | None = None
    satisfaction_comment: str | None = None


@dataclass(frozen=True)
class EventExport:
    """One line of the event log as exported."""

    id: int
    instance_id: int
    workflow: str
    kind: str
    at: datetime
    actor: str | None
    task_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpsSnapshot:
    """What an operator watches: the outbox backlog and open work."""

    outbox_pending: int
    oldest_pending_at: datetime | None
    open_tasks: dict[str, int] = field(default_factory=dict)


def _maybe_dt(value: float | None) -> datetime | None:
    return moment(value) if value is not None else None


class _Query:
    """The parameters of SQL text built in order: each value put in stands as a `?`."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def many(self, values: Sequence[Any]) -> str:
        return ", ".join(self(value) for value in values)


def _workflow_filter(q: _Query, column: str, workflows: Sequence[str] | None) -> str:
    if workflows is None:
        return ""
    if not workflows:
        return " AND 1 = 0"
    return f" AND {column} IN ({q.many(workflows)})"


async def rating_rows(
    fetch: Fetch, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
) -> list[RatingRow]:
    """The ratings requesters gave in [since, until), through the events (kind, at) index."""
    q = _Query()
    sql = (
        "SELECT e.id, e.instance_id, e.workflow, e.at, e.data FROM events e "
        f"WHERE e.kind = {q(RATED_EVENT)} AND e.at >= {q(since.timestamp())} AND e.at < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "e.workflow", workflows)
    rows = []
    for r in await fetch(sql, q.params):
        data = json.loads(r[4]) if r[4] else {}
        score = data.get("score")
        if isinstance(score, int):
            comment = data.get("comment")
            rows.append(
                RatingRow(int(r[0]), int(r[1]), str(r[2] or ""), moment(r[3]), score, comment if comment else None)
            )
    return rows


async def _event_counts(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[EventCount]:
    q = _Query()
    week = _WEEK_SQL.format(column="e.at")
    sql = (
        f"SELECT i.workflow, t.step_id, e.kind, {week}, COUNT(*) FROM events e "
        "JOIN instances i ON i.id = e.instance_id LEFT JOIN tasks t ON t.id = e.task_id "
        f"WHERE e.kind IN ({q.many(COUNTED_EVENTS)}) AND e.at >= {q(since.timestamp())} "
        f"AND e.at < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "e.workflow", workflows)
    sql += f" GROUP BY i.workflow, t.step_id, e.kind, {week}"
    rows = await fetch(sql, q.params)
    return [EventCount(r[0], r[1], r[2], _WEEK_ZERO + timedelta(weeks=int(r[3])), int(r[4])) for r in rows]


async def purged_tallies(
    fetch: Fetch, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
) -> list[PurgedTally]:
    """What purged requests left to reports, for the days that begin in [since, until)."""
    q = _Query()
    sql = (
        "SELECT workflow, step_id, measure, day, count, seconds, with_due, overdue FROM purged_tallies "
        f"WHERE day >= {q(since.timestamp())} AND day < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "workflow", workflows)
    return [
        PurgedTally(r[0], r[1] or None, r[2], moment(r[3]).date(), int(r[4]), float(r[5]), int(r[6]), int(r[7]))
        for r in await fetch(sql, q.params)
    ]


async def export_instances(
    fetch: Fetch,
    since: datetime,
    until: datetime,
    *,
    workflows: Sequence[str] | None = None,
) -> list[InstanceExport]:
    """Requests created in [since, until), oldest first."""
    q = _Query()
    sql = (
        "SELECT id, workflow, definition_version, requester, status, created_at, updated_at, finished_at, state "
        f"FROM instances WHERE created_at >= {q(since.timestamp())} AND created_at < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "workflow", workflows) + " ORDER BY id"
    exported = []
    for r in await fetch(sql, q.params):
        state = instance_from_state(r[8])
        exported.append(
            InstanceExport(
                id=int(r[0]),
                workflow=r[1],
                definition_version=r[2],
                title=state.title,
                requester=r[3],
                status=r[4],
                created_at=moment(r[5]),
                updated_at=moment(r[6]),
                finished_at=_maybe_dt(r[7]),
                finished_by=state.finished_by,
                outcome_reason=state.outcome_reason,
                form=dict(state.form),
                satisfaction=state.rating.score if state.rating else None,
                satisfaction_comment=state.rating.comment if state.rating else None,
            )
        )
    return exported


async def export_events(
    fetch: Fetch,
    since: datetime,
    until: datetime,
    *,
    workflows: Sequence[str] | None = None,
) -> list[EventExport]:
    """Event log lines of [since, until), in the order they were written."""
    q = _Query()
    sql = (
        "SELECT e.id, e.instance_id, i.workflow, e.kind, e.at, e.actor, e.task_id, e.data "
        "FROM events e JOIN instances i ON i.id = e.instance_id "
        f"WHERE e.at >= {q(since.timestamp())} AND e.at < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "e.workflow", workflows) + " ORDER BY e.id"
    return [
        EventExport(int(r[0]), int(r[1]), r[2], r[3], moment(r[4]), r[5], r[6], json.loads(r[7]))
        for r in await fetch(sql, q.params)
    ]


async def ops_snapshot(fetch: Fetch) -> OpsSnapshot:
    """The outbox backlog (how many, since when) and open tasks per workflow."""
    backlog = await fetch("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'", ())
    open_tasks = await fetch(
        "SELECT i.workflow, COUNT(*) FROM tasks t JOIN instances i ON i.id = t.instance_id "
        "WHERE t.status = 'open' GROUP BY i.workflow",
        (),
    )
    count, oldest = backlog[0] if backlog else (0, None)
    return OpsSnapshot(int(count or 0), _maybe_dt(oldest), {str(r[0]): int(r[1]) for r in open_tasks})
