"""KPI arithmetic over the event log: periods, percentiles and figures per workflow, step, assignee and team."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from .flow import FlowEvent, FlowFigures, TaskSpan, TaskWeek, flow_figures, request_flows, task_weeks
from .satisfaction import RatingRow, Satisfaction, satisfaction_figures

__all__ = [
    "CLOSING_TASK_EVENTS",
    "COUNTED_EVENTS",
    "DEFAULT_PERIOD",
    "FINISHING_EVENTS",
    "AssigneeFigures",
    "Durations",
    "EventCount",
    "Figures",
    "InstanceRow",
    "KpiReport",
    "KpiRows",
    "Period",
    "PurgedTally",
    "StepFigures",
    "TASK_MEASURE",
    "TaskRow",
    "TeamFigures",
    "Trend",
    "WeekFigures",
    "compute_kpis",
    "durations",
    "looks_like_period",
    "parse_period",
    "percentile",
    "previous_start",
    "purged_tallies",
    "week_label",
    "week_start",
]

_T = TypeVar("_T")

DEFAULT_PERIOD = "30d"
FINISHING_EVENTS = (
    "instance_started",
    "instance_completed",
    "instance_rejected",
    "instance_cancelled",
    "instance_failed",
)
CLOSING_TASK_EVENTS = ("task_completed", "task_approved", "task_rejected", "changes_requested")
COUNTED_EVENTS = ("reminder_sent", "escalated", "delivery_failed", "task_timed_out")

_RELATIVE = re.compile(r"^(\d{1,4})([dw])$")
_QUARTER = re.compile(r"^(\d{4})-?q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")
_MAX_DAYS = 3 * 366


# ---- periods and weeks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A stretch of time [start, end) in UTC, with the words a person used for it."""

    start: datetime
    end: datetime
    label: str

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


def looks_like_period(text: str) -> bool:
    """True for text shaped like a period (`30d`, `12w`, `2026-Q4`, `2026-11`, `2026`), valid or not."""
    word = text.strip().lower()
    return any(pattern.match(word) for pattern in (_RELATIVE, _QUARTER, _MONTH, _YEAR))


def parse_period(text: str | None, now: datetime) -> Period:
    """Read `30d`, `12w`, `2026-Q4`, `2026-11` or `2026`; raise ValueError with a message for the person."""
    word = (text or DEFAULT_PERIOD).strip().lower()
    if match := _RELATIVE.match(word):
        count, unit = int(match.group(1)), match.group(2)
        days = count * (7 if unit == "w" else 1)
        if not 1 <= days <= _MAX_DAYS:
            raise ValueError(f"`{word}` is too long or empty; use between 1d and {_MAX_DAYS // 7}w")
        label = f"last {count} {'week' if unit == 'w' else 'day'}{'s' if count != 1 else ''}"
        return Period(now - timedelta(days=days), now, label)
    if match := _QUARTER.match(word):
        year, quarter = _year(match.group(1), word), int(match.group(2))
        start = datetime(year, 3 * quarter - 2, 1, tzinfo=UTC)
        end = datetime(year + quarter // 4, 1 if quarter == 4 else 3 * quarter + 1, 1, tzinfo=UTC)
        return Period(start, end, f"{year}-Q{quarter}")
    if match := _MONTH.match(word):
        year, month = _year(match.group(1), word), int(match.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"`{word}` is not a month; write e.g. 2026-11")
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return Period(start, end, f"{year}-{month:02d}")
    if match := _YEAR.match(word):
        year = _year(match.group(1), word)
        return Period(datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), str(year))
    raise ValueError(f"`{word[:20]}` is not a period; write e.g. 30d, 12w, 2026-Q4, 2026-11 or 2026")


def _year(digits: str, word: str) -> int:
    year = int(digits)
    if year < 1970:
        raise ValueError(f"`{word}` is before Baton's time")
    if year > 9998:
        raise ValueError(f"`{word}` is too far ahead; write e.g. 2026")
    return year


def week_start(moment: datetime) -> date:
    """The Monday that starts the ISO week of `moment` (weeks run in UTC)."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    """`2026-W05`: the ISO year and week number."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


# ---- percentiles ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolated linearly between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Durations:
    """How many durations there were, with their median and 90th percentile in seconds."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    total: float = 0.0


def durations(values: Sequence[float], *, purged: Iterable[PurgedTally] = ()) -> Durations:
    """The durations' figures; purged tallies add their count and seconds exactly, and stand in the percentiles
    as that many durations of their mean (the durations themselves were not kept)."""
    counted = [tally for tally in purged if tally.count > 0]
    if not counted:
        return Durations(len(values), percentile(values, 50), percentile(values, 90), float(sum(values)))
    standing_in = [tally.seconds / tally.count for tally in counted for _ in range(tally.count)]
    every = [*values, *standing_in]
    total = float(sum(values)) + sum(tally.seconds for tally in counted)
    return Durations(len(every), percentile(every, 50), percentile(every, 90), total)


# ---- rows the store hands over -------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceRow:
    """An instance that started or finished in the period."""

    instance_id: int
    workflow: str
    requester: str
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class TaskRow:
    """A task closed in the period by a decision, or open now (created before the period's end)."""

    task_id: str
    instance_id: int
    workflow: str
    step_id: str
    status: str
    created_at: datetime
    closed_at: datetime | None
    due_at: datetime | None
    assignees: tuple[str, ...]

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def overdue(self, as_of: datetime) -> bool:
        """Closed after its due time, or still open past it."""
        if self.due_at is None:
            return False
        return (self.closed_at if self.closed_at is not None and not self.is_open else as_of) > self.due_at

    @property
    def waited(self) -> float:
        """Seconds from being opened to being decided (0 while open)."""
        if self.closed_at is None or self.is_open:
            return 0.0
        return max(0.0, (self.closed_at - self.created_at).total_seconds())


@dataclass(frozen=True)
class EventCount:
    """How many events of one kind a workflow's step had in one ISO week (step is None for instance events)."""

    workflow: str
    step_id: str | None
    kind: str
    week: date
    count: int


TASK_MEASURE = "task_decided"  # a purged task decided on that day (bot/retention.py)


@dataclass(frozen=True)
class PurgedTally:
    """What requests purged for retention left to reports, for one workflow, step and UTC day: how many of one
    measure (a request started or finished with an outcome, a task decided, or a counted event's kind), with their
    summed seconds (cycle time of completed requests, time to decision of tasks) and, for tasks, how many had a
    due time and how many were overdue. It names no person and no request. `step_id` is None for the request."""

    workflow: str
    step_id: str | None
    measure: str
    day: date
    count: int
    seconds: float = 0.0
    with_due: int = 0
    overdue: int = 0

    @property
    def starts(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)


def purged_tallies(
    instances: Iterable[InstanceRow],
    tasks: Iterable[TaskRow],
    events: Iterable[tuple[str, str | None, str, datetime]],
) -> list[PurgedTally]:
    """The tallies that stand for these finished requests in reports once they are deleted: each counted as the
    report counts it (started on its start's day, its outcome and cycle time on its finish's day, each decided task
    on its decision's day) and each counted event (workflow, step, kind, at) on its day."""
    sums: dict[tuple[str, str | None, str, date], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])

    def add(key: tuple[str, str | None, str, date], seconds: float = 0.0, with_due: int = 0, overdue: int = 0) -> None:
        tally = sums[key]
        tally[0] += 1
        tally[1] += seconds
        tally[2] += with_due
        tally[3] += overdue

    for instance in instances:
        add((instance.workflow, None, "started", _day(instance.created_at)))
        if instance.finished_at is not None and instance.status in _OUTCOMES:
            cycle = _cycle_seconds(instance) if instance.status == "completed" else 0.0
            add((instance.workflow, None, instance.status, _day(instance.finished_at)), cycle)
    for task in tasks:
        if task.is_open or task.closed_at is None:
            continue
        due = task.due_at is not None
        add(
            (task.workflow, task.step_id, TASK_MEASURE, _day(task.closed_at)),
            task.waited,
            int(due),
            int(due and task.overdue(task.closed_at)),
        )
    for workflow, step_id, kind, at in events:
        add((workflow, step_id, kind, _day(at)))
    return [
        PurgedTally(*key, count=int(total[0]), seconds=total[1], with_due=int(total[2]), overdue=int(total[3]))
        for key, total in sorted(sums.items(), key=lambda item: (item[0][0], item[0][1] or "", item[0][2], item[0][3]))
    ]


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class KpiRows:
    instances: tuple[InstanceRow, ...] = ()
    tasks: tuple[TaskRow, ...] = ()
    counts: tuple[EventCount, ...] = ()
    flow_events: tuple[FlowEvent, ...] = ()  # every flow event of the requests that finished in the period
    task_spans: tuple[TaskSpan, ...] = ()  # every task open at some time of the period
    ratings: tuple[RatingRow, ...] = ()  # every rating given in the period and the one before (previous_start)
    purged: tuple[PurgedTally, ...] = ()  # what requests deleted for retention left behind (bot/retention.py)


# ---- figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The headline figures of a workflow (or of all of them) over a period."""

    started: int = 0
    completed: int = 0
    rejected: int = 0
    cancelled: int = 0
    failed: int = 0
    cycle_time: Durations = Durations()
    tasks: int = 0
    tasks_with_due: int = 0
    overdue: int = 0
    reminders: int = 0
    escalations: int = 0
    delivery_failures: int = 0
    timeouts: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.rejected + self.cancelled + self.failed

    @property
    def completion_rate(self) -> float | None:
        """Completed among the requests that finished in the period."""
        return self.completed / self.finished if self.finished else None

    @property
    def overdue_share(self) -> float | None:
        """Overdue among the tasks that had a due time."""
        return self.overdue / self.tasks_with_due if self.tasks_with_due else None

    @property
    def errors(self) -> int:
        return self.delivery_failures + self.timeouts


@dataclass(frozen=True)
class StepFigures:
    workflow: str
    step_id: str
    time: Durations  # from opening to decision, over tasks decided in the period
    open_now: int
    tasks_with_due: int
    overdue: int
    reminders: int = 0
    escalations: int = 0
    timeouts: int = 0

    @property
    def overdue_share(self) -> float | None:
        return self.overdue / self.tasks_with_due if self.tasks_with_due else None


@dataclass(frozen=True)
class AssigneeFigures:
    user_id: str
    waiting: Durations  # how long decided tasks waited in this person's queue
    open_now: int
    overdue: int


@dataclass(frozen=True)
class TeamFigures:
    """A manager's direct reports (from the org chart): their requests and the tasks in their queues."""

    manager: str
    members: tuple[str, ...]
    started: int
    completed: int
    waiting: Durations
    open_now: int
    overdue: int


@dataclass(frozen=True)
class WeekFigures:
    week: date
    started: int = 0
    completed: int = 0
    rejected: int = 0
    cancelled: int = 0
    cycle_time: Durations = Durations()

    @property
    def label(self) -> str:
        return week_label(self.week)


@dataclass(frozen=True)
class Trend:
    """The last full week against the week before it."""

    week: date
    completed: int
    completed_before: int
    median_cycle: float | None
    median_cycle_before: float | None

    @property
    def arrow(self) -> str:
        return _arrow(self.completed, self.completed_before)

    @property
    def cycle_arrow(self) -> str:
        if self.median_cycle is None or self.median_cycle_before is None:
            return "→"
        return _arrow(self.median_cycle, self.median_cycle_before)


def _arrow(now: float, before: float) -> str:
    return "↑" if now > before else "↓" if now < before else "→"


@dataclass(frozen=True)
class KpiReport:
    period: Period
    as_of: datetime
    total: Figures
    workflows: dict[str, Figures] = field(default_factory=dict)
    steps: tuple[StepFigures, ...] = ()
    assignees: tuple[AssigneeFigures, ...] = ()
    teams: tuple[TeamFigures, ...] = ()
    weeks: tuple[WeekFigures, ...] = ()
    satisfaction: Satisfaction = Satisfaction()
    flow: FlowFigures = FlowFigures()
    task_weeks: tuple[TaskWeek, ...] = ()

    def bottleneck(self) -> StepFigures | None:
        """The step whose decisions took longest (median), more decisions breaking ties."""
        timed = _enough([step for step in self.steps if step.time.median is not None], lambda s: s.time.count)
        return max(timed, key=lambda s: (s.time.median or 0.0, s.time.count), default=None)

    def slowest_queue(self) -> AssigneeFigures | None:
        """The person whose tasks waited longest (median), more tasks breaking ties."""
        timed = _enough([p for p in self.assignees if p.waiting.median is not None], lambda p: p.waiting.count)
        return max(timed, key=lambda p: (p.waiting.median or 0.0, p.waiting.count), default=None)

    def trend(self) -> Trend | None:
        """The last week that ended within the period, against the one before; None without two such weeks."""
        full = [w for w in self.weeks if _week_bounds(w.week)[1] <= self.as_of and w.week >= self.period.start.date()]
        if len(full) < 2:
            return None
        last, before = full[-1], full[-2]
        return Trend(last.week, last.completed, before.completed, last.cycle_time.median, before.cycle_time.median)


_MIN_SAMPLE = 3  # a median of one or two decisions names no bottleneck when others have more


def _enough(candidates: list[_T], count: Callable[[_T], int]) -> list[_T]:
    """The candidates with at least a few decisions behind their median, or all of them if none has."""
    return [c for c in candidates if count(c) >= _MIN_SAMPLE] or candidates


def _week_bounds(monday: date) -> tuple[datetime, datetime]:
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    return start, start + timedelta(days=7)


# ---- the computation -----------------------------------------------------------------------------


def previous_start(period: Period) -> datetime:
    """Where the period before this one, as long as this one, starts (satisfaction's trend compares the two)."""
    return period.start - (period.end - period.start)


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
        cycle_time=durations(
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
                time=durations([task.waited for task in step_tasks if not task.is_open], purged=tallies),
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
                cycle_time=durations(cycles[monday], purged=purged_cycles[monday]),
            )
        )
        monday += timedelta(days=7)
    return tuple(weeks)
