"""A report's figures from sums the database made: counts, and for each group of durations its count, its total and
the values at the ranks its median and 90th percentile fall between, all in whole microseconds.

The same figures as compute_report (kpi_facts.py) makes from rows of facts, an equivalence test compares the two:
a percentile interpolates between the same two ranked values with the same float arithmetic, totals are the
integers summed (kpis.durations sums whole microseconds too). Purged tallies (bot/engine/purged.py) weigh in the
percentiles by their means, which ranks alone cannot give: a period with some is computed from facts instead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from .flow import Rates
from .kpi_facts import (
    MICROS,
    FinishedRequest,
    FlowSums,
    SpanGroup,
    StepSeconds,
    flow_figures,
    flow_sums,
    micros,
    monday_of,
    request_cost,
    request_flow,
    step_event_counts,
    task_weeks,
)
from .kpis import (
    AssigneeFigures,
    Durations,
    EventCount,
    Figures,
    KpiReport,
    Period,
    StepFigures,
    TeamFigures,
    WeekFigures,
    previous_start,
    week_start,
)
from .satisfaction import RatingRow, satisfaction_figures

__all__ = [
    "RANKS",
    "KpiSums",
    "QueueSums",
    "RequestSteps",
    "Spread",
    "StepSums",
    "compute_summed_report",
    "rank_bounds",
    "spread_durations",
    "spread_of",
    "team_figures",
]

RANKS = (50, 90)  # the percentiles a Durations gives


class Spread(NamedTuple):
    """A group of durations (whole microseconds, none below 0) as the database ranked them: how many, their sum,
    and for the median and the 90th percentile the values at the two ranks they interpolate between."""

    size: int
    total: int
    low50: int
    high50: int
    low90: int
    high90: int


def rank_bounds(count: int, q: int) -> tuple[int, int]:
    """The 0-based ranks that the q-th percentile of `count` values interpolates between (kpis.percentile)."""
    position = (count - 1) * q / 100.0
    return math.floor(position), math.ceil(position)


def spread_of(values: Sequence[int]) -> Spread:
    """The spread of some durations in whole microseconds (none below 0; at least one)."""
    ordered = sorted(values)
    size = len(ordered)
    (low50, high50), (low90, high90) = rank_bounds(size, 50), rank_bounds(size, 90)
    return Spread(size, sum(ordered), ordered[low50], ordered[high50], ordered[low90], ordered[high90])


def _percentile(count: int, q: int, low_us: int, high_us: int) -> float:
    position = (count - 1) * q / 100.0
    low, high = low_us / MICROS, high_us / MICROS
    return low + (high - low) * (position - math.floor(position))


def spread_durations(spread: Spread | None) -> Durations:
    """The Durations of a spread: kpis.durations's figures over the same values, to the last bit."""
    if spread is None or spread.size == 0:
        return Durations(0, None, None, 0.0)
    return Durations(
        spread.size,
        _percentile(spread.size, 50, spread.low50, spread.high50),
        _percentile(spread.size, 90, spread.low90, spread.high90),
        spread.total / MICROS,
    )


class RequestSteps(NamedTuple):
    """A finished request of a workflow with a cost per hour: each task's step and seconds in hand, in order."""

    instance_id: int
    workflow: str
    steps: StepSeconds


class StepSums(NamedTuple):
    """A workflow's step over the tasks decided in the period or open now."""

    workflow: str
    step_id: str
    tasks: int
    open_now: int
    with_due: int
    overdue: int
    time: Spread | None  # from opening to decision, over the decided ones


class QueueSums(NamedTuple):
    """A person's (or a team's) queue: its tasks open now and overdue, and how long its decided ones waited."""

    open_now: int = 0
    overdue: int = 0
    waiting: Spread | None = None


@dataclass(frozen=True)
class KpiSums:
    finished: Mapping[tuple[str, str, int], int] = field(default_factory=dict)  # (workflow, status, week)
    started: Mapping[tuple[str, int], int] = field(default_factory=dict)  # (workflow, week)
    requesters: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # started, completed
    cycles: Mapping[str, Spread] = field(default_factory=dict)  # of the completed requests, by workflow
    week_cycles: Mapping[int, Spread] = field(default_factory=dict)  # by week number (kpi_facts.week_number)
    all_cycles: Spread | None = None
    steps: Sequence[StepSums] = ()
    assignees: Mapping[str, QueueSums] = field(default_factory=dict)
    teams: Mapping[str, QueueSums] = field(default_factory=dict)  # by manager
    counts: Sequence[EventCount] = ()
    flow: FlowSums = FlowSums()  # of the requests whose flow the database summed, their costs aside
    costs: Sequence[RequestSteps] = ()  # those of them in workflows with a cost per hour: their steps in hand
    requests: Sequence[FinishedRequest] = ()  # finished requests walked from their events (flow and cost)
    spans: Sequence[SpanGroup] = ()
    ratings: Sequence[RatingRow] = ()


def compute_summed_report(
    sums: KpiSums,
    period: Period,
    *,
    now: datetime,
    teams: Mapping[str, tuple[str, ...]] | None = None,
    rates: Rates | None = None,
) -> KpiReport:
    """Every figure of a report from the period's sums (with no purged tallies in it); `teams` maps a manager to
    their reports (the database summed their queues), `rates` a (workflow, step) to its cost per hour (for the
    requests handed over whole)."""
    as_of = min(period.end, now)
    weeks = _weeks(sums, period, as_of)
    flow = flow_sums(sums.requests, rates or {}, micros(period.start), micros(period.end))
    simple = sums.flow
    cost, costed = _costs(sums, rates or {}, micros(period.start), micros(period.end))
    every = FlowSums(
        simple.requests + flow.requests,
        simple.touch + flow.touch,
        simple.wait + flow.wait,
        cost,
        simple.costed + costed,
    )
    return KpiReport(
        period=period,
        as_of=as_of,
        total=_figures(sums, None),
        workflows={name: _figures(sums, name) for name in sorted(_workflows(sums))},
        steps=_steps(sums),
        assignees=tuple(
            AssigneeFigures(person, spread_durations(queue.waiting), queue.open_now, queue.overdue)
            for person, queue in sorted(sums.assignees.items())
        ),
        teams=team_figures(sums, teams or {}),
        weeks=weeks,
        satisfaction=satisfaction_figures(sums.ratings, period.start, period.end, previous_start(period)),
        flow=flow_figures(every),
        task_weeks=task_weeks(sums.spans, [week.week for week in weeks]),
    )


def _costs(sums: KpiSums, rates: Rates, start: int, end: int) -> tuple[float, int]:
    """The cost of the requests summed and walked, in the order of their numbers (as flow_sums adds them: a float
    sum keeps its last bit only in one order), and how many had a step with a cost per hour."""
    walked = [
        RequestSteps(request.instance_id, request.workflow, request_flow(request)[1])
        for request in sums.requests
        if request.started <= request.finished and start <= request.finished < end
    ]
    cost, costed = 0.0, 0
    for request in sorted([*sums.costs, *walked], key=lambda row: row.instance_id):
        request_cost_of, request_costed = request_cost(request.workflow, request.steps, rates)
        cost += request_cost_of
        costed += request_costed
    return cost, costed


def team_figures(sums: KpiSums, teams: Mapping[str, tuple[str, ...]]) -> tuple[TeamFigures, ...]:
    """Each manager's team (from the org chart): its members' requests, and its queue as the database summed it
    (a task in two members' queues counted once)."""
    team_of: dict[str, list[str]] = defaultdict(list)
    for manager, members in teams.items():
        for member in members:
            team_of[member].append(manager)
    requests: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for requester, (started, completed) in sums.requesters.items():
        for manager in team_of.get(requester, ()):
            requests[manager][0] += started
            requests[manager][1] += completed
    figures = []
    for manager, members in sorted(teams.items()):
        if not members:
            continue
        queue = sums.teams.get(manager, QueueSums())
        started, completed = requests[manager]
        figures.append(
            TeamFigures(
                manager,
                tuple(members),
                started,
                completed,
                spread_durations(queue.waiting),
                queue.open_now,
                queue.overdue,
            )
        )
    return tuple(figures)


def _workflows(sums: KpiSums) -> set[str]:
    names = {name for name, _, _ in sums.finished} | {name for name, _ in sums.started} | set(sums.cycles)
    names |= {step.workflow for step in sums.steps if step.tasks} | {count.workflow for count in sums.counts}
    return names


def _figures(sums: KpiSums, workflow: str | None) -> Figures:
    def mine(name: str) -> bool:
        return workflow is None or name == workflow

    outcomes: dict[str, int] = defaultdict(int)
    for (name, status, _), count in sums.finished.items():
        if mine(name):
            outcomes[status] += count
    kinds: dict[str, int] = defaultdict(int)
    for event_count in sums.counts:
        if mine(event_count.workflow):
            kinds[event_count.kind] += event_count.count
    steps = [step for step in sums.steps if mine(step.workflow)]
    cycles = sums.all_cycles if workflow is None else sums.cycles.get(workflow)
    return Figures(
        started=sum(count for (name, _), count in sums.started.items() if mine(name)),
        completed=outcomes["completed"],
        rejected=outcomes["rejected"],
        cancelled=outcomes["cancelled"],
        failed=outcomes["failed"],
        cycle_time=spread_durations(cycles),
        tasks=sum(step.tasks for step in steps),
        tasks_with_due=sum(step.with_due for step in steps),
        overdue=sum(step.overdue for step in steps),
        reminders=kinds["reminder_sent"],
        escalations=kinds["escalated"],
        delivery_failures=kinds["delivery_failed"],
        timeouts=kinds["task_timed_out"],
    )


def _steps(sums: KpiSums) -> tuple[StepFigures, ...]:
    grouped: dict[tuple[str, str], StepSums | None] = {(s.workflow, s.step_id): s for s in sums.steps}
    kinds = step_event_counts(sums.counts)
    for workflow, step_id, _kind in kinds:
        grouped.setdefault((workflow, step_id), None)
    figures = []
    for (workflow, step_id), step in sorted(grouped.items()):
        figures.append(
            StepFigures(
                workflow=workflow,
                step_id=step_id,
                time=spread_durations(step.time if step else None),
                open_now=step.open_now if step else 0,
                tasks_with_due=step.with_due if step else 0,
                overdue=step.overdue if step else 0,
                reminders=kinds[(workflow, step_id, "reminder_sent")],
                escalations=kinds[(workflow, step_id, "escalated")],
                timeouts=kinds[(workflow, step_id, "task_timed_out")],
            )
        )
    return tuple(figures)


def _weeks(sums: KpiSums, period: Period, as_of: datetime) -> tuple[WeekFigures, ...]:
    started: dict[int, int] = defaultdict(int)
    for (_, week), count in sums.started.items():
        started[week] += count
    outcomes: dict[tuple[int, str], int] = defaultdict(int)
    for (_, status, week), count in sums.finished.items():
        outcomes[(week, status)] += count
    weeks = []
    monday, last = week_start(period.start), week_start(max(period.start, as_of - timedelta(microseconds=1)))
    first = (monday - monday_of(0)).days // 7
    for number in range(first, first + (last - monday).days // 7 + 1):
        weeks.append(
            WeekFigures(
                week=monday_of(number),
                started=started[number],
                completed=outcomes[(number, "completed")],
                rejected=outcomes[(number, "rejected")],
                cancelled=outcomes[(number, "cancelled")],
                cycle_time=spread_durations(sums.week_cycles.get(number)),
            )
        )
    return tuple(weeks)
