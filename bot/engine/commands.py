"""What people (or triggers) ask the engine to do."""

from __future__ import annotations

from dataclasses import dataclass

from .expressions import FormValue

__all__ = ["ActOnTask", "CancelInstance", "Command", "Decision", "StartWorkflow"]


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


Command = ActOnTask | CancelInstance
