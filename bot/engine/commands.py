"""What people (or triggers) ask the engine to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .expressions import FormValue

__all__ = [
    "ActOnTask",
    "CancelInstance",
    "Command",
    "CommentOn",
    "Decision",
    "ExtendWait",
    "FireTimer",
    "ReassignTask",
    "ResubmitForm",
    "SnoozeTask",
    "StartWorkflow",
]


@dataclass(frozen=True)
class StartWorkflow:
    instance_id: int
    requester: str
    form: dict[str, FormValue]
    origin_channel: str | None = None
    trigger: str = "command"


class Decision:
    COMPLETE = "complete"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"


@dataclass(frozen=True)
class ActOnTask:
    """Mark a task done, approve it or reject it (with a reason)."""

    task_id: str
    actor: str
    decision: str  # one of Decision.*
    comment: str | None = None


@dataclass(frozen=True)
class CancelInstance:
    actor: str
    reason: str | None = None


@dataclass(frozen=True)
class FireTimer:
    """A reminder, escalation or deadline fell due (`due_at` is when it was planned for)."""

    task_id: str
    kind: str  # a TimerKind value
    due_at: datetime
    recipient: str | None = None
    level: int = 0

    @property
    def actor(self) -> str:
        return "scheduler"


@dataclass(frozen=True)
class SnoozeTask:
    """Quiet the reminders of a task for a while: `option` is 1h, tomorrow or next_week."""

    task_id: str
    actor: str
    option: str


@dataclass(frozen=True)
class ReassignTask:
    """Hand a task to someone else (an escalation receiver, an admin, or the assignee handing over)."""

    task_id: str
    actor: str
    to: str
    note: str | None = None


@dataclass(frozen=True)
class ResubmitForm:
    """The requester answers a change request with an edited form."""

    task_id: str
    actor: str
    form: dict[str, FormValue]


@dataclass(frozen=True)
class CommentOn:
    """Anyone involved adds a comment to a request."""

    actor: str
    text: str


@dataclass(frozen=True)
class ExtendWait:
    """The requester asks for `days` more on a wait (an access that lapses): it goes to the wait's approvers."""

    task_id: str
    actor: str
    days: int
    reason: str


Command = ActOnTask | CancelInstance | FireTimer | SnoozeTask | ReassignTask | ResubmitForm | CommentOn | ExtendWait
