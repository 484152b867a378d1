"""Facts the engine records in the append-only event log, and effects the adapters carry out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .instance import Instance, Task
from .refusals import Why
from .timers import Timer
from .wording import WordedText

__all__ = [
    "AddTimers",
    "CommentAdded",
    "TaskProgress",
    "TaskDelegated",
    "CancelTimers",
    "EscalateTask",
    "ExtensionDecided",
    "RemindAssignee",
    "TaskHandedOver",
    "Effect",
    "Event",
    "InstanceFinished",
    "NotifyTargets",
    "RatingRecorded",
    "RequestReceived",
    "TaskClosed",
    "TaskOpened",
    "Transition",
    "Refusal",
]


@dataclass(frozen=True)
class Event:
    """One line of the audit trail."""

    kind: str
    at: datetime
    actor: str | None = None
    task_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskOpened:
    """Send the task to its assignees, with its buttons."""

    task: Task


@dataclass(frozen=True)
class TaskClosed:
    """Update the assignees' task messages in place with the outcome."""

    task: Task


@dataclass(frozen=True)
class RequestReceived:
    """Tell the requester their request is under way."""


@dataclass(frozen=True)
class InstanceFinished:
    """Tell the requester how their request ended."""


@dataclass(frozen=True)
class RatingRecorded:
    """The requester rated their finished request: the outcome message shows the rating in place."""


@dataclass(frozen=True)
class NotifyTargets:
    """Post a notify step's text to people and channels."""

    step_id: str
    people: tuple[str, ...]
    channels: tuple[str, ...]
    text: WordedText


@dataclass(frozen=True)
class AddTimers:
    """Plan these timers (reminders, escalations, deadlines)."""

    timers: tuple[Timer, ...]


@dataclass(frozen=True)
class CancelTimers:
    """Drop a task's pending timers: all of them, or only the reminders of one recipient."""

    task_id: str
    recipient: str | None = None
    reminders_only: bool = False


@dataclass(frozen=True)
class RemindAssignee:
    """Nudge one assignee about an open task, with its buttons and a snooze menu."""

    task: Task
    person: str
    overdue_by: timedelta | None


@dataclass(frozen=True)
class EscalateTask:
    """Tell someone higher up that a task is stuck, and let them reassign it."""

    task: Task
    people: tuple[str, ...]
    overdue_by: timedelta
    may_act: bool


@dataclass(frozen=True)
class TaskHandedOver:
    """A task moved to new people: the previous holders' messages say so; the new ones get the task."""

    task: Task
    previous: tuple[str, ...]
    by: str | None
    note: str | None


@dataclass(frozen=True)
class TaskProgress:
    """A task several people decide got a vote: everyone's copy shows who decided so far."""

    task: Task


@dataclass(frozen=True)
class CommentAdded:
    """Share a comment with everyone involved in the request, in its threads."""

    author: str
    text: str
    people: tuple[str, ...]


@dataclass(frozen=True)
class TaskDelegated:
    """An absent person's new task went to their delegate: tell the absent person."""

    absent: str
    delegate: str
    task_title: WordedText


@dataclass(frozen=True)
class ExtensionDecided:
    """An approver said yes or no to more time on a wait; the requester hears, the wait's message shows it."""

    wait: Task
    extension: Task
    approved: bool


Effect = (
    TaskOpened
    | TaskClosed
    | RequestReceived
    | InstanceFinished
    | RatingRecorded
    | NotifyTargets
    | AddTimers
    | CancelTimers
    | RemindAssignee
    | EscalateTask
    | TaskHandedOver
    | TaskProgress
    | CommentAdded
    | TaskDelegated
    | ExtensionDecided
)


@dataclass(frozen=True)
class Transition:
    """The engine's answer: the new state, what to record, and what must happen."""

    instance: Instance
    events: tuple[Event, ...]
    effects: tuple[Effect, ...]


@dataclass(frozen=True)
class Refusal:
    """The engine said no: why (a reason and its facts; `bot/slack/` words it) and the event that records it."""

    why: Why
    event: Event
