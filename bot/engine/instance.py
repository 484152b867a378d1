"""The state of a running workflow: an instance and its tasks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .definition import StepKind
from .expressions import FormValue

__all__ = ["Instance", "InstanceStatus", "Task", "TaskStatus"]


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

    @property
    def is_open(self) -> bool:
        return self is TaskStatus.OPEN


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

    def task(self, task_id: str) -> Task | None:
        """Look a task of this instance up by id."""
        return next((task for task in self.tasks if task.id == task_id), None)

    def open_tasks(self) -> tuple[Task, ...]:
        return tuple(task for task in self.tasks if task.status.is_open)

    def involves(self, user_id: str) -> bool:
        """True for the requester and for anyone a task of this instance was assigned to."""
        return user_id == self.requester or any(user_id in task.assignees for task in self.tasks)
