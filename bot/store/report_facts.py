"""The portable SQL that aggregates a report's facts (bot/engine/kpi_facts.py): counts grouped in the
database, durations and task intervals as whole microseconds, no datetime per row.

`chunk_facts` and `flow_facts` read one chunk [since, until) of the period so that no transaction holds the
database for long; the chunks partition what they count (a request by when it started or finished, a task by
when it was decided, a request's flow by when it ended), so their facts add up. `span_facts` (tasks per week)
is one grouped query over the period; `open_task_facts` is read once. Stored times are epoch seconds of
datetimes: `ROUND(at * 1000000)` gives back their exact microseconds.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.engine.flow import CLOSES, HANDED_ON, OPENS, SNOOZED, TIMEOUT
from bot.engine.kpi_facts import FinishedRequest, FlowTask, SpanGroup, TaskFact, micros, snooze_until
from bot.engine.kpis import CLOSING_TASK_EVENTS, FINISHING_EVENTS, EventCount

from .reporting import Fetch, _event_counts, _Query, _workflow_filter

__all__ = ["ChunkFacts", "chunk_facts", "flow_facts", "open_task_facts", "span_facts"]

_ENDS = FINISHING_EVENTS[1:]
_OPENS, _CLOSES, _TIMEOUT, _SNOOZES = OPENS, CLOSES, TIMEOUT, (SNOOZED, HANDED_ON)
_SPECIAL = (_TIMEOUT, *_SNOOZES)
_BATCH = 500  # values per IN (...)
_WEEK = 604_800_000_000
_MONDAY_OFFSET = 259_200_000_000  # the epoch was a Thursday: week 0 began three days earlier


def _us(column: str) -> str:
    return f"CAST(ROUND({column} * 1000000) AS BIGINT)"


def _week(column: str) -> str:
    return f"(({_us(column)} + {_MONDAY_OFFSET}) / {_WEEK})"


@dataclass(frozen=True)
class ChunkFacts:
    finished: list[tuple[str, str, int, int]]
    started: list[tuple[str, int, int]]
    requesters: list[tuple[str, int, int]]
    cycles: list[tuple[str, int, int]]
    tasks: list[TaskFact]
    counts: list[EventCount]


def _ended(q: _Query, since: datetime, until: datetime, workflows: Sequence[str] | None) -> str:
    """The requests with an end event in [since, until)."""
    return (
        f"SELECT f.instance_id FROM events f WHERE f.kind IN ({q.many(_ENDS)}) AND f.at >= {q(since.timestamp())} "
        f"AND f.at < {q(until.timestamp())}{_workflow_filter(q, 'f.workflow', workflows)}"
    )


def _instances_among(q: _Query, since: datetime, until: datetime, workflows: Sequence[str] | None) -> str:
    """The requests with a start or end event in [since, until) (the events' (kind, at) index)."""
    return (
        "i.id IN (SELECT e.instance_id FROM events e "
        f"WHERE e.kind IN ({q.many(FINISHING_EVENTS)}) AND e.at >= {q(since.timestamp())} "
        f"AND e.at < {q(until.timestamp())}{_workflow_filter(q, 'e.workflow', workflows)})"
        + _workflow_filter(q, "i.workflow", workflows)
    )


async def chunk_facts(
    fetch: Fetch, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
) -> ChunkFacts:
    """Requests started and finished in [since, until) (counts by workflow, status and week; by requester; each
    completed one's cycle), the tasks decided in it, and the counted events by week."""
    low, high = micros(since), micros(until)
    q = _Query()
    chosen = (  # each request of the chunk once, its times in microseconds, whether it started or finished in it
        "WITH chosen AS MATERIALIZED (SELECT c.workflow, c.requester, c.status, c.created, c.finished, "
        f"CASE WHEN c.created >= {q(low)} AND c.created < {q(high)} THEN 1 ELSE 0 END AS began, "
        f"CASE WHEN c.finished >= {q(low)} AND c.finished < {q(high)} THEN 1 ELSE 0 END AS ended "
        f"FROM (SELECT i.workflow, i.requester, i.status, {_us('i.created_at')} AS created, "
        f"{_us('i.finished_at')} AS finished FROM instances i WHERE {_instances_among(q, since, until, workflows)}) c) "
    )
    rows = await fetch(
        chosen + f"SELECT 'finished', workflow, status, ((finished + {_MONDAY_OFFSET}) / {_WEEK}) AS week, COUNT(*) "
        "FROM chosen WHERE ended = 1 GROUP BY workflow, status, ((finished + "
        f"{_MONDAY_OFFSET}) / {_WEEK}) "
        f"UNION ALL SELECT 'started', workflow, NULL, ((created + {_MONDAY_OFFSET}) / {_WEEK}) AS week, COUNT(*) "
        f"FROM chosen WHERE began = 1 GROUP BY workflow, ((created + {_MONDAY_OFFSET}) / {_WEEK}) "
        "UNION ALL SELECT 'requester', requester, NULL, SUM(began), "
        "SUM(CASE WHEN status = 'completed' THEN ended ELSE 0 END) FROM chosen GROUP BY requester "
        f"UNION ALL SELECT 'cycle', workflow, NULL, ((finished + {_MONDAY_OFFSET}) / {_WEEK}), finished - created "
        "FROM chosen WHERE ended = 1 AND status = 'completed'",
        q.params,
    )
    finished: list[tuple[str, str, int, int]] = []
    started: list[tuple[str, int, int]] = []
    requesters: list[tuple[str, int, int]] = []
    cycles: list[tuple[str, int, int]] = []
    for part, name, status, number, value in rows:
        if part == "finished":
            finished.append((name, status, number, value))
        elif part == "started":
            started.append((name, number, value))
        elif part == "requester":
            requesters.append((name, int(number or 0), int(value or 0)))
        else:
            cycles.append((name, number, value))
    return ChunkFacts(
        finished=finished,
        started=started,
        requesters=requesters,
        cycles=cycles,
        tasks=await _decided_tasks(fetch, since, until, workflows),
        counts=await _event_counts(fetch, since, until, workflows),
    )


_TASK_COLUMNS = (
    f"SELECT t.id, i.workflow, t.step_id, t.status, {_us('t.created_at')}, {_us('t.acted_at')}, {_us('t.due_at')}, "
    "a.user_id "
)


async def _decided_tasks(
    fetch: Fetch, since: datetime, until: datetime, workflows: Sequence[str] | None
) -> list[TaskFact]:
    """The tasks decided in [since, until): a closing event in it, and their decision's time in it."""
    q = _Query()
    sql = (
        _TASK_COLUMNS + "FROM tasks t JOIN instances i ON i.id = t.instance_id "
        "LEFT JOIN task_assignees a ON a.task_id = t.id WHERE t.id IN (SELECT e.task_id FROM events e "
        f"WHERE e.kind IN ({q.many(CLOSING_TASK_EVENTS)}) AND e.at >= {q(since.timestamp())} "
        f"AND e.at < {q(until.timestamp())}{_workflow_filter(q, 'e.workflow', workflows)}) "
        "AND t.status <> 'open' AND t.status <> 'cancelled' AND t.acted_at IS NOT NULL "
        f"AND {_us('t.acted_at')} >= {q(micros(since))} AND {_us('t.acted_at')} < {q(micros(until))}"
        + _workflow_filter(q, "i.workflow", workflows)
    )
    return _task_facts(await fetch(sql, q.params))


async def open_task_facts(fetch: Fetch, until: datetime, *, workflows: Sequence[str] | None = None) -> list[TaskFact]:
    """The tasks open now that were created before `until`."""
    q = _Query()
    sql = (
        _TASK_COLUMNS + "FROM instances i JOIN tasks t ON t.instance_id = i.id "
        "LEFT JOIN task_assignees a ON a.task_id = t.id "
        f"WHERE t.status = 'open' AND t.created_at < {q(until.timestamp())}"
        + _workflow_filter(q, "i.workflow", workflows)
    )
    return _task_facts(await fetch(sql, q.params))


def _task_facts(rows: Sequence[Sequence[Any]]) -> list[TaskFact]:
    first: dict[str, Sequence[Any]] = {}
    assignees: dict[str, list[str]] = defaultdict(list)
    for r in rows:  # one row per (task, assignee)
        first.setdefault(r[0], r)
        if r[7] is not None:
            assignees[r[0]].append(r[7])
    facts = []
    for task_id, workflow, step_id, status, created, closed, due, _ in first.values():
        is_open = status == "open"
        waited = 0 if is_open or closed is None else max(0, closed - created)
        facts.append(TaskFact(task_id, workflow, step_id, is_open, waited, closed, due, tuple(assignees[task_id])))
    return facts


async def flow_facts(
    fetch: Fetch,
    since: datetime,
    until: datetime,
    *,
    workflows: Sequence[str] | None = None,
    rated_workflows: Collection[str] = (),
    among: Sequence[int] | None = None,
) -> list[FinishedRequest]:
    """The requests with an end event in [since, until) (or the requests `among`, whenever they ended): their
    first start and end, and each task's first opening and closing (by the events' order), with its snoozes. A
    task's step is read (from its opening event's data) only in `rated_workflows`, the ones with a cost per hour."""
    q = _Query()
    firsts, lasts = q.many(("instance_started", *_OPENS)), q.many((*_ENDS, *_CLOSES))  # in the text's order
    special = q.many(_SPECIAL)
    instance_level = q.many(FINISHING_EVENTS)
    ended = _ended(q, since, until, workflows) if among is None else q.many(among) if among else "NULL"
    kinds = q.many((*FINISHING_EVENTS, *_OPENS, *_CLOSES, *_SPECIAL))
    data = "o.data" if rated_workflows else "NULL"
    # One group per request (its first start and first end) and per task (its first opening and closing, and
    # whether a deadline, a snooze or a hand-over touched it)
    stories = await fetch(
        f"SELECT b.instance_id, b.task_id, {_us('o.at')}, o.workflow, {data}, b.closed, {_us('c.at')}, b.special "
        f"FROM (SELECT s.instance_id, s.task_id, MIN(CASE WHEN s.kind IN ({firsts}) THEN s.id END) AS opened, "
        f"MIN(CASE WHEN s.kind IN ({lasts}) THEN s.id END) AS closed, "
        f"SUM(CASE WHEN s.kind IN ({special}) THEN 1 ELSE 0 END) AS special "
        "FROM (SELECT e.instance_id, e.id, e.kind, "
        f"CASE WHEN e.kind IN ({instance_level}) THEN NULL ELSE e.task_id END AS task_id FROM events e "
        f"WHERE e.instance_id IN ({ended}) AND e.kind IN ({kinds}) "
        f"AND (e.task_id IS NOT NULL OR e.kind IN ({q.many(FINISHING_EVENTS)}))) s "
        "GROUP BY s.instance_id, s.task_id) b "
        "JOIN events o ON o.id = b.opened LEFT JOIN events c ON c.id = b.closed ORDER BY b.instance_id, b.opened",
        q.params,
    )
    touched = sorted({r[0] for r in stories if r[7]})
    extras: list[Sequence[Any]] = []
    for offset in range(0, len(touched), _BATCH):  # the deadlines, snoozes and hand-overs themselves: few
        q = _Query()
        extras.extend(
            await fetch(
                f"SELECT e.instance_id, e.task_id, e.kind, e.id, {_us('e.at')}, e.data FROM events e "
                f"WHERE e.instance_id IN ({q.many(touched[offset : offset + _BATCH])}) AND e.task_id IS NOT NULL "
                f"AND e.kind IN ({q.many(_SPECIAL)}) ORDER BY e.id",
                q.params,
            )
        )
    extras.sort(key=lambda r: r[3])
    bounds = [(r[0], r[3], r[2], r[6]) for r in stories if r[1] is None and r[6] is not None]
    tasks = [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in stories if r[1] is not None]
    return _finished_requests(bounds, tasks, extras, set(rated_workflows))


def _finished_requests(
    bounds: Sequence[Sequence[Any]],
    tasks: Sequence[Sequence[Any]],
    extras: Sequence[Sequence[Any]],
    rated: set[str],
) -> list[FinishedRequest]:
    deciding_timeouts: dict[tuple[int, str], int] = {}  # the first deadline that approved or rejected: its id
    timeout_at: dict[int, int] = {}
    snoozes: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for instance_id, task_id, kind, event_id, at, data in extras:
        key = (instance_id, task_id)
        if kind == _TIMEOUT:
            if key not in deciding_timeouts and json.loads(data).get("action") in ("approve", "reject"):
                deciding_timeouts[key] = event_id
                timeout_at[event_id] = at
        elif kind == SNOOZED:
            snoozes.setdefault(key, []).append((at, snooze_until(json.loads(data).get("until"), at)))
        else:
            snoozes.setdefault(key, []).append((at, at))
    workflow_of = {r[0]: str(r[1] or "") for r in bounds}
    tasks_of: dict[int, list[FlowTask]] = defaultdict(list)
    special = deciding_timeouts.keys() | snoozes.keys()
    for instance_id, task_id, opened_at, data, closed_id, closed_at in tasks:  # in the order they first opened
        step = str(json.loads(data).get("step") or "") if rated and workflow_of.get(instance_id) in rated else ""
        if (instance_id, task_id) not in special:
            tasks_of[instance_id].append(FlowTask(step, opened_at, closed_at))
            continue
        key = (instance_id, task_id)
        timeout = deciding_timeouts.get(key)
        if timeout is not None and (closed_id is None or timeout < closed_id):
            closed_at = timeout_at[timeout]
        tasks_of[instance_id].append(FlowTask(step, opened_at, closed_at, tuple(snoozes.get(key, ()))))
    return [FinishedRequest(r[0], workflow_of[r[0]], r[2], r[3], tuple(tasks_of[r[0]])) for r in bounds]


async def span_facts(
    fetch: Fetch,
    period_start: datetime,
    period_end: datetime,
    *,
    first: datetime,
    as_of: datetime,
    workflows: Sequence[str] | None = None,
) -> list[SpanGroup]:
    """The tasks open at some moment of the period, grouped by where their opening and closing fall against the
    period's weeks (bot/engine/kpi_facts.py): one query for the whole period, its answer a few rows a week."""
    q = _Query()
    first_us, as_of_us = micros(first), micros(as_of)
    closed = f"CASE WHEN t.status = 'open' THEN NULL ELSE {_us('t.acted_at')} END"
    inner = (
        f"SELECT {_week('t.created_at')} AS ow, "
        f"CASE WHEN {_us('t.created_at')} >= {q(first_us)} THEN 1 ELSE 0 END AS of, "
        f"CASE WHEN {_us('t.created_at')} >= {q(as_of_us)} THEN 1 ELSE 0 END AS oe, "
        f"(({closed} + {_MONDAY_OFFSET}) / {_WEEK}) AS cw, "
        f"CASE WHEN {closed} >= {q(first_us)} THEN 1 ELSE 0 END AS cf, "
        f"CASE WHEN {closed} >= {q(as_of_us)} THEN 1 ELSE 0 END AS ce, "
        "CASE WHEN t.status <> 'open' AND t.status <> 'cancelled' THEN 1 ELSE 0 END AS decided "
        "FROM instances i JOIN tasks t ON t.instance_id = i.id "
        "WHERE i.id IN (SELECT f.instance_id FROM events f "
        f"WHERE f.kind IN ({q.many(_ENDS)}) AND f.at >= {q(period_start.timestamp())}"
        f"{_workflow_filter(q, 'f.workflow', workflows)} "
        f"UNION SELECT r.id FROM instances r WHERE r.status = 'running'{_workflow_filter(q, 'r.workflow', workflows)}) "
        f"AND i.created_at < {q(period_end.timestamp())} AND t.created_at < {q(period_end.timestamp())} "
        f"AND (t.status = 'open' OR t.acted_at >= {q(period_start.timestamp())})"
    )
    rows = await fetch(
        f"SELECT s.ow, s.of, s.oe, s.cw, s.cf, s.ce, s.decided, COUNT(*) FROM ({inner}) s "
        "GROUP BY s.ow, s.of, s.oe, s.cw, s.cf, s.ce, s.decided",
        q.params,
    )
    return [
        SpanGroup(
            (int(r[0]), bool(r[1]), bool(r[2])),
            None if r[3] is None else (int(r[3]), bool(r[4]), bool(r[5])),
            bool(r[6]),
            int(r[7]),
        )
        for r in rows
    ]
