"""Today's row-based report (before the figures were aggregated in SQL), kept as the oracle of the equivalence
test: every row of the period read and turned into datetimes, then kpis.compute_kpis over them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.engine.flow import FLOW_DATA_EVENTS, FLOW_EVENTS, FlowEvent, TaskSpan
from bot.engine.kpis import (
    CLOSING_TASK_EVENTS,
    FINISHING_EVENTS,
    EventCount,
    InstanceRow,
    KpiRows,
    Period,
    TaskRow,
    previous_start,
)
from bot.engine.satisfaction import RatingRow
from bot.store import Store, UnitOfWork
from bot.store.reporting import Fetch, _event_counts, _maybe_dt, _Query, _workflow_filter, rating_rows
from bot.store.rows import moment

_CHUNK = timedelta(days=31)


def _fetch(work: UnitOfWork) -> Fetch:
    return work._db.all  # type: ignore[attr-defined,no-any-return]


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


_READ_DATA = frozenset(FLOW_DATA_EVENTS)


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


async def load_rows(store: Store, period: Period, *, workflows: Sequence[str] | None, flow: bool = True) -> KpiRows:
    """The period's rows, read a month at a time so that no transaction holds the database for long.

    Chunks are merged: an instance seen in two chunks (started in one, finished in the next) once, open tasks
    once (the last chunk sees them all), and event counts of a week that straddles two chunks added up. The
    ratings of the period before are read too, for satisfaction's trend. Without `flow`, none of flow, task spans
    and ratings is read (the Home's and the map's figures need none)."""
    instances: dict[int, InstanceRow] = {}
    tasks: dict[str, TaskRow] = {}
    counts: dict[tuple[str, str | None, str, date], int] = {}
    flows: dict[int, list[FlowEvent]] = {}
    spans: dict[str, TaskSpan] = {}
    ratings: dict[int, RatingRow] = {}
    if flow:
        async with store.transaction(read_only=True) as work:
            earlier = await rating_rows(_fetch(work), previous_start(period), period.start, workflows=workflows)
        ratings.update((row.event_id, row) for row in earlier)
    start = period.start
    while start < period.end:
        end = min(period.end, start + _CHUNK)
        async with store.transaction(read_only=True) as work:
            rows = await kpi_rows(_fetch(work), start, end, workflows=workflows)
        if flow:  # a transaction of its own: no single one holds the database for long
            async with store.transaction(read_only=True) as work:
                more = await flow_rows(_fetch(work), start, end, workflows=workflows)
            rows = replace(rows, flow_events=more.flow_events, task_spans=more.task_spans, ratings=more.ratings)
        instances.update((row.instance_id, row) for row in rows.instances)
        tasks.update((row.task_id, row) for row in rows.tasks)
        for count in rows.counts:
            key = (count.workflow, count.step_id, count.kind, count.week)
            counts[key] = counts.get(key, 0) + count.count
        chunk_flows: dict[int, list[FlowEvent]] = {}
        for event in rows.flow_events:
            chunk_flows.setdefault(event.instance_id, []).append(event)
        flows.update(chunk_flows)  # a request finishes once: its whole story comes with the chunk it ended in
        spans.update((span.task_id, span) for span in rows.task_spans)
        ratings.update((row.event_id, row) for row in rows.ratings)
        start = end
    return KpiRows(
        instances=tuple(instances.values()),
        tasks=tuple(tasks.values()),
        counts=tuple(EventCount(*key, total) for key, total in counts.items()),
        flow_events=tuple(event for story in flows.values() for event in story),
        task_spans=tuple(spans.values()),
        ratings=tuple(ratings.values()),
    )
