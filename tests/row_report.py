"""The row-based report that the figures aggregated in SQL replaced, kept as the oracle of the equivalence test
(tests/test_report_equivalence.py): every row of the period read and turned into datetimes, then the figures
computed over them (what bot/engine/kpis.py and flow.py did before)."""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.engine.flow import (
    CLOSES,
    ENDS,
    FLOW_DATA_EVENTS,
    FLOW_EVENTS,
    HANDED_ON,
    OPENS,
    SNOOZED,
    TIMEOUT,
    FlowFigures,
    Rates,
    TaskWeek,
)
from bot.engine.kpis import (
    CLOSING_TASK_EVENTS,
    COUNTED_EVENTS,
    FINISHING_EVENTS,
    AssigneeFigures,
    Durations,
    EventCount,
    Figures,
    KpiReport,
    Period,
    StepFigures,
    TeamFigures,
    WeekFigures,
    durations,
    micro_total,
    percentile,
    previous_start,
    week_start,
)
from bot.engine.purged import TASK_MEASURE, InstanceRow, PurgedTally, TaskRow
from bot.engine.satisfaction import RatingRow, satisfaction_figures
from bot.store import Store, UnitOfWork
from bot.store.reporting import Fetch, _event_counts, _maybe_dt, _Query, _workflow_filter, purged_tallies, rating_rows
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
        purged=tuple(await purged_tallies(fetch, since, until, workflows=workflows)),
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
    purged: list[PurgedTally] = []  # each day's tallies are read in the one chunk the day begins in
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
        purged.extend(rows.purged)
        start = end
    return KpiRows(
        instances=tuple(instances.values()),
        tasks=tuple(tasks.values()),
        counts=tuple(EventCount(*key, total) for key, total in counts.items()),
        flow_events=tuple(event for story in flows.values() for event in story),
        task_spans=tuple(spans.values()),
        ratings=tuple(ratings.values()),
        purged=tuple(purged),
    )


# ==== moved from bot/engine/kpis.py


def _durations(values: Sequence[float], *, purged: Iterable[PurgedTally] = ()) -> Durations:
    """As main's kpis.durations with retention: purged tallies add their count and seconds exactly, and stand in
    the percentiles as that many durations of their mean (here as that many copies)."""
    counted = sorted((tally for tally in purged if tally.count > 0), key=lambda t: (t.seconds / t.count, t.seconds))
    if not counted:
        return durations(values)
    standing_in = [tally.seconds / tally.count for tally in counted for _ in range(tally.count)]
    every = sorted([*values, *standing_in])
    total = micro_total([*values, *(tally.seconds for tally in counted)])
    return Durations(len(every), percentile(every, 50), percentile(every, 90), total)


@dataclass(frozen=True)
class KpiRows:
    instances: tuple[InstanceRow, ...] = ()
    tasks: tuple[TaskRow, ...] = ()
    counts: tuple[EventCount, ...] = ()
    flow_events: tuple[FlowEvent, ...] = ()  # every flow event of the requests that finished in the period
    task_spans: tuple[TaskSpan, ...] = ()  # every task open at some time of the period
    ratings: tuple[RatingRow, ...] = ()  # every rating given in the period and the one before (previous_start)
    purged: tuple[PurgedTally, ...] = ()  # what requests deleted for retention left behind (bot/retention.py)


def compute_kpis(
    rows: KpiRows,
    period: Period,
    *,
    now: datetime,
    teams: Mapping[str, tuple[str, ...]] | None = None,
    rates: Mapping[tuple[str, str], float] | None = None,
) -> KpiReport:
    """Every figure of a report from the rows of the period; `teams` maps a manager to their reports, `rates` a
    (workflow, step) to its cost per hour."""
    as_of = min(period.end, now)
    tasks = [task for task in rows.tasks if task.is_open or period.contains(task.closed_at)]
    purged = [tally for tally in rows.purged if period.contains(tally.starts)]
    weeks = _weeks(rows.instances, period, as_of, purged=purged)
    counts = [*rows.counts, *_purged_counts(purged)]
    by_workflow_instances: dict[str, list[InstanceRow]] = defaultdict(list)
    by_workflow_tasks: dict[str, list[TaskRow]] = defaultdict(list)
    by_workflow_counts: dict[str, list[EventCount]] = defaultdict(list)
    by_workflow_purged: dict[str, list[PurgedTally]] = defaultdict(list)
    for instance in rows.instances:
        by_workflow_instances[instance.workflow].append(instance)
    for task in tasks:
        by_workflow_tasks[task.workflow].append(task)
    for count in counts:
        by_workflow_counts[count.workflow].append(count)
    for tally in purged:
        by_workflow_purged[tally.workflow].append(tally)
    names = sorted({*by_workflow_instances, *by_workflow_tasks, *by_workflow_counts, *by_workflow_purged})
    workflows = {
        name: _figures(
            by_workflow_instances[name],
            by_workflow_tasks[name],
            by_workflow_counts[name],
            period,
            as_of,
            purged=by_workflow_purged[name],
        )
        for name in names
    }
    return KpiReport(
        period=period,
        as_of=as_of,
        total=_figures(rows.instances, tasks, counts, period, as_of, purged=purged),
        workflows=workflows,
        steps=_steps(tasks, counts, as_of, purged=purged),
        assignees=_assignees(tasks, as_of),
        teams=_teams(rows.instances, tasks, teams or {}, period, as_of),
        weeks=weeks,
        satisfaction=satisfaction_figures(rows.ratings, period.start, period.end, previous_start(period)),
        flow=flow_figures(request_flows(rows.flow_events, rates or {}), period.start, period.end),
        task_weeks=task_weeks(rows.task_spans, [week.week for week in weeks], period.start, as_of),
    )


def _purged_counts(purged: Iterable[PurgedTally]) -> list[EventCount]:
    """Counted events of purged requests, as the event log would have counted them (per ISO week)."""
    return [
        EventCount(tally.workflow, tally.step_id, tally.measure, _monday(tally.day), tally.count)
        for tally in purged
        if tally.measure in COUNTED_EVENTS
    ]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _cycle_seconds(instance: InstanceRow) -> float:
    assert instance.finished_at is not None
    return max(0.0, (instance.finished_at - instance.created_at).total_seconds())


def _figures(
    instances: Iterable[InstanceRow],
    tasks: Sequence[TaskRow],
    counts: Iterable[EventCount],
    period: Period,
    as_of: datetime,
    *,
    purged: Sequence[PurgedTally] = (),
) -> Figures:
    instances = list(instances)
    finished = [i for i in instances if period.contains(i.finished_at)]
    outcome = defaultdict(int, {status: sum(1 for i in finished if i.status == status) for status in _OUTCOMES})
    purged_by_measure: dict[str, list[PurgedTally]] = defaultdict(list)
    for tally in purged:
        purged_by_measure[tally.measure].append(tally)
        if tally.measure in _OUTCOMES:
            outcome[tally.measure] += tally.count
    decided = purged_by_measure[TASK_MEASURE]
    kinds: dict[str, int] = defaultdict(int)
    for count in counts:
        kinds[count.kind] += count.count
    with_due = [task for task in tasks if task.due_at is not None]
    return Figures(
        started=sum(1 for i in instances if period.contains(i.created_at))
        + sum(tally.count for tally in purged_by_measure["started"]),
        completed=outcome["completed"],
        rejected=outcome["rejected"],
        cancelled=outcome["cancelled"],
        failed=outcome["failed"],
        cycle_time=_durations(
            [_cycle_seconds(i) for i in finished if i.status == "completed"], purged=purged_by_measure["completed"]
        ),
        tasks=len(tasks) + sum(tally.count for tally in decided),
        tasks_with_due=len(with_due) + sum(tally.with_due for tally in decided),
        overdue=sum(1 for task in with_due if task.overdue(as_of)) + sum(tally.overdue for tally in decided),
        reminders=kinds["reminder_sent"],
        escalations=kinds["escalated"],
        delivery_failures=kinds["delivery_failed"],
        timeouts=kinds["task_timed_out"],
    )


_OUTCOMES = ("completed", "rejected", "cancelled", "failed")


def _steps(
    tasks: Sequence[TaskRow], counts: Iterable[EventCount], as_of: datetime, *, purged: Iterable[PurgedTally] = ()
) -> tuple[StepFigures, ...]:
    grouped: dict[tuple[str, str], list[TaskRow]] = defaultdict(list)
    for task in tasks:
        grouped[(task.workflow, task.step_id)].append(task)
    decided: dict[tuple[str, str], list[PurgedTally]] = defaultdict(list)
    for tally in purged:
        if tally.measure == TASK_MEASURE and tally.step_id is not None:
            decided[(tally.workflow, tally.step_id)].append(tally)
            grouped.setdefault((tally.workflow, tally.step_id), [])
    kinds: dict[tuple[str, str, str], int] = defaultdict(int)
    for count in counts:
        if count.step_id is not None:
            kinds[(count.workflow, count.step_id, count.kind)] += count.count
            grouped.setdefault((count.workflow, count.step_id), [])
    figures = []
    for (workflow, step_id), step_tasks in sorted(grouped.items()):
        with_due = [task for task in step_tasks if task.due_at is not None]
        tallies = decided[(workflow, step_id)]
        figures.append(
            StepFigures(
                workflow=workflow,
                step_id=step_id,
                time=_durations([task.waited for task in step_tasks if not task.is_open], purged=tallies),
                open_now=sum(1 for task in step_tasks if task.is_open),
                tasks_with_due=len(with_due) + sum(tally.with_due for tally in tallies),
                overdue=sum(1 for task in with_due if task.overdue(as_of)) + sum(tally.overdue for tally in tallies),
                reminders=kinds[(workflow, step_id, "reminder_sent")],
                escalations=kinds[(workflow, step_id, "escalated")],
                timeouts=kinds[(workflow, step_id, "task_timed_out")],
            )
        )
    return tuple(figures)


def _queue_figures(tasks: Sequence[TaskRow], as_of: datetime) -> tuple[Durations, int, int]:
    return (
        durations([task.waited for task in tasks if not task.is_open]),
        sum(1 for task in tasks if task.is_open),
        sum(1 for task in tasks if task.overdue(as_of)),
    )


def _assignees(tasks: Sequence[TaskRow], as_of: datetime) -> tuple[AssigneeFigures, ...]:
    queues: dict[str, list[TaskRow]] = defaultdict(list)
    for task in tasks:
        for person in task.assignees:
            queues[person].append(task)
    return tuple(AssigneeFigures(person, *_queue_figures(queue, as_of)) for person, queue in sorted(queues.items()))


def _teams(
    instances: Sequence[InstanceRow],
    tasks: Sequence[TaskRow],
    teams: Mapping[str, tuple[str, ...]],
    period: Period,
    as_of: datetime,
) -> tuple[TeamFigures, ...]:
    team_of: dict[str, list[str]] = defaultdict(list)  # one pass over the rows, whatever the number of teams
    for manager, members in teams.items():
        for member in members:
            team_of[member].append(manager)
    theirs: dict[str, list[InstanceRow]] = defaultdict(list)
    for instance in instances:
        for manager in team_of.get(instance.requester, ()):
            theirs[manager].append(instance)
    queues: dict[str, list[TaskRow]] = defaultdict(list)
    for task in tasks:
        for manager in {manager for person in task.assignees for manager in team_of.get(person, ())}:
            queues[manager].append(task)
    figures = []
    for manager, members in sorted(teams.items()):
        if not members:
            continue
        requests, queue = theirs[manager], queues[manager]
        figures.append(
            TeamFigures(
                manager=manager,
                members=tuple(members),
                started=sum(1 for i in requests if period.contains(i.created_at)),
                completed=sum(1 for i in requests if i.status == "completed" and period.contains(i.finished_at)),
                waiting=_queue_figures(queue, as_of)[0],
                open_now=sum(1 for task in queue if task.is_open),
                overdue=sum(1 for task in queue if task.overdue(as_of)),
            )
        )
    return tuple(figures)


def _weeks(
    instances: Sequence[InstanceRow], period: Period, as_of: datetime, *, purged: Iterable[PurgedTally] = ()
) -> tuple[WeekFigures, ...]:
    started: dict[date, int] = defaultdict(int)
    outcomes: dict[tuple[date, str], int] = defaultdict(int)
    cycles: dict[date, list[float]] = defaultdict(list)
    purged_cycles: dict[date, list[PurgedTally]] = defaultdict(list)
    for tally in purged:
        monday = _monday(tally.day)
        if tally.measure == "started":
            started[monday] += tally.count
        elif tally.measure in _OUTCOMES:
            outcomes[(monday, tally.measure)] += tally.count
            if tally.measure == "completed":
                purged_cycles[monday].append(tally)
    for instance in instances:
        if period.contains(instance.created_at):
            started[week_start(instance.created_at)] += 1
        if period.contains(instance.finished_at):
            assert instance.finished_at is not None
            week = week_start(instance.finished_at)
            outcomes[(week, instance.status)] += 1
            if instance.status == "completed":
                cycles[week].append(_cycle_seconds(instance))
    weeks = []
    monday, last = week_start(period.start), week_start(max(period.start, as_of - timedelta(microseconds=1)))
    while monday <= last:
        weeks.append(
            WeekFigures(
                week=monday,
                started=started[monday],
                completed=outcomes[(monday, "completed")],
                rejected=outcomes[(monday, "rejected")],
                cancelled=outcomes[(monday, "cancelled")],
                cycle_time=_durations(cycles[monday], purged=purged_cycles[monday]),
            )
        )
        monday += timedelta(days=7)
    return tuple(weeks)


# ==== moved from bot/engine/flow.py


@dataclass(frozen=True)
class FlowEvent:
    """One event of a request's life, as the flow figures need it."""

    instance_id: int
    workflow: str
    kind: str
    at: datetime
    task_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestFlow:
    """One finished request: its cycle, the part of it some task was in someone's hands, and what that cost."""

    instance_id: int
    workflow: str
    finished_at: datetime
    cycle_us: int  # microseconds from start to finish
    touch_us: int  # microseconds with at least one task open and not snoozed
    cost: float  # the sum over its tasks of (hours in someone's hands × the step's cost per hour)
    costed: bool  # whether any of its tasks had a cost per hour

    @property
    def cycle(self) -> float:
        return self.cycle_us / 1_000_000

    @property
    def touch(self) -> float:
        return self.touch_us / 1_000_000

    @property
    def wait_us(self) -> int:
        return max(0, self.cycle_us - self.touch_us)

    @property
    def wait(self) -> float:
        return self.wait_us / 1_000_000

    @property
    def efficiency(self) -> float | None:
        """touch / (touch + wait); None for a request that ended the moment it started."""
        return self.touch / self.cycle if self.cycle > 0 else None


@dataclass(frozen=True)
class TaskSpan:
    """A task's life: when it opened, when it closed (None while open), whether it closed by a decision."""

    task_id: str
    workflow: str
    opened_at: datetime
    closed_at: datetime | None
    decided: bool


def request_flows(events: Iterable[FlowEvent], rates: Rates) -> list[RequestFlow]:
    """Every finished request among the events (each request's events in the order they were written)."""
    by_instance: dict[int, list[FlowEvent]] = defaultdict(list)
    for event in events:
        by_instance[event.instance_id].append(event)
    flows = []
    for instance_id, lines in sorted(by_instance.items()):
        flow = _request_flow(instance_id, lines, rates)
        if flow is not None:
            flows.append(flow)
    return flows


def flow_figures(flows: Iterable[RequestFlow], start: datetime, end: datetime) -> FlowFigures:
    """The sums over the requests that finished in [start, end)."""
    counted = [flow for flow in flows if start <= flow.finished_at < end]
    return FlowFigures(
        requests=len(counted),
        touch=sum(flow.touch_us for flow in counted) / 1_000_000,  # whole microseconds summed, then divided
        wait=sum(flow.wait_us for flow in counted) / 1_000_000,
        cost=sum(flow.cost for flow in counted),
        costed=sum(1 for flow in counted if flow.costed),
    )


Interval = tuple[datetime, datetime]


def _request_flow(instance_id: int, lines: Sequence[FlowEvent], rates: Rates) -> RequestFlow | None:
    started = next((e.at for e in lines if e.kind == "instance_started"), None)
    finished = next((e.at for e in lines if e.kind in ENDS), None)
    if started is None or finished is None or finished < started:
        return None
    workflow = lines[0].workflow
    opened: dict[str, datetime] = {}
    steps: dict[str, str] = {}
    closed: dict[str, datetime] = {}
    snoozes: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for event in lines:
        task = event.task_id
        if task is None:
            continue
        if event.kind in OPENS and task not in opened:
            opened[task] = event.at
            steps[task] = str(event.data.get("step") or "")
        elif task not in closed and (
            event.kind in CLOSES or (event.kind == TIMEOUT and event.data.get("action") in ("approve", "reject"))
        ):
            closed[task] = event.at
        elif event.kind == SNOOZED:
            snoozes[task].append((event.at, _until(event.data.get("until"), event.at)))
        elif event.kind == HANDED_ON:
            snoozes[task].append((event.at, event.at))  # ends an earlier snooze, snoozes nothing itself
    active: list[Interval] = []
    cost, costed = 0.0, False
    for task, start in opened.items():
        end = min(closed.get(task, finished), finished)
        pieces = _minus(_clip((start, end), started, finished), _snoozed(snoozes.get(task, []), end))
        active.extend(pieces)
        rate = rates.get((workflow, steps[task]))
        if rate is not None:
            costed = True
            cost += rate * sum(_seconds(piece) for piece in pieces) / 3600.0
    return RequestFlow(
        instance_id=instance_id,
        workflow=workflow,
        finished_at=finished,
        cycle_us=_micros((started, finished)),
        touch_us=sum(_micros(piece) for piece in _union(active)),
        cost=cost,
        costed=costed,
    )


def _until(value: Any, at: datetime) -> datetime:
    try:
        until = datetime.fromisoformat(str(value))
    except ValueError:
        return at
    return until if until.tzinfo is not None else at


def _snoozed(snoozes: list[tuple[datetime, datetime]], end: datetime) -> list[Interval]:
    """The windows a task was snoozed: each snooze lasts until its time, the next snooze or hand-over, or the end."""
    ordered = sorted(snoozes)
    windows = []
    for index, (start, until) in enumerate(ordered):
        stop = min(until, end, *(later for later, _ in ordered[index + 1 :]))
        if stop > start:
            windows.append((start, stop))
    return windows


def _clip(interval: Interval, low: datetime, high: datetime) -> Interval:
    return max(interval[0], low), min(interval[1], high)


def _minus(interval: Interval, holes: Sequence[Interval]) -> list[Interval]:
    pieces = [interval] if interval[1] > interval[0] else []
    for hole_start, hole_end in holes:
        rest = []
        for start, end in pieces:
            if hole_end <= start or hole_start >= end:
                rest.append((start, end))
                continue
            if hole_start > start:
                rest.append((start, hole_start))
            if hole_end < end:
                rest.append((hole_end, end))
        pieces = rest
    return pieces


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _seconds(interval: Interval) -> float:
    return max(0.0, (interval[1] - interval[0]).total_seconds())


def _micros(interval: Interval) -> int:
    return max(0, (interval[1] - interval[0]) // timedelta(microseconds=1))


def task_weeks(
    spans: Iterable[TaskSpan], weeks: Sequence[date], start: datetime, as_of: datetime
) -> tuple[TaskWeek, ...]:
    """For each ISO week (its Monday, UTC) of the period [start, as_of): tasks opened, decided, open at its end.

    One pass over the tasks, whatever the number of weeks: each task adds to the week it opened in, the week it
    was decided in, and (by a running sum) to every week whose end it was open at."""
    if not weeks:
        return ()
    ends = [min(as_of, datetime(m.year, m.month, m.day, tzinfo=UTC) + timedelta(days=7)) for m in weeks]
    first = max(start, datetime(weeks[0].year, weeks[0].month, weeks[0].day, tzinfo=UTC))
    opened, decided, open_change = [0] * len(weeks), [0] * len(weeks), [0] * (len(weeks) + 1)
    for span in spans:
        if first <= span.opened_at < ends[-1]:
            opened[bisect_right(ends, span.opened_at)] += 1
        closed = span.closed_at
        if span.decided and closed is not None and first <= closed < ends[-1]:
            decided[bisect_right(ends, closed)] += 1
        # open at the end E of a week when opened before E and not closed before E
        since_week = bisect_right(ends, span.opened_at)
        until_week = len(weeks) if closed is None else bisect_right(ends, closed)
        if since_week < until_week:
            open_change[since_week] += 1
            open_change[until_week] -= 1
    figures, still_open = [], 0
    for index, monday in enumerate(weeks):
        still_open += open_change[index]
        figures.append(TaskWeek(monday, opened=opened[index], decided=decided[index], open_at_end=still_open))
    return tuple(figures)
