"""What requests purged for retention leave to reports: tallies per workflow, step, measure and UTC day, computed
from a request's rows just before it is deleted (bot/retention.py). Reports add them to what the event log still
holds (bot/engine/kpi_facts.py); they name no person and no request."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

__all__ = ["OUTCOMES", "TASK_MEASURE", "InstanceRow", "PurgedTally", "TaskRow", "purged_tallies"]

OUTCOMES = ("completed", "rejected", "cancelled", "failed")
TASK_MEASURE = "task_decided"  # a purged task decided on that day


@dataclass(frozen=True)
class InstanceRow:
    """A request about to be purged, as its tallies need it."""

    instance_id: int
    workflow: str
    requester: str
    status: str
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class TaskRow:
    """A decided task of a request about to be purged (or, in the tests' row-based report, any task)."""

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
        if instance.finished_at is not None and instance.status in OUTCOMES:
            cycle = 0.0
            if instance.status == "completed":
                cycle = max(0.0, (instance.finished_at - instance.created_at).total_seconds())
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
