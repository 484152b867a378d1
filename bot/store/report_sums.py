"""The portable SQL that sums a report over its whole period (bot/engine/kpi_sums.py): counts, and each group of
durations ranked by a window function, so that a few hundred rows come back for a year of history.

A task, a request and its flow fall in the period as in report_facts.py (there by chunks): a request by when it
started or finished, a task by when it was decided (a closing event and its decision in the period) or open now.
Every time is whole microseconds (`ROUND(at * 1000000)` gives back a datetime's exact microseconds). A request's
flow is summed here when its tasks were plainly open from their first opening to their first closing (the earliest
of each, by time); those with a snooze, a hand-over or a deadline, and those of workflows with a cost per hour,
come back as facts (report_facts.flow_facts) for the engine to walk through.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.engine.flow import CLOSES, HANDED_ON, OPENS, SNOOZED, TIMEOUT
from bot.engine.kpi_facts import FinishedRequest, FlowSums, micros
from bot.engine.kpi_sums import KpiSums, QueueSums, Spread, StepSums, spread_of
from bot.engine.kpis import CLOSING_TASK_EVENTS, FINISHING_EVENTS, Period, week_start

from .report_facts import _MONDAY_OFFSET, _WEEK, _us, flow_facts, span_facts
from .reporting import Fetch, _event_counts, _Query, _workflow_filter, rating_rows

__all__ = ["report_sums"]

_ENDS = FINISHING_EVENTS[1:]
_SPECIAL = (TIMEOUT, SNOOZED, HANDED_ON)
_BATCH = 500  # request numbers per flow_facts call
_K = TypeVar("_K")


def _clamped(expression: str) -> str:
    return f"CASE WHEN {expression} < 0 THEN 0 ELSE {expression} END"


def _spreads(groups: Mapping[_K, list[int]]) -> dict[_K, Spread]:
    return {key: spread_of(values) for key, values in groups.items()}


async def report_sums(
    fetch: Fetch,
    period: Period,
    *,
    now: datetime,
    workflows: Sequence[str] | None = None,
    teams: Mapping[str, tuple[str, ...]] | None = None,
    rated_workflows: Collection[str] = (),
    flow: bool = True,
    joined: str = "GROUP_CONCAT",
) -> KpiSums:
    """The sums of a report of `period` over `workflows` (None: all), in a handful of statements; without `flow`,
    none of flow, tasks per week and ratings (the Home's and the map's figures need none). `joined` is the
    database's aggregate that joins texts (bot/store/dialect.py)."""
    as_of = min(period.end, now)
    finished, started, requesters, cycles, week_cycles, all_cycles = await _requests(fetch, period, workflows)
    steps, assignees, team_sums = await _tasks(fetch, period, as_of, workflows, teams or {}, joined)
    counts = await _event_counts(fetch, period.start, period.end, workflows)
    if not flow:
        return KpiSums(
            finished, started, requesters, cycles, week_cycles, all_cycles, steps, assignees, team_sums, counts
        )
    summed, special = await _flow(fetch, period, workflows, rated_workflows)
    requests: list[FinishedRequest] = []
    for offset in range(0, len(special), _BATCH):
        requests += await flow_facts(
            fetch,
            period.start,
            period.end,
            workflows=workflows,
            rated_workflows=rated_workflows,
            among=special[offset : offset + _BATCH],
        )
    first = max(period.start, _monday(period.start))
    return KpiSums(
        finished=finished,
        started=started,
        requesters=requesters,
        cycles=cycles,
        week_cycles=week_cycles,
        all_cycles=all_cycles,
        steps=steps,
        assignees=assignees,
        teams=team_sums,
        counts=counts,
        flow=summed,
        requests=requests,
        spans=await span_facts(fetch, period.start, period.end, first=first, as_of=as_of, workflows=workflows),
        ratings=await rating_rows(fetch, _previous(period), period.end, workflows=workflows),
    )


def _previous(period: Period) -> datetime:
    return period.start - (period.end - period.start)


def _monday(moment: datetime) -> datetime:
    monday = week_start(moment)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


_RequestSums = tuple[
    dict[tuple[str, str, int], int],
    dict[tuple[str, int], int],
    dict[str, tuple[int, int]],
    dict[str, Spread],
    dict[int, Spread],
    Spread | None,
]


async def _requests(fetch: Fetch, period: Period, workflows: Sequence[str] | None) -> _RequestSums:
    """Requests started and finished in the period: counts by workflow, status and week, by requester, and the
    spread of the completed ones' cycle times by workflow, by week and over all."""
    low, high = micros(period.start), micros(period.end)
    q = _Query()
    chosen = (
        "WITH chosen AS MATERIALIZED (SELECT c.workflow, c.requester, c.status, c.created, c.finished, "
        f"CASE WHEN c.created >= {q(low)} AND c.created < {q(high)} THEN 1 ELSE 0 END AS began, "
        f"CASE WHEN c.finished >= {q(low)} AND c.finished < {q(high)} THEN 1 ELSE 0 END AS ended "
        f"FROM (SELECT i.workflow, i.requester, i.status, {_us('i.created_at')} AS created, "
        f"{_us('i.finished_at')} AS finished FROM instances i WHERE {_with_event(q, period, workflows)}"
        f"{_workflow_filter(q, 'i.workflow', workflows)}) c), "
        "cycles AS (SELECT workflow, "
        f"((finished + {_MONDAY_OFFSET}) / {_WEEK}) AS week, {_clamped('finished - created')} AS v "
        "FROM chosen WHERE ended = 1 AND status = 'completed') "
    )
    week = f"((finished + {_MONDAY_OFFSET}) / {_WEEK})"
    rows = await fetch(
        chosen + f"SELECT 'finished', workflow, status, {week}, COUNT(*), 0 "
        f"FROM chosen WHERE ended = 1 GROUP BY workflow, status, {week} "
        f"UNION ALL SELECT 'started', workflow, NULL, ((created + {_MONDAY_OFFSET}) / {_WEEK}), COUNT(*), 0 "
        f"FROM chosen WHERE began = 1 GROUP BY workflow, ((created + {_MONDAY_OFFSET}) / {_WEEK}) "
        "UNION ALL SELECT 'requester', requester, NULL, NULL, SUM(began), "
        "SUM(CASE WHEN status = 'completed' THEN ended ELSE 0 END) FROM chosen GROUP BY requester "
        "UNION ALL SELECT 'cycle', workflow, NULL, week, v, 0 FROM cycles",
        q.params,
    )
    return await asyncio.to_thread(_request_sums, rows)


def _request_sums(rows: Sequence[Sequence[Any]]) -> _RequestSums:
    finished: dict[tuple[str, str, int], int] = {}
    started: dict[tuple[str, int], int] = {}
    requesters: dict[str, tuple[int, int]] = {}
    by_workflow: dict[str, list[int]] = defaultdict(list)
    by_week: dict[int, list[int]] = defaultdict(list)
    every: list[int] = []
    for part, name, status, number, value, other in rows:
        if part == "cycle":  # the most rows: one per completed request
            by_workflow[name].append(value)
            by_week[number].append(value)
            every.append(value)
        elif part == "finished":
            finished[(name, status, int(number))] = int(value)
        elif part == "started":
            started[(name, int(number))] = int(value)
        else:
            requesters[name] = (int(value or 0), int(other or 0))
    cycles, week_cycles = _spreads(by_workflow), _spreads(by_week)
    all_cycles = spread_of(every) if every else None
    return finished, started, requesters, cycles, week_cycles, all_cycles


def _with_event(q: _Query, period: Period, workflows: Sequence[str] | None) -> str:
    """The condition that a request `i` has a start or end event in the period: for every workflow, each
    request's own events (by its index), else through the few workflows' events (events_by_workflow)."""
    kinds, since, until = FINISHING_EVENTS, period.start.timestamp(), period.end.timestamp()
    if workflows is None:
        return (
            f"EXISTS (SELECT 1 FROM events e WHERE e.instance_id = i.id AND e.kind IN ({q.many(kinds)}) "
            f"AND e.at >= {q(since)} AND e.at < {q(until)})"
        )
    return (
        f"i.id IN (SELECT e.instance_id FROM events e WHERE e.kind IN ({q.many(kinds)}) AND e.at >= {q(since)} "
        f"AND e.at < {q(until)}{_workflow_filter(q, 'e.workflow', workflows)})"
    )


def _report_tasks(q: _Query, period: Period, as_of: datetime, workflows: Sequence[str] | None) -> str:
    """The CTE `tk` of the tasks decided in the period or open now: their workflow, step, whether open, how long
    they waited (0 while open) and whether they were overdue at the as-of time."""
    low, high, as_of_us = micros(period.start), micros(period.end), micros(as_of)
    at = q(as_of_us)  # the first placeholder of the text: the values go in the order the text asks for them
    columns = (
        f"SELECT t.id AS task, i.workflow, t.step_id AS step, {{open}} AS is_open, {_us('t.created_at')} AS created, "
        f"{_us('t.acted_at')} AS closed, {_us('t.due_at')} AS due "
    )
    if workflows is None:  # every task: through the tasks in order, each one's events by the request's index
        closing = (
            "FROM tasks t CROSS JOIN instances i WHERE i.id = t.instance_id AND EXISTS (SELECT 1 FROM events e "
            f"WHERE e.instance_id = t.instance_id AND e.task_id = t.id AND e.kind IN ({q.many(CLOSING_TASK_EVENTS)}) "
            f"AND e.at >= {q(period.start.timestamp())} AND e.at < {q(period.end.timestamp())}) "
        )
    else:  # a few workflows: through their closing events (events_by_workflow)
        closing = (
            "FROM tasks t JOIN instances i ON i.id = t.instance_id "
            f"WHERE t.id IN (SELECT e.task_id FROM events e WHERE e.kind IN ({q.many(CLOSING_TASK_EVENTS)}) "
            f"AND e.at >= {q(period.start.timestamp())} AND e.at < {q(period.end.timestamp())}"
            f"{_workflow_filter(q, 'e.workflow', workflows)}) "
        )
    decided = (
        columns.format(open=0)
        + closing
        + "AND t.status <> 'open' AND t.status <> 'cancelled' AND t.acted_at IS NOT NULL "
        f"AND {_us('t.acted_at')} >= {q(low)} AND {_us('t.acted_at')} < {q(high)}"
        + _workflow_filter(q, "i.workflow", workflows)
    )
    still_open = (
        columns.format(open=1) + "FROM instances i JOIN tasks t ON t.instance_id = i.id "
        f"WHERE t.status = 'open' AND t.created_at < {q(period.end.timestamp())}"
        + _workflow_filter(q, "i.workflow", workflows)
    )
    return (
        f"tk AS MATERIALIZED (SELECT r.task, r.workflow, r.step, r.is_open, r.due, "
        f"CASE WHEN r.is_open = 1 OR r.closed IS NULL THEN 0 ELSE {_clamped('r.closed - r.created')} END AS v, "
        "CASE WHEN r.due IS NULL THEN 0 WHEN (CASE WHEN r.closed IS NOT NULL AND r.is_open = 0 THEN r.closed "
        f"ELSE {at} END) > r.due THEN 1 ELSE 0 END AS overdue FROM ({decided} UNION ALL {still_open}) r)"
    )


async def _tasks(
    fetch: Fetch,
    period: Period,
    as_of: datetime,
    workflows: Sequence[str] | None,
    teams: Mapping[str, tuple[str, ...]],
    joined: str,
) -> tuple[list[StepSums], dict[str, QueueSums], dict[str, QueueSums]]:
    """Per step (counted by the database), per assignee and per manager's team (each task in some member's queue
    once): tasks, open, with a due time, overdue, and how long the decided ones waited. A task comes back once,
    with its assignees (ids hold no comma: Slack's are letters and digits), for the queues."""
    q = _Query()
    tk = _report_tasks(q, period, as_of, workflows)
    rows = await fetch(
        f"WITH {tk} SELECT 'step', workflow, step, COUNT(*), SUM(is_open), "
        "SUM(CASE WHEN due IS NULL THEN 0 ELSE 1 END), SUM(overdue), NULL FROM tk GROUP BY workflow, step "
        f"UNION ALL SELECT 'task', workflow, step, v, is_open, overdue, 0, (SELECT {joined}(a.user_id, ',') "
        "FROM task_assignees a WHERE a.task_id = tk.task) FROM tk",
        q.params,
    )
    # a year of rows is some pure Python: off the event loop, so that clicks get their ack meanwhile
    return await asyncio.to_thread(_queues, rows, teams)


def _queues(
    rows: Sequence[Sequence[Any]], teams: Mapping[str, tuple[str, ...]]
) -> tuple[list[StepSums], dict[str, QueueSums], dict[str, QueueSums]]:
    team_of: dict[str, list[str]] = defaultdict(list)
    for manager, members in teams.items():
        for member in dict.fromkeys(members):
            team_of[member].append(manager)
    steps: dict[tuple[str, str], tuple[int, int, int, int]] = {}
    times: dict[tuple[str, str], list[int]] = defaultdict(list)
    queues: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # open, overdue
    waits: dict[str, list[int]] = defaultdict(list)
    team_queues: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    team_waits: dict[str, list[int]] = defaultdict(list)
    for part, workflow, step, value, is_open, overdue, step_overdue, people in rows:
        if part == "step":  # value: its tasks; then how many are open, have a due time (here) and are overdue
            steps[(workflow, step)] = (int(value), int(is_open), int(overdue), int(step_overdue))
            continue
        persons = people.split(",") if people else ()
        managers = {manager for person in persons for manager in team_of.get(person, ())}
        for owner, queue_of, wait_of in [(p, queues, waits) for p in persons] + [
            (m, team_queues, team_waits) for m in managers
        ]:
            queue = queue_of[owner]
            queue[0] += is_open
            queue[1] += overdue
            if not is_open:
                wait_of[owner].append(value)
        if not is_open:
            times[(workflow, step)].append(value)
    step_times, queue_waits, team_times = _spreads(times), _spreads(waits), _spreads(team_waits)
    return (
        [
            StepSums(workflow, step, *counts, step_times.get((workflow, step)))
            for (workflow, step), counts in steps.items()
        ],
        {person: QueueSums(open_now, late, queue_waits.get(person)) for person, (open_now, late) in queues.items()},
        {
            manager: QueueSums(open_now, late, team_times.get(manager))
            for manager, (open_now, late) in team_queues.items()
        },
    )


async def _flow(
    fetch: Fetch, period: Period, workflows: Sequence[str] | None, rated_workflows: Collection[str]
) -> tuple[FlowSums, list[int]]:
    """Touch and wait of the requests that finished in the period, summed where their tasks were plainly open
    (the union of their intervals, gaps and islands); the numbers of the others."""
    low, high = micros(period.start), micros(period.end)
    q = _Query()
    if workflows is None:  # every request: one pass in the order of each request's events (events_by_task)
        ended, among = "", ""
    else:  # a few workflows' requests: those with an end event in the period (events_by_workflow)
        ended = (
            "ended AS MATERIALIZED (SELECT DISTINCT f.instance_id AS i FROM events f "
            f"WHERE f.kind IN ({q.many(_ENDS)}) AND f.at >= {q(period.start.timestamp())} "
            f"AND f.at < {q(period.end.timestamp())}{_workflow_filter(q, 'f.workflow', workflows)}), "
        )
        among = "e.instance_id IN (SELECT i FROM ended) AND "
    opens, closes, special = q.many(OPENS), q.many(CLOSES), q.many(_SPECIAL)
    every = q.many((*OPENS, *CLOSES, *_SPECIAL))
    tasks = (
        f"iv AS MATERIALIZED (SELECT e.instance_id AS i, MIN(CASE WHEN e.kind IN ({opens}) THEN e.at END) AS o, "
        f"MIN(CASE WHEN e.kind IN ({closes}) THEN e.at END) AS c, "
        f"SUM(CASE WHEN e.kind IN ({special}) THEN 1 ELSE 0 END) AS sp FROM events e "
        f"WHERE {among}e.task_id IS NOT NULL AND e.kind IN ({every}) "
        f"GROUP BY e.instance_id, e.task_id)"
    )
    started, ends = q(FINISHING_EVENTS[0]), q.many(_ENDS)
    bounds = (  # each request's first start and first end
        f"b AS MATERIALIZED (SELECT e.instance_id AS i, "
        f"{_us(f'MIN(CASE WHEN e.kind = {started} THEN e.at END)')} AS s, "
        f"{_us(f'MIN(CASE WHEN e.kind IN ({ends}) THEN e.at END)')} AS f FROM events e "
        f"WHERE {among}e.kind IN ({q.many(FINISHING_EVENTS)}) "
        "GROUP BY e.instance_id)"
    )
    counted = (  # those that count: their end in the period, not before their start
        "cb AS MATERIALIZED (SELECT b.i, i.workflow, b.s, b.f FROM b JOIN instances i ON i.id = b.i "
        f"WHERE b.s IS NOT NULL AND b.f IS NOT NULL AND b.f >= b.s AND b.f >= {q(low)} AND b.f < {q(high)})"
    )
    rated = f" AND cb.workflow NOT IN ({q.many(sorted(rated_workflows))})" if rated_workflows else ""
    whole = (  # the requests summed here: no deadline, snooze or hand-over on any task, no cost per hour
        "plain AS MATERIALIZED (SELECT cb.i, cb.s, cb.f FROM cb "
        f"WHERE cb.i NOT IN (SELECT iv.i FROM iv WHERE iv.sp > 0){rated})"
    )
    pieces = (  # each task's interval within its request, if any: from max(opened, started) to min(closed, end)
        f"x AS MATERIALIZED (SELECT cb.i, cb.s, cb.f, CASE WHEN {_us('iv.o')} > cb.s THEN {_us('iv.o')} ELSE cb.s END "
        f"AS lo, CASE WHEN iv.c IS NOT NULL AND {_us('iv.c')} < cb.f THEN {_us('iv.c')} ELSE cb.f END AS hi "
        "FROM iv CROSS JOIN cb WHERE cb.i = iv.i AND iv.o IS NOT NULL AND iv.i IN (SELECT i FROM plain))"
    )
    islands = (  # a request's touch: the length of the union of its intervals. Of one or two, their lengths less
        # their overlap; of more, gaps and islands: each interval adds what reaches past the earlier ones' end
        "per AS MATERIALIZED (SELECT i, MIN(s) AS s, MIN(f) AS f, COUNT(*) AS n, SUM(hi - lo) AS length, "
        "MIN(hi) AS first_end, MAX(lo) AS last_start FROM x WHERE hi > lo GROUP BY i), "
        "y AS (SELECT i, s, f, lo, hi, MAX(hi) OVER (PARTITION BY i ORDER BY lo, hi "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach FROM x "
        "WHERE hi > lo AND i IN (SELECT i FROM per WHERE n > 2)), "
        "touch AS (SELECT s, f, length - CASE WHEN n = 2 AND first_end > last_start THEN first_end - last_start "
        "ELSE 0 END AS us FROM per WHERE n <= 2 "
        "UNION ALL SELECT MIN(s), MIN(f), SUM(CASE WHEN reach IS NULL OR reach < lo THEN hi - lo "
        "WHEN reach < hi THEN hi - reach ELSE 0 END) FROM y GROUP BY i)"
    )
    rows = await fetch(
        f"WITH {ended}{tasks}, {bounds}, {counted}, {whole}, {pieces}, {islands} "
        "SELECT 'touched', COUNT(*), SUM(us), SUM(CASE WHEN f - s - us > 0 THEN f - s - us ELSE 0 END) FROM touch "
        "UNION ALL SELECT 'untouched', COUNT(*), 0, SUM(f - s) FROM plain WHERE i NOT IN (SELECT i FROM per) "
        "UNION ALL SELECT 'other', cb.i, 0, 0 FROM cb WHERE cb.i NOT IN (SELECT i FROM plain)",
        q.params,
    )
    sums = FlowSums()
    others: list[int] = []
    for part, number, touch, wait in rows:
        if part == "other":
            others.append(int(number))
        else:  # the requests with some task in hand, and those with none (all of their cycle waiting)
            sums = FlowSums(sums.requests + int(number), sums.touch + int(touch or 0), sums.wait + int(wait or 0))
    return sums, sorted(others)
