"""A report's figures from the compact facts the store aggregates in SQL: counts per group, durations as numbers,
task intervals per finished request and tasks per week, every time in whole microseconds since the epoch.

The arithmetic is that of the row-based report it replaced (kept in tests/row_report.py, whose figures an
equivalence test compares): medians, overdue, flow efficiency, tasks per week, done on integers. A stored time
is the epoch seconds of a datetime, so its microseconds are exact; a duration becomes seconds only as a figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from .flow import FlowFigures, Rates, TaskWeek
from .kpis import (
    COUNTED_EVENTS,
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
    previous_start,
    week_start,
)
from .purged import OUTCOMES, TASK_MEASURE, PurgedTally
from .satisfaction import RatingRow, satisfaction_figures

__all__ = [
    "FinishedRequest",
    "FlowTask",
    "KpiFacts",
    "SpanGroup",
    "StepSeconds",
    "TaskFact",
    "compute_report",
    "micros",
    "snooze_until",
    "step_event_counts",
    "task_weeks",
    "FlowSums",
    "flow_figures",
    "flow_sums",
    "monday_of",
    "request_cost",
    "request_flow",
    "week_number",
]

MICROS = 1_000_000
_DAY = 86_400 * MICROS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK_ZERO = date(1969, 12, 29)  # the Monday of the epoch's ISO week: week 0


def micros(moment: datetime) -> int:
    """A moment as whole microseconds since the epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def snooze_until(value: object, at: int) -> int:
    """When a snooze written at `at` ends: its `until` (an ISO time with its offset), else at once."""
    try:
        until = datetime.fromisoformat(str(value))
    except ValueError:
        return at
    return micros(until) if until.tzinfo is not None else at


def week_number(us: int) -> int:
    """The ISO week (counted from week 0, Monday 1969-12-29, UTC) a moment falls in."""
    return (us // _DAY + 3) // 7


def monday_of(week: int) -> date:
    return _WEEK_ZERO + timedelta(weeks=week)


class TaskFact(NamedTuple):
    """A task decided in the period, or open now: the numbers its figures need."""

    task_id: str
    workflow: str
    step_id: str
    is_open: bool
    waited: int  # microseconds from opening to decision, at least 0 (0 while open)
    closed: int | None
    due: int | None
    assignees: tuple[str, ...]

    def overdue(self, as_of: int) -> bool:
        if self.due is None:
            return False
        return (self.closed if self.closed is not None and not self.is_open else as_of) > self.due


class FlowTask(NamedTuple):
    """A task of a finished request: when it first opened and closed, and the windows it was snoozed from."""

    step: str
    opened: int
    closed: int | None
    snoozes: tuple[tuple[int, int], ...] = ()  # (from, until); a hand-over is (at, at)


class FinishedRequest(NamedTuple):
    """A request that finished in the period: its start, its end and its tasks in the order they first opened."""

    instance_id: int
    workflow: str
    started: int
    finished: int
    tasks: tuple[FlowTask, ...]


class SpanGroup(NamedTuple):
    """How many tasks opened and closed in the same places against the period's weeks: each moment as its week
    number, whether it is at or after the first moment counted (the later of the period's start and its first
    Monday), and whether it is at or after the report's as-of time; `closed` is None for an open task."""

    opened: tuple[int, bool, bool]
    closed: tuple[int, bool, bool] | None
    decided: bool
    tasks: int  # how many


@dataclass(frozen=True)
class KpiFacts:
    finished: Mapping[tuple[str, str, int], int] = field(default_factory=dict)  # (workflow, status, week)
    started: Mapping[tuple[str, int], int] = field(default_factory=dict)  # (workflow, week)
    requesters: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # started, completed
    cycles: Sequence[tuple[str, int, int]] = ()  # (workflow, week, microseconds) of each completed request
    tasks: Sequence[TaskFact] = ()
    counts: Sequence[EventCount] = ()
    requests: Sequence[FinishedRequest] = ()
    spans: Sequence[SpanGroup] = ()
    ratings: Sequence[RatingRow] = ()
    purged: Sequence[PurgedTally] = ()  # what requests deleted for retention left (bot/engine/purged.py)


def _seconds(us: int) -> float:
    return max(0, us) / MICROS


def compute_report(
    facts: KpiFacts,
    period: Period,
    *,
    now: datetime,
    teams: Mapping[str, tuple[str, ...]] | None = None,
    rates: Rates | None = None,
) -> KpiReport:
    """Every figure of a report from the period's facts; `teams` maps a manager to their reports, `rates` a
    (workflow, step) to its cost per hour."""
    as_of = min(period.end, now)
    as_of_us = micros(as_of)
    purged = [tally for tally in facts.purged if period.contains(tally.starts)]
    weeks = _weeks(facts, period, as_of, purged)
    total, each = _by_workflow(facts, purged)
    return KpiReport(
        period=period,
        as_of=as_of,
        total=_figures(total, as_of_us),
        workflows={name: _figures(each[name], as_of_us) for name in sorted(each)},
        steps=_steps(facts, as_of_us, purged),
        assignees=_assignees(facts.tasks, as_of_us),
        teams=_teams(facts, teams or {}, as_of_us),
        weeks=weeks,
        satisfaction=satisfaction_figures(facts.ratings, period.start, period.end, previous_start(period)),
        flow=_flow(facts.requests, rates or {}, micros(period.start), micros(period.end)),
        task_weeks=task_weeks(facts.spans, [week.week for week in weeks]),
    )


def _durations(values_us: Sequence[int], purged: Sequence[PurgedTally] = ()) -> Durations:
    return durations([max(0, value) / MICROS for value in values_us], purged=purged)


@dataclass
class _Workflow:
    """One workflow's facts (or every workflow's), gathered in one pass."""

    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    started: int = 0
    cycles: list[int] = field(default_factory=list)
    tasks: list[TaskFact] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    purged: dict[str, list[PurgedTally]] = field(default_factory=lambda: defaultdict(list))  # by measure


def _by_workflow(facts: KpiFacts, purged: Sequence[PurgedTally]) -> tuple[_Workflow, dict[str, _Workflow]]:
    total, each = _Workflow(), defaultdict[str, _Workflow](_Workflow)
    for tally in purged:  # a purged request's part: as its rows counted, but its percentiles (see durations)
        for facts_of in (total, each[tally.workflow]):
            facts_of.purged[tally.measure].append(tally)
            if tally.measure in COUNTED_EVENTS:
                facts_of.kinds[tally.measure] += tally.count
    for (name, status, _), count in facts.finished.items():
        total.outcomes[status] += count
        each[name].outcomes[status] += count
    for (name, _), count in facts.started.items():
        total.started += count
        each[name].started += count
    for name, _, us in facts.cycles:
        total.cycles.append(us)
        each[name].cycles.append(us)
    for task in facts.tasks:
        total.tasks.append(task)
        each[task.workflow].tasks.append(task)
    for event_count in facts.counts:
        total.kinds[event_count.kind] += event_count.count
        each[event_count.workflow].kinds[event_count.kind] += event_count.count
    return total, each


def _figures(facts: _Workflow, as_of: int) -> Figures:
    with_due = [t for t in facts.tasks if t.due is not None]
    purged = facts.purged
    outcomes = {status: facts.outcomes[status] + sum(t.count for t in purged[status]) for status in OUTCOMES}
    decided = purged[TASK_MEASURE]
    return Figures(
        started=facts.started + sum(tally.count for tally in purged["started"]),
        completed=outcomes["completed"],
        rejected=outcomes["rejected"],
        cancelled=outcomes["cancelled"],
        failed=outcomes["failed"],
        cycle_time=_durations(facts.cycles, purged["completed"]),
        tasks=len(facts.tasks) + sum(tally.count for tally in decided),
        tasks_with_due=len(with_due) + sum(tally.with_due for tally in decided),
        overdue=sum(1 for t in with_due if t.overdue(as_of)) + sum(tally.overdue for tally in decided),
        reminders=facts.kinds["reminder_sent"],
        escalations=facts.kinds["escalated"],
        delivery_failures=facts.kinds["delivery_failed"],
        timeouts=facts.kinds["task_timed_out"],
    )


def step_event_counts(counts: Iterable[EventCount]) -> defaultdict[tuple[str, str, str], int]:
    """The events of each step by kind (reminders, escalations, time-outs...), keyed (workflow, step, kind)."""
    kinds: defaultdict[tuple[str, str, str], int] = defaultdict(int)
    for count in counts:
        if count.step_id is not None:
            kinds[(count.workflow, count.step_id, count.kind)] += count.count
    return kinds


def _steps(facts: KpiFacts, as_of: int, purged: Sequence[PurgedTally]) -> tuple[StepFigures, ...]:
    grouped: dict[tuple[str, str], list[TaskFact]] = defaultdict(list)
    for task in facts.tasks:
        grouped[(task.workflow, task.step_id)].append(task)
    kinds = step_event_counts(facts.counts)
    for workflow, step_id, _kind in kinds:
        grouped.setdefault((workflow, step_id), [])
    decided: dict[tuple[str, str], list[PurgedTally]] = defaultdict(list)
    for tally in purged:
        if tally.step_id is None:
            continue
        if tally.measure == TASK_MEASURE:
            decided[(tally.workflow, tally.step_id)].append(tally)
        elif tally.measure in COUNTED_EVENTS:
            kinds[(tally.workflow, tally.step_id, tally.measure)] += tally.count
        else:
            continue
        grouped.setdefault((tally.workflow, tally.step_id), [])
    figures = []
    for (workflow, step_id), tasks in sorted(grouped.items()):
        with_due = [t for t in tasks if t.due is not None]
        tallies = decided[(workflow, step_id)]
        figures.append(
            StepFigures(
                workflow=workflow,
                step_id=step_id,
                time=_durations([t.waited for t in tasks if not t.is_open], tallies),
                open_now=sum(1 for t in tasks if t.is_open),
                tasks_with_due=len(with_due) + sum(tally.with_due for tally in tallies),
                overdue=sum(1 for t in with_due if t.overdue(as_of)) + sum(tally.overdue for tally in tallies),
                reminders=kinds[(workflow, step_id, "reminder_sent")],
                escalations=kinds[(workflow, step_id, "escalated")],
                timeouts=kinds[(workflow, step_id, "task_timed_out")],
            )
        )
    return tuple(figures)


def _queue(tasks: Sequence[TaskFact], as_of: int) -> tuple[Durations, int, int]:
    return (
        _durations([t.waited for t in tasks if not t.is_open]),
        sum(1 for t in tasks if t.is_open),
        sum(1 for t in tasks if t.overdue(as_of)),
    )


def _assignees(tasks: Sequence[TaskFact], as_of: int) -> tuple[AssigneeFigures, ...]:
    queues: dict[str, list[TaskFact]] = defaultdict(list)
    for task in tasks:
        for person in task.assignees:
            queues[person].append(task)
    return tuple(AssigneeFigures(person, *_queue(queue, as_of)) for person, queue in sorted(queues.items()))


def _teams(facts: KpiFacts, teams: Mapping[str, tuple[str, ...]], as_of: int) -> tuple[TeamFigures, ...]:
    team_of: dict[str, list[str]] = defaultdict(list)
    for manager, members in teams.items():
        for member in members:
            team_of[member].append(manager)
    requests: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for requester, (started, completed) in facts.requesters.items():
        for manager in team_of.get(requester, ()):
            requests[manager][0] += started
            requests[manager][1] += completed
    queues: dict[str, list[TaskFact]] = defaultdict(list)
    for task in facts.tasks:
        for manager in {manager for person in task.assignees for manager in team_of.get(person, ())}:
            queues[manager].append(task)
    figures = []
    for manager, members in sorted(teams.items()):
        if not members:
            continue
        waiting, open_now, overdue = _queue(queues[manager], as_of)
        started, completed = requests[manager]
        figures.append(TeamFigures(manager, tuple(members), started, completed, waiting, open_now, overdue))
    return tuple(figures)


def _weeks(facts: KpiFacts, period: Period, as_of: datetime, purged: Sequence[PurgedTally]) -> tuple[WeekFigures, ...]:
    started: dict[int, int] = defaultdict(int)
    for (_, week), count in facts.started.items():
        started[week] += count
    outcomes: dict[tuple[int, str], int] = defaultdict(int)
    for (_, status, week), count in facts.finished.items():
        outcomes[(week, status)] += count
    cycles: dict[int, list[int]] = defaultdict(list)
    for _, week, us in facts.cycles:
        cycles[week].append(us)
    purged_cycles: dict[int, list[PurgedTally]] = defaultdict(list)
    for tally in purged:
        week = (tally.day - _WEEK_ZERO).days // 7
        if tally.measure == "started":
            started[week] += tally.count
        elif tally.measure in OUTCOMES:
            outcomes[(week, tally.measure)] += tally.count
            if tally.measure == "completed":
                purged_cycles[week].append(tally)
    weeks = []
    monday, last = week_start(period.start), week_start(max(period.start, as_of - timedelta(microseconds=1)))
    while monday <= last:
        number = (monday - _WEEK_ZERO).days // 7
        weeks.append(
            WeekFigures(
                week=monday,
                started=started[number],
                completed=outcomes[(number, "completed")],
                rejected=outcomes[(number, "rejected")],
                cancelled=outcomes[(number, "cancelled")],
                cycle_time=_durations(cycles[number], purged_cycles[number]),
            )
        )
        monday += timedelta(days=7)
    return tuple(weeks)


# ---- flow: touch time against waiting, and cost --------------------------------------------------

Interval = tuple[int, int]


def _flow(requests: Sequence[FinishedRequest], rates: Rates, start: int, end: int) -> FlowFigures:
    return flow_figures(flow_sums(requests, rates, start, end))


class FlowSums(NamedTuple):
    """Flow over some finished requests: how many, their touch and wait in whole microseconds, their cost."""

    requests: int = 0
    touch: int = 0
    wait: int = 0
    cost: float = 0.0
    costed: int = 0


def flow_sums(requests: Sequence[FinishedRequest], rates: Rates, start: int, end: int) -> FlowSums:
    """The sums over the requests that finished in [start, end), in the order of their numbers (costs are floats)."""
    count, touch, wait, cost, costed = 0, 0, 0, 0.0, 0
    for request in sorted(requests, key=lambda r: r.instance_id):
        if request.finished < request.started or not start <= request.finished < end:
            continue
        request_touch, request_cost, request_costed = _request_touch(request, rates)
        count += 1
        touch += request_touch
        wait += max(0, request.finished - request.started - request_touch)
        cost += request_cost
        costed += request_costed
    return FlowSums(count, touch, wait, cost, costed)


def flow_figures(sums: FlowSums) -> FlowFigures:
    """The figures of flow sums: touch and wait in seconds."""
    return FlowFigures(
        requests=sums.requests, touch=sums.touch / MICROS, wait=sums.wait / MICROS, cost=sums.cost, costed=sums.costed
    )


def _request_touch(request: FinishedRequest, rates: Rates) -> tuple[int, float, bool]:
    touch, steps = request_flow(request)
    cost, costed = request_cost(request.workflow, steps, rates)
    return touch, cost, costed


StepSeconds = tuple[tuple[str, float], ...]
"""Each task of a request in the order it first opened: its step, and the seconds it was in someone's hands."""


def request_flow(request: FinishedRequest) -> tuple[int, StepSeconds]:
    """A finished request's touch time (the union of its tasks' intervals in someone's hands, in microseconds), and
    each task's step with its own seconds in hand (what a cost per hour weighs): a request's row of flow."""
    started, finished = request.started, request.finished
    active: list[Interval] = []
    steps: list[tuple[str, float]] = []
    for task in request.tasks:
        end = min(task.closed if task.closed is not None else finished, finished)
        low, high = max(task.opened, started), min(end, finished)
        pieces = _minus((low, high), _snoozed(task.snoozes, end))
        active.extend(pieces)
        steps.append((task.step, sum(_seconds(b - a) for a, b in pieces)))
    return sum(max(0, b - a) for a, b in _union(active)), tuple(steps)


def request_cost(workflow: str, steps: StepSeconds, rates: Rates) -> tuple[float, bool]:
    """A request's cost from its tasks' seconds in hand (request_flow), and whether any step had a rate."""
    cost, costed = 0.0, False
    for step, seconds in steps:
        rate = rates.get((workflow, step))
        if rate is not None:
            costed = True
            cost += rate * seconds / 3600.0
    return cost, costed


def _snoozed(snoozes: Sequence[Interval], end: int) -> list[Interval]:
    ordered = sorted(snoozes)
    windows = []
    for index, (start, until) in enumerate(ordered):
        stop = min(until, end, *(later for later, _ in ordered[index + 1 :]))
        if stop > start:
            windows.append((start, stop))
    return windows


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


def _union(intervals: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# ---- tasks per week ------------------------------------------------------------------------------


def task_weeks(groups: Sequence[SpanGroup], weeks: Sequence[date]) -> tuple[TaskWeek, ...]:
    """Opened, decided and open at the end of each week, as flow.task_weeks counts them (weeks end on the next
    Monday, the last at the as-of time)."""
    if not weeks:
        return ()
    first_week, size = (weeks[0] - _WEEK_ZERO).days // 7, len(weeks)

    def place(moment: tuple[int, bool, bool]) -> int:  # how many week ends are at or before the moment
        week, _, at_or_after_end = moment
        return min(max(week - first_week, 0), size - 1) + (1 if at_or_after_end else 0)

    def counted(moment: tuple[int, bool, bool]) -> bool:  # within [first, as_of)
        return moment[1] and not moment[2]

    opened, decided, change = [0] * size, [0] * size, [0] * (size + 1)
    for group in groups:
        if counted(group.opened):
            opened[place(group.opened)] += group.tasks
        if group.decided and group.closed is not None and counted(group.closed):
            decided[place(group.closed)] += group.tasks
        since = place(group.opened)
        until = size if group.closed is None else place(group.closed)
        if since < until:
            change[since] += group.tasks
            change[until] -= group.tasks
    figures, still_open = [], 0
    for index, monday in enumerate(weeks):
        still_open += change[index]
        figures.append(TaskWeek(monday, opened=opened[index], decided=decided[index], open_at_end=still_open))
    return tuple(figures)
