"""KPI arithmetic over the event log: periods, percentiles and figures per workflow, step, assignee and team."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from typing import TypeVar

from .flow import FlowFigures, TaskWeek
from .purged import PurgedTally
from .satisfaction import Satisfaction

__all__ = [
    "CLOSING_TASK_EVENTS",
    "COUNTED_EVENTS",
    "DEFAULT_PERIOD",
    "FINISHING_EVENTS",
    "AssigneeFigures",
    "Durations",
    "EventCount",
    "Figures",
    "KpiReport",
    "Period",
    "StepFigures",
    "TeamFigures",
    "Trend",
    "WeekFigures",
    "durations",
    "looks_like_period",
    "micro_total",
    "parse_period",
    "percentile",
    "previous_start",
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
    """Count, median, 90th percentile and total (the durations' whole microseconds summed, then divided: exact, so
    the same whatever the rows' order, and the same as a database's integer SUM).

    Purged tallies (bot/engine/purged.py) add their count and seconds exactly, and stand in the percentiles as
    that many durations of their mean (the durations themselves were not kept): weighted ranks, not copies."""
    ordered = sorted(values)
    tallies = sorted((tally.seconds / tally.count, tally.count, tally.seconds) for tally in purged if tally.count > 0)
    if not tallies:
        return Durations(len(ordered), percentile(ordered, 50), percentile(ordered, 90), micro_total(ordered))
    weighted = sorted([(value, 1) for value in ordered] + [(mean, count) for mean, count, _ in tallies])
    total = micro_total([*ordered, *(seconds for _, _, seconds in tallies)])  # tallies sum whole microseconds too
    count = sum(weight for _, weight in weighted)
    return Durations(count, _weighted_percentile(weighted, count, 50), _weighted_percentile(weighted, count, 90), total)


def micro_total(seconds: Iterable[float]) -> float:
    """Durations in seconds (each whole microseconds, as Baton's times are) summed exactly, in seconds."""
    return sum(round(value * 1_000_000) for value in seconds) / 1_000_000


def _weighted_percentile(weighted: Sequence[tuple[float, int]], count: int, q: float) -> float:
    """`percentile` over the values each repeated its weight times (sorted by value), without the copies."""
    ends = list(accumulate(weight for _, weight in weighted))  # ends[i]: ranks below the end of the i-th value

    def at(rank: int) -> float:
        return weighted[bisect_right(ends, rank)][0]

    position = (count - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return at(low) + (at(high) - at(low)) * (position - low)


# ---- counts the store hands over -----------------------------------------------------------------


@dataclass(frozen=True)
class EventCount:
    """How many events of one kind a workflow's step had in one ISO week (step is None for instance events)."""

    workflow: str
    step_id: str | None
    kind: str
    week: date
    count: int


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
