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

from bot.engine import Instance
from bot.engine.flow import FLOW_DATA_EVENTS, FLOW_EVENTS, FlowEvent, TaskSpan
from bot.engine.kpis import (
    CLOSING_TASK_EVENTS,
    COUNTED_EVENTS,
    FINISHING_EVENTS,
    EventCount,
    InstanceRow,
    KpiRows,
    PurgedTally,
    TaskRow,
)
from bot.engine.satisfaction import RATED_EVENT, RatingRow

from .rows import moment

__all__ = [
    "EventExport",
    "Fetch",
    "InstanceExport",
    "OpsSnapshot",
    "export_events",
    "export_instances",
    "flow_rows",
    "kpi_rows",
    "ops_snapshot",
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


async def kpi_rows(
    fetch: Fetch,
    since: datetime,
    until: datetime,
    *,
    workflows: Sequence[str] | None = None,
) -> KpiRows:
    """The instances, tasks and counted events of [since, until), found through the events (kind, at) index."""
    return KpiRows(
        instances=tuple(await _instance_rows(fetch, since, until, workflows)),
        tasks=tuple(await _task_rows(fetch, since, until, workflows)),
        counts=tuple(await _event_counts(fetch, since, until, workflows)),
        purged=tuple(await _purged_tallies(fetch, since, until, workflows)),
    )


async def flow_rows(
    fetch: Fetch,
    since: datetime,
    until: datetime,
    *,
    workflows: Sequence[str] | None = None,
) -> KpiRows:
    """The flow events of the requests that finished in [since, until), the tasks open at some time of it, and
    the ratings given in it (a full report has them; the Home's and the map's figures need none)."""
    return KpiRows(
        flow_events=tuple(await _flow_events(fetch, since, until, workflows)),
        task_spans=tuple(await _task_spans(fetch, since, until, workflows)),
        ratings=tuple(await rating_rows(fetch, since, until, workflows=workflows)),
    )


async def _flow_events(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[FlowEvent]:
    """Every flow event (bot/engine/flow.py) of the requests that finished in [since, until), in written order."""
    q = _Query()
    sql = (
        "SELECT e.instance_id, e.workflow, e.kind, e.at, e.task_id, e.data FROM events e "
        "WHERE e.instance_id IN (SELECT f.instance_id FROM events f "
        f"WHERE f.kind IN ({q.many(FINISHING_EVENTS[1:])}) AND f.at >= {q(since.timestamp())} "
        f"AND f.at < {q(until.timestamp())}{_workflow_filter(q, 'f.workflow', workflows)}) "
        f"AND e.kind IN ({q.many(FLOW_EVENTS)}) ORDER BY e.instance_id, e.id"
    )
    return [
        FlowEvent(int(r[0]), str(r[1] or ""), r[2], moment(r[3]), r[4], json.loads(r[5]) if r[2] in _READ_DATA else {})
        for r in await fetch(sql, q.params)
    ]


async def _purged_tallies(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[PurgedTally]:
    """What purged requests left to reports, for the days that begin in [since, until)."""
    q = _Query()
    sql = (
        "SELECT workflow, step_id, measure, day, count, seconds, with_due, overdue FROM purged_tallies "
        f"WHERE day >= {q(since.timestamp())} AND day < {q(until.timestamp())}"
    )
    sql += _workflow_filter(q, "workflow", workflows)
    return [
        PurgedTally(
            r[0], r[1] or None, r[2], moment(r[3]).date(), int(r[4]), float(r[5]), int(r[6]), int(r[7])
        )
        for r in await fetch(sql, q.params)
    ]


_READ_DATA = frozenset(FLOW_DATA_EVENTS)  # the others' data the flow figures never read: not decoded


async def _task_spans(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[TaskSpan]:
    """Every task open at some moment of [since, until): opened before its end, and still open or closed after its
    start."""
    q = _Query()
    # Only requests that were running at some time of the period can hold such tasks: those running now
    # (instances_by_workflow) and those that finished after its start (the events' (kind, at) index).
    sql = (
        "SELECT t.id, i.workflow, t.created_at, t.acted_at, t.status FROM instances i "
        "JOIN tasks t ON t.instance_id = i.id "
        "WHERE i.id IN (SELECT f.instance_id FROM events f "
        f"WHERE f.kind IN ({q.many(FINISHING_EVENTS[1:])}) AND f.at >= {q(since.timestamp())}"
        f"{_workflow_filter(q, 'f.workflow', workflows)} "
        f"UNION SELECT r.id FROM instances r WHERE r.status = 'running'{_workflow_filter(q, 'r.workflow', workflows)}) "
        f"AND i.created_at < {q(until.timestamp())} AND t.created_at < {q(until.timestamp())} "
        f"AND (t.status = 'open' OR t.acted_at >= {q(since.timestamp())})"
    )
    spans = []
    for r in await fetch(sql, q.params):
        is_open = r[4] == "open"
        closed = None if is_open else _maybe_dt(r[3])
        spans.append(TaskSpan(r[0], r[1], moment(r[2]), closed, not is_open and r[4] != "cancelled"))
    return spans


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


async def _instance_rows(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[InstanceRow]:
    q = _Query()
    sql = (
        "SELECT i.id, i.workflow, i.requester, i.status, i.created_at, i.finished_at FROM instances i "
        "WHERE i.id IN (SELECT e.instance_id FROM events e "
        f"WHERE e.kind IN ({q.many(FINISHING_EVENTS)}) AND e.at >= {q(since.timestamp())} "
        f"AND e.at < {q(until.timestamp())}{_workflow_filter(q, 'e.workflow', workflows)})"
    )
    sql += _workflow_filter(q, "i.workflow", workflows)
    rows = await fetch(sql, q.params)
    return [InstanceRow(int(r[0]), r[1], r[2], r[3], moment(r[4]), _maybe_dt(r[5])) for r in rows]


async def _task_rows(fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None) -> list[TaskRow]:
    columns = (
        "SELECT t.id, t.instance_id, i.workflow, t.step_id, t.status, t.created_at, t.acted_at, t.due_at, a.user_id "
        "FROM tasks t JOIN instances i ON i.id = t.instance_id LEFT JOIN task_assignees a ON a.task_id = t.id "
    )
    q = _Query()
    closed = (
        columns + "WHERE t.id IN (SELECT e.task_id FROM events e "
        f"WHERE e.kind IN ({q.many(CLOSING_TASK_EVENTS)}) AND e.at >= {q(since.timestamp())} "
        f"AND e.at < {q(until.timestamp())}{_workflow_filter(q, 'e.workflow', workflows)}) "
        "AND t.status <> 'open' AND t.status <> 'cancelled'"
    )
    closed += _workflow_filter(q, "i.workflow", workflows)
    if workflows is None:
        still_open = columns + f"WHERE t.status = 'open' AND t.created_at < {q(until.timestamp())}"
    else:  # from those workflows' requests (instances_by_workflow) to their open tasks (tasks_by_instance)
        still_open = (
            "SELECT t.id, t.instance_id, i.workflow, t.step_id, t.status, t.created_at, t.acted_at, t.due_at, "
            "a.user_id FROM instances i JOIN tasks t ON t.instance_id = i.id "
            "LEFT JOIN task_assignees a ON a.task_id = t.id "
            f"WHERE t.status = 'open' AND t.created_at < {q(until.timestamp())}"
            + _workflow_filter(q, "i.workflow", workflows)
        )
    rows = await fetch(f"{closed} UNION ALL {still_open}", q.params)
    first: dict[str, Sequence[Any]] = {}
    assignees: dict[str, list[str]] = {}
    for r in rows:  # one row per (task, assignee): gather each task's people, then build it once
        if r[0] not in first:
            first[r[0]] = r
            assignees[r[0]] = []
        if r[8] is not None and r[8] not in assignees[r[0]]:
            assignees[r[0]].append(r[8])
    return [
        TaskRow(
            task_id=r[0],
            instance_id=int(r[1]),
            workflow=r[2],
            step_id=r[3],
            status=r[4],
            created_at=moment(r[5]),
            closed_at=_maybe_dt(r[6]),
            due_at=_maybe_dt(r[7]),
            assignees=tuple(assignees[task_id]),
        )
        for task_id, r in first.items()
    ]


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
        state = Instance.model_validate_json(r[8])
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
