"""The portable SQL that sums a report over its whole period (bot/engine/kpi_sums.py): counts, and each group of
durations joined into one text by the database, so that a few hundred rows come back for a year of history.

A finished request is summed from its report rows (bot/store/report_rows.py: one per request and per task, written
when it finished); a request still running, from its rows and events as before (they are few). What falls in the
period is what report_facts.py reads by chunks: a request by when it started or finished, a task by when it was
decided (its decision and a closing event in the period) or open now, a request's flow by its first end event.
Every time is whole microseconds (`ROUND(at * 1000000)` gives back a datetime's exact microseconds).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bot.engine.kpi_facts import FlowSums, SpanGroup, micros
from bot.engine.kpi_sums import KpiSums, QueueSums, RequestSteps, Spread, StepSums, spread_of
from bot.engine.kpis import CLOSING_TASK_EVENTS, COUNTED_EVENTS, EventCount, Period, week_start

from .report_facts import _MONDAY_OFFSET, _WEEK, _us, _week
from .reporting import _WEEK_SQL as _WEEK_SECONDS
from .reporting import _WEEK_ZERO, Fetch, _Query, _workflow_filter, rating_rows

__all__ = ["report_sums"]

_K = TypeVar("_K")
_RUNNING = "'running'"


def _clamped(expression: str) -> str:
    return f"CASE WHEN {expression} < 0 THEN 0 ELSE {expression} END"


def _spreads(groups: Mapping[_K, list[int]]) -> dict[_K, Spread]:
    return {key: spread_of(values) for key, values in groups.items() if values}


def _values(joined: str | None) -> list[int]:
    """The integers a group's joined text holds (the database's GROUP_CONCAT / STRING_AGG)."""
    return list(map(int, joined.split(","))) if joined else []


def _weeks_of(column: str) -> str:
    return f"(({column} + {_MONDAY_OFFSET}) / {_WEEK})"


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
    finished, started, requesters, cycles, week_cycles, all_cycles = await _requests(fetch, period, workflows, joined)
    steps, assignees, team_sums = await _tasks(fetch, period, as_of, workflows, teams or {}, joined)
    counts = await _counted_events(fetch, period, workflows)
    if not flow:
        return KpiSums(
            finished, started, requesters, cycles, week_cycles, all_cycles, steps, assignees, team_sums, counts
        )
    summed, costs = await _flow(fetch, period, workflows, rated_workflows)
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
        costs=costs,
        spans=await _spans(fetch, period, first=first, as_of=as_of, workflows=workflows),
        ratings=await rating_rows(fetch, _previous(period), period.end, workflows=workflows),
    )


def _previous(period: Period) -> datetime:
    return period.start - (period.end - period.start)


def _monday(moment: datetime) -> datetime:
    monday = week_start(moment)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def _running(q: _Query, workflows: Sequence[str] | None, *, alias: str = "i") -> str:
    """The condition that request `alias` is still running (instances_by_status)."""
    return f"{alias}.status = {_RUNNING}{_workflow_filter(q, f'{alias}.workflow', workflows)}"


_RequestSums = tuple[
    dict[tuple[str, str, int], int],
    dict[tuple[str, int], int],
    dict[str, tuple[int, int]],
    dict[str, Spread],
    dict[int, Spread],
    Spread | None,
]


async def _requests(fetch: Fetch, period: Period, workflows: Sequence[str] | None, joined: str) -> _RequestSums:
    """Requests started and finished in the period: counts by workflow, status and week, by requester, and the
    spread of the completed ones' cycle times by workflow, by week and over all (each group's joined)."""
    low, high = micros(period.start), micros(period.end)
    q = _Query()

    def began() -> str:  # each use puts its values in the text's order
        return f"r.created_us >= {q(low)} AND r.created_us < {q(high)}{_workflow_filter(q, 'r.workflow', workflows)}"

    def ended() -> str:
        return f"r.finished_us >= {q(low)} AND r.finished_us < {q(high)}{_workflow_filter(q, 'r.workflow', workflows)}"

    def live() -> str:
        return (
            f"{_running(q, workflows)} AND i.created_at >= {q(period.start.timestamp())} "
            f"AND i.created_at < {q(period.end.timestamp())}"
        )

    cycle = _clamped("r.finished_us - r.created_us")
    rows = await fetch(
        f"SELECT 'finished', r.workflow, r.status, {_weeks_of('r.finished_us')}, COUNT(*), NULL "
        f"FROM report_requests r WHERE {ended()} GROUP BY r.workflow, r.status, {_weeks_of('r.finished_us')} "
        f"UNION ALL SELECT 'started', r.workflow, NULL, {_weeks_of('r.created_us')}, COUNT(*), NULL "
        f"FROM report_requests r WHERE {began()} GROUP BY r.workflow, {_weeks_of('r.created_us')} "
        f"UNION ALL SELECT 'started', i.workflow, NULL, {_week('i.created_at')}, COUNT(*), NULL "
        f"FROM instances i WHERE {live()} GROUP BY i.workflow, {_week('i.created_at')} "
        "UNION ALL SELECT 'requester', s.requester, NULL, SUM(s.began), SUM(s.completed), NULL FROM ("
        f"SELECT r.requester, 1 AS began, CASE WHEN r.status = 'completed' AND r.finished_us >= {q(low)} "
        f"AND r.finished_us < {q(high)} THEN 1 ELSE 0 END AS completed FROM report_requests r WHERE {began()} "
        f"UNION ALL SELECT r.requester, 0, CASE WHEN r.status = 'completed' THEN 1 ELSE 0 END FROM report_requests r "
        f"WHERE {ended()} AND NOT (r.created_us >= {q(low)} AND r.created_us < {q(high)}) "
        f"UNION ALL SELECT i.requester, 1, 0 FROM instances i WHERE {live()}) s GROUP BY s.requester "
        f"UNION ALL SELECT 'cycle', r.workflow, NULL, {_weeks_of('r.finished_us')}, COUNT(*), "
        f"{joined}(CAST({cycle} AS TEXT), ',') FROM report_requests r WHERE {ended()} AND r.status = 'completed' "
        f"GROUP BY r.workflow, {_weeks_of('r.finished_us')}",
        q.params,
    )
    return await asyncio.to_thread(_request_sums, rows)


def _request_sums(rows: Sequence[Sequence[Any]]) -> _RequestSums:
    finished: dict[tuple[str, str, int], int] = {}
    started: dict[tuple[str, int], int] = defaultdict(int)
    requesters: dict[str, tuple[int, int]] = {}
    by_workflow: dict[str, list[int]] = defaultdict(list)
    by_week: dict[int, list[int]] = defaultdict(list)
    every: list[int] = []
    for part, name, status, number, value, other in rows:
        if part == "cycle":  # a workflow's week of completed requests: their cycle times joined
            values = _values(other)
            by_workflow[name] += values
            by_week[int(number)] += values
            every += values
        elif part == "finished":
            finished[(name, status, int(number))] = int(value)
        elif part == "started":  # the finished requests' and the running ones' of a week
            started[(name, int(number))] += int(value)
        else:  # began and completed in the period
            requesters[name] = (int(number or 0), int(value or 0))
    cycles, week_cycles = _spreads(by_workflow), _spreads(by_week)
    all_cycles = spread_of(every) if every else None
    return finished, dict(started), requesters, cycles, week_cycles, all_cycles


async def _counted_events(fetch: Fetch, period: Period, workflows: Sequence[str] | None) -> list[EventCount]:
    """The counted events of the period by workflow, step, kind and week (reporting._event_counts, the workflow
    each event carries rather than its request's: the same, written with it)."""
    q = _Query()
    week = _WEEK_SECONDS.format(column="e.at")
    rows = await fetch(
        f"SELECT e.workflow, t.step_id, e.kind, {week}, COUNT(*) FROM events e LEFT JOIN tasks t ON t.id = e.task_id "
        f"WHERE e.kind IN ({q.many(COUNTED_EVENTS)}) AND e.at >= {q(period.start.timestamp())} "
        f"AND e.at < {q(period.end.timestamp())}{_workflow_filter(q, 'e.workflow', workflows)} "
        f"GROUP BY e.workflow, t.step_id, e.kind, {week}",
        q.params,
    )
    return [EventCount(r[0], r[1], r[2], _WEEK_ZERO + timedelta(weeks=int(r[3])), int(r[4])) for r in rows]


def _live_tasks(q: _Query, period: Period, as_of: datetime, workflows: Sequence[str] | None) -> str:
    """The tasks decided in the period of the requests still running, and their tasks open now: one row each, with
    its workflow, step, whether open, how long it waited (0 while open), whether overdue at the as-of time."""
    low, high, as_of_us = micros(period.start), micros(period.end), micros(as_of)
    at = q(as_of_us)  # the first placeholder of the text: the values go in the order the text asks for them
    columns = (
        f"SELECT t.id AS task, i.workflow, t.step_id AS step, {{open}} AS is_open, {_us('t.created_at')} AS created, "
        f"{_us('t.acted_at')} AS closed, {_us('t.due_at')} AS due "
    )
    decided = (
        columns.format(open=0) + "FROM instances i JOIN tasks t ON t.instance_id = i.id "
        f"WHERE {_running(q, workflows)} AND t.status <> 'open' AND t.status <> 'cancelled' "
        f"AND t.acted_at IS NOT NULL AND {_us('t.acted_at')} >= {q(low)} AND {_us('t.acted_at')} < {q(high)} "
        "AND EXISTS (SELECT 1 FROM events e WHERE e.instance_id = t.instance_id AND e.task_id = t.id "
        f"AND e.kind IN ({q.many(CLOSING_TASK_EVENTS)}) AND e.at >= {q(period.start.timestamp())} "
        f"AND e.at < {q(period.end.timestamp())})"
    )
    still_open = (  # a request that finishes cancels its open tasks (bot/engine/builder.py): the running ones'
        columns.format(open=1) + "FROM instances i JOIN tasks t ON t.instance_id = i.id "
        f"WHERE {_running(q, workflows)} AND t.status = 'open' AND t.created_at < {q(period.end.timestamp())}"
    )
    return (
        f"SELECT r.task, r.workflow, r.step, r.is_open, r.due, "
        f"CASE WHEN r.is_open = 1 OR r.closed IS NULL THEN 0 ELSE {_clamped('r.closed - r.created')} END AS v, "
        "CASE WHEN r.due IS NULL THEN 0 WHEN (CASE WHEN r.closed IS NOT NULL AND r.is_open = 0 THEN r.closed "
        f"ELSE {at} END) > r.due THEN 1 ELSE 0 END AS overdue FROM ({decided} UNION ALL {still_open}) r"
    )


def _final_decided(q: _Query, period: Period, workflows: Sequence[str] | None) -> str:
    """The condition that a finished request's task `r` was decided in the period: its decision in it, and one of
    the closing events nearest the decision (report_rows.py)."""
    low, high = q(micros(period.start)), q(micros(period.end))
    return (
        f"r.acted_us >= {low} AND r.acted_us < {high} AND r.status <> 'open' AND r.status <> 'cancelled' "
        f"AND (r.closing_before_us >= {q(micros(period.start))} OR r.closing_after_us < {q(micros(period.end))})"
        + _workflow_filter(q, "r.workflow", workflows)
    )


async def _tasks(
    fetch: Fetch,
    period: Period,
    as_of: datetime,
    workflows: Sequence[str] | None,
    teams: Mapping[str, tuple[str, ...]],
    joined: str,
) -> tuple[list[StepSums], dict[str, QueueSums], dict[str, QueueSums]]:
    """Per step, per assignee and per manager's team (each task in some member's queue once): tasks, open, with a
    due time, overdue, and how long the decided ones waited. The finished requests' tasks come grouped by step and
    by their assignees (ids hold no comma: Slack's are letters and digits), the others one row each."""
    q = _Query()
    decided = _final_decided(q, period, workflows)
    waited = f"{joined}(CAST(r.waited_us AS TEXT), ',')"
    rows = list(
        await fetch(
            f"SELECT 'step', r.workflow, r.step_id, COUNT(*), 0, SUM(CASE WHEN r.due_us IS NULL THEN 0 ELSE 1 END), "
            f"SUM(r.late), {waited} FROM report_tasks r WHERE {decided} GROUP BY r.workflow, r.step_id",
            q.params,
        )
    )
    q = _Query()
    decided = _final_decided(q, period, workflows)
    rows += await fetch(
        f"SELECT 'queue', NULL, NULL, COUNT(*), 0, 0, SUM(r.late), {waited}, r.assignees FROM report_tasks r "
        f"WHERE {decided} GROUP BY r.assignees",
        q.params,
    )
    q = _Query()
    live = _live_tasks(q, period, as_of, workflows)
    rows += await fetch(
        f"WITH tk AS ({live}) SELECT 'task', workflow, step, v, is_open, overdue, due, "
        f"(SELECT {joined}(a.user_id, ',') FROM task_assignees a WHERE a.task_id = tk.task) FROM tk",
        q.params,
    )
    # a year of values is some pure Python: off the event loop, so that clicks get their ack meanwhile
    return await asyncio.to_thread(_queues, rows, teams)


def _queues(
    rows: Sequence[Sequence[Any]], teams: Mapping[str, tuple[str, ...]]
) -> tuple[list[StepSums], dict[str, QueueSums], dict[str, QueueSums]]:
    team_of: dict[str, list[str]] = defaultdict(list)
    for manager, members in teams.items():
        for member in dict.fromkeys(members):
            team_of[member].append(manager)
    steps: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tasks, open, with due, overdue
    times: dict[tuple[str, str], list[int]] = defaultdict(list)
    queues: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # open, overdue
    waits: dict[str, list[int]] = defaultdict(list)
    team_queues: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    team_waits: dict[str, list[int]] = defaultdict(list)

    def add(people: str | None, is_open: int, overdue: int, values: list[int]) -> None:
        persons = people.split(",") if people else ()
        managers = {manager for person in persons for manager in team_of.get(person, ())}
        for owner, queue_of, wait_of in [(p, queues, waits) for p in persons] + [
            (m, team_queues, team_waits) for m in managers
        ]:
            queue = queue_of[owner]
            queue[0] += is_open
            queue[1] += overdue
            wait_of[owner] += values

    for row in rows:
        part, workflow, step = row[0], row[1], row[2]
        if part == "step":  # a step's decided tasks of finished requests: counts, and their waits joined
            counts = steps[(workflow, step)]
            for index, value in enumerate(row[3:7]):
                counts[index] += int(value or 0)
            times[(workflow, step)] += _values(row[7])
        elif part == "queue":  # the same tasks by their assignees
            add(row[8], 0, int(row[6] or 0), _values(row[7]))
        else:  # one task of a running request, or open now
            value, is_open, overdue, due, people = row[3], int(row[4]), int(row[5]), row[6], row[7]
            counts = steps[(workflow, step)]
            counts[0] += 1
            counts[1] += is_open
            counts[2] += due is not None
            counts[3] += overdue
            add(people, is_open, overdue, [] if is_open else [int(value)])
            if not is_open:
                times[(workflow, step)].append(int(value))
    step_times, queue_waits, team_times = _spreads(times), _spreads(waits), _spreads(team_waits)
    return (
        [
            StepSums(workflow, step, tasks, open_now, with_due, late, step_times.get((workflow, step)))
            for (workflow, step), (tasks, open_now, with_due, late) in steps.items()
        ],
        {person: QueueSums(open_now, late, queue_waits.get(person)) for person, (open_now, late) in queues.items()},
        {
            manager: QueueSums(open_now, late, team_times.get(manager))
            for manager, (open_now, late) in team_queues.items()
        },
    )


async def _flow(
    fetch: Fetch, period: Period, workflows: Sequence[str] | None, rated_workflows: Collection[str]
) -> tuple[FlowSums, list[RequestSteps]]:
    """Touch and wait of the requests whose first end event is in the period, summed from their rows; and, of
    those in workflows with a cost per hour, each task's step and seconds in hand (their costs are floats, added
    in the order of the requests' numbers)."""
    q = _Query()
    low, high = q(micros(period.start)), q(micros(period.end))
    counted = (
        f"r.flow_finished_us >= {low} AND r.flow_finished_us < {high} AND r.flow_finished_us >= r.flow_started_us"
        + _workflow_filter(q, "r.workflow", workflows)
    )
    rows = await fetch(
        f"SELECT COUNT(*), SUM(r.touch_us), SUM(r.wait_us) FROM report_requests r WHERE {counted}", q.params
    )
    count, touch, wait = rows[0] if rows else (0, 0, 0)
    costs: list[RequestSteps] = []
    if rated_workflows:
        chosen = sorted(rated_workflows)
        if workflows is not None:
            chosen = [name for name in chosen if name in workflows]
        rated = await fetch(
            f"SELECT r.instance_id, r.workflow, r.flow_steps FROM report_requests r WHERE {counted} "
            f"AND r.workflow IN ({q.many(chosen) if chosen else 'NULL'}) ORDER BY r.instance_id",
            q.params,
        )
        for instance_id, workflow, steps in rated:
            costs.append(
                RequestSteps(int(instance_id), str(workflow), tuple((str(s), float(v)) for s, v in json.loads(steps)))
            )
    return FlowSums(int(count or 0), int(touch or 0), int(wait or 0)), costs


_SPAN_CLOSED = 100_000  # a span's key: (opening * this + closing + 1) * 2 + decided (week numbers are far below)


async def _spans(
    fetch: Fetch, period: Period, *, first: datetime, as_of: datetime, workflows: Sequence[str] | None
) -> list[SpanGroup]:
    """Tasks per week (report_facts.span_facts): the finished requests' tasks from their rows, the running ones'
    from theirs, grouped by where their opening and closing fall against the period's weeks. Each place is one
    number (its week * 4, + 2 at or after the first moment counted, + 1 at or after the as-of time), and a group's
    key one number too, so that the database sorts integers."""
    q = _Query()
    first_us, as_of_us, start_us, end_us = micros(first), micros(as_of), micros(period.start), micros(period.end)

    def place(us: str) -> str:
        return (
            f"({_weeks_of(us)} * 4 + CASE WHEN {us} >= {q(first_us)} THEN 2 ELSE 0 END "
            f"+ CASE WHEN {us} >= {q(as_of_us)} THEN 1 ELSE 0 END)"
        )

    def key(status: str, created: str, closed: str) -> str:
        return (
            f"(({place(created)} * {_SPAN_CLOSED} + CASE WHEN {status} = 'open' THEN 0 ELSE {place(closed)} + 1 END) "
            f"* 2 + CASE WHEN {status} <> 'open' AND {status} <> 'cancelled' THEN 1 ELSE 0 END)"
        )

    final = (
        f"SELECT {key('r.status', 'r.created_us', 'r.acted_us')} AS k FROM report_tasks r "
        f"WHERE r.request_end_us >= {q(start_us)} AND r.request_created_us < {q(end_us)} "
        f"AND r.created_us < {q(end_us)} AND (r.status = 'open' OR r.acted_us >= {q(start_us)})"
        + _workflow_filter(q, "r.workflow", workflows)
    )
    live = (
        f"SELECT {key('t.status', _us('t.created_at'), _us('t.acted_at'))} AS k "
        f"FROM instances i JOIN tasks t ON t.instance_id = i.id WHERE {_running(q, workflows)} "
        f"AND i.created_at < {q(period.end.timestamp())} AND t.created_at < {q(period.end.timestamp())} "
        f"AND (t.status = 'open' OR t.acted_at >= {q(period.start.timestamp())})"
    )
    rows = await fetch(f"SELECT s.k, COUNT(*) FROM ({final} UNION ALL {live}) s GROUP BY s.k", q.params)
    return [_span_group(int(k), int(count)) for k, count in rows]


def _span_group(key: int, tasks: int) -> SpanGroup:
    places, decided = divmod(key, 2)
    opened, closed = divmod(places, _SPAN_CLOSED)

    def moment(place: int) -> tuple[int, bool, bool]:
        week, flags = divmod(place, 4)
        return week, bool(flags & 2), bool(flags & 1)

    return SpanGroup(moment(opened), None if closed == 0 else moment(closed - 1), bool(decided), tasks)
