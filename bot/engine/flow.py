"""Flow efficiency and cost over the event log: how much of a request's cycle its tasks were in someone's hands
(touch time) against waiting (queued between steps, snoozed), what those hands cost, and tasks over time."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .definition import WorkflowDefinition

__all__ = [
    "FLOW_DATA_EVENTS",
    "FLOW_EVENTS",
    "FlowEvent",
    "FlowFigures",
    "RequestFlow",
    "TaskSpan",
    "TaskWeek",
    "flow_figures",
    "request_flows",
    "step_rates",
    "task_weeks",
]

_ENDS = ("instance_completed", "instance_rejected", "instance_cancelled", "instance_failed")
_OPENS = ("task_assigned", "revision_requested")
_CLOSES = (
    "task_completed",
    "task_approved",
    "task_rejected",
    "changes_requested",
    "task_cancelled",
    "form_resubmitted",
)
_TIMEOUT = "task_timed_out"  # closes the task when its step approves or rejects at the deadline
_SNOOZED = "task_snoozed"
_HANDED_ON = "task_reassigned"  # a new holder: an earlier snooze no longer holds
FLOW_EVENTS = ("instance_started", *_ENDS, *_OPENS, *_CLOSES, _TIMEOUT, _SNOOZED, _HANDED_ON)
"""The kinds of events the flow figures read."""
FLOW_DATA_EVENTS = (*_OPENS, _TIMEOUT, _SNOOZED)
"""The kinds whose data the flow figures read (a step, a snooze's end, a deadline's action)."""

Rates = Mapping[tuple[str, str], float]
"""Cost per hour by (workflow, step id)."""


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
    cycle: float  # seconds from start to finish
    touch: float  # seconds with at least one task open and not snoozed
    cost: float  # the sum over its tasks of (hours in someone's hands × the step's cost per hour)
    costed: bool  # whether any of its tasks had a cost per hour

    @property
    def wait(self) -> float:
        return max(0.0, self.cycle - self.touch)

    @property
    def efficiency(self) -> float | None:
        """touch / (touch + wait); None for a request that ended the moment it started."""
        return self.touch / self.cycle if self.cycle > 0 else None


@dataclass(frozen=True)
class FlowFigures:
    """The requests finished in a period: flow efficiency over all their cycles, and cost per request."""

    requests: int = 0
    touch: float = 0.0
    wait: float = 0.0
    cost: float = 0.0
    costed: int = 0  # requests with at least one task that had a cost per hour

    @property
    def efficiency(self) -> float | None:
        total = self.touch + self.wait
        return self.touch / total if total > 0 else None

    @property
    def cost_per_request(self) -> float | None:
        """The period's cost over its finished requests; None when no step or group has a cost per hour."""
        return self.cost / self.requests if self.requests and self.costed else None


@dataclass(frozen=True)
class TaskSpan:
    """A task's life: when it opened, when it closed (None while open), whether it closed by a decision."""

    task_id: str
    workflow: str
    opened_at: datetime
    closed_at: datetime | None
    decided: bool


@dataclass(frozen=True)
class TaskWeek:
    """Tasks in one ISO week: opened in it, decided in it, and still open at its end (or now, for this week)."""

    week: date
    opened: int = 0
    decided: int = 0
    open_at_end: int = 0


def step_rates(
    definitions: Iterable[WorkflowDefinition], group_costs: Mapping[str, float]
) -> dict[tuple[str, str], float]:
    """Each step's cost per hour: its own `cost_per_hour`, else that of the first org.yaml group it is assigned to
    (`group:<name>`) that has one; steps with neither cost nothing."""
    rates: dict[tuple[str, str], float] = {}
    for definition in definitions:
        for step in definition.all_steps():
            if step.cost_per_hour is not None:
                rates[(definition.name, step.id)] = step.cost_per_hour
                continue
            groups = (ref.removeprefix("group:") for ref in step.assignee if ref.startswith("group:"))
            rate = next((group_costs[name] for name in groups if name in group_costs), None)
            if rate is not None:
                rates[(definition.name, step.id)] = rate
    return rates


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
        touch=sum(flow.touch for flow in counted),
        wait=sum(flow.wait for flow in counted),
        cost=sum(flow.cost for flow in counted),
        costed=sum(1 for flow in counted if flow.costed),
    )


Interval = tuple[datetime, datetime]


def _request_flow(instance_id: int, lines: Sequence[FlowEvent], rates: Rates) -> RequestFlow | None:
    started = next((e.at for e in lines if e.kind == "instance_started"), None)
    finished = next((e.at for e in lines if e.kind in _ENDS), None)
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
        if event.kind in _OPENS and task not in opened:
            opened[task] = event.at
            steps[task] = str(event.data.get("step") or "")
        elif task not in closed and (
            event.kind in _CLOSES or (event.kind == _TIMEOUT and event.data.get("action") in ("approve", "reject"))
        ):
            closed[task] = event.at
        elif event.kind == _SNOOZED:
            snoozes[task].append((event.at, _until(event.data.get("until"), event.at)))
        elif event.kind == _HANDED_ON:
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
        cycle=_seconds((started, finished)),
        touch=sum(_seconds(piece) for piece in _union(active)),
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
