"""The state of a running workflow: an instance and its tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .definition import StepKind
from .expressions import FormValue

__all__ = ["Extension", "FieldChange", "Instance", "InstanceStatus", "Rating", "Task", "TaskStatus", "Vote"]


class InstanceStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self is not InstanceStatus.RUNNING


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CHANGES_REQUESTED = "changes_requested"

    @property
    def is_open(self) -> bool:
        return self is TaskStatus.OPEN


class Vote(BaseModel):
    """One person's decision on a task that several people decide together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    decision: str  # approve | reject
    at: datetime
    comment: str | None = None


class Rating(BaseModel):
    """How satisfied the requester was with a finished request: a score of 1 to 5, and maybe a comment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    score: int
    comment: str | None = None
    at: datetime


class FieldChange(BaseModel):
    """A form value the requester changed when resubmitting."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    old: FormValue
    new: FormValue


class Extension(BaseModel):
    """What an extension task asks: `days` more for the wait task `of`, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    of: str
    days: int
    reason: str


class Task(BaseModel):
    """One piece of work for one person or a group (any member may act)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    instance_id: int
    step_id: str
    kind: StepKind
    title: str
    assignees: tuple[str, ...]
    status: TaskStatus = TaskStatus.OPEN
    created_at: datetime
    due_at: datetime | None = None
    acted_by: str | None = None
    acted_at: datetime | None = None
    comment: str | None = None
    reminders_sent: int = 0
    escalated_to: tuple[str, ...] = ()
    escalation_level: int = 0
    snoozed_until: datetime | None = None
    deadline_at: datetime | None = None
    previous_assignees: tuple[str, ...] = ()
    former_assignees: tuple[str, ...] = ()  # everyone who held it and handed it on, each once: all have a copy
    votes: tuple[Vote, ...] = ()
    round: int = 1
    changes: tuple[FieldChange, ...] = ()
    delegated_from: dict[str, str] = {}
    extension: Extension | None = None  # an approval of more time for a wait (Extend…)

    @property
    def holders_ever(self) -> tuple[str, ...]:
        """Everyone who was given this task (each has its message): the holders now, then those who handed it on."""
        # A change request's `previous_assignees` is the reviewer who asked, who never held it.
        before = self.previous_assignees if self.kind is not StepKind.REVISION else ()
        return tuple(dict.fromkeys((*self.assignees, *self.former_assignees, *before)))


class Instance(BaseModel):
    """One run of a workflow, on the definition version it started with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    workflow: str
    definition_version: str
    title: str
    requester: str
    form: dict[str, FormValue]
    status: InstanceStatus = InstanceStatus.RUNNING
    stage_index: int = 0
    tasks: tuple[Task, ...] = ()
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    finished_by: str | None = None
    outcome_reason: str | None = None
    origin_channel: str | None = None
    round: int = 1
    rating: Rating | None = None  # the requester's latest rating, once the request ended

    def task(self, task_id: str) -> Task | None:
        """Look a task of this instance up by id."""
        return next((task for task in self.tasks if task.id == task_id), None)

    def latest_task(self, step_id: str) -> Task | None:
        """The most recent task of a step (a step runs again after changes are requested); a wait's extensions,
        which carry its step id, are not its task."""
        return next(
            (task for task in reversed(self.tasks) if task.step_id == step_id and task.extension is None), None
        )

    def open_tasks(self) -> tuple[Task, ...]:
        return tuple(task for task in self.tasks if task.status.is_open)

    def involves(self, user_id: str) -> bool:
        """True for the requester and for anyone a task of this instance was assigned to, handed on from, or
        escalated to."""
        return user_id == self.requester or any(
            user_id in task.holders_ever or user_id in task.previous_assignees or user_id in task.escalated_to
            for task in self.tasks
        )
