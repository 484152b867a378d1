"""A request as other systems read it: `GET /api/requests/<id>` and the body of its callback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.engine import Instance, Task, TaskStatus, WorkflowDefinition
from bot.engine.definition import StepKind
from bot.engine.wording import PLAIN_WORDING

__all__ = ["request_view"]

_DECISION = {
    TaskStatus.APPROVED: "approve",
    TaskStatus.REJECTED: "reject",
    TaskStatus.DONE: "done",
    TaskStatus.CHANGES_REQUESTED: "request_changes",
}


def _at(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _step(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "step": task.step_id,
        "kind": task.kind.value,
        "title": task.title.shown_in(PLAIN_WORDING),  # for programs: plain text, no Slack markup
        "status": task.status.value,
        "assignees": list(task.assignees),
        "due_at": _at(task.due_at),
        "acted_by": task.acted_by,
        "acted_at": _at(task.acted_at),
        "comment": task.comment,
    }


def _decisions(definition: WorkflowDefinition, task: Task) -> list[dict[str, Any]]:
    """Who decided what on a task, when, and what they said: each vote, or the one act that closed it."""
    labels = _labels(definition, task)
    said: list[tuple[str, str, datetime | None, str | None]]
    if task.votes:
        said = [(vote.user, vote.decision, vote.at, vote.comment) for vote in task.votes]
    elif task.acted_by is not None and task.status in _DECISION:
        said = [(task.acted_by, _DECISION[task.status], task.acted_at, task.comment)]
    else:
        said = []
    return [
        {
            "task_id": task.id,
            "step": task.step_id,
            "by": by,
            "decision": decision,
            "label": labels.get(decision, decision),
            "at": _at(at),
            "comment": comment,
        }
        for by, decision, at, comment in said
    ]


def _labels(definition: WorkflowDefinition, task: Task) -> dict[str, str]:
    """The words the approver's buttons said for each decision."""
    if task.kind is not StepKind.APPROVAL:
        return {}
    try:
        step = definition.step(task.step_id)
    except KeyError:
        return {}
    return {"approve": step.approve_label, "reject": step.reject_label}


def request_view(definition: WorkflowDefinition, instance: Instance) -> dict[str, Any]:
    """Status, steps, every decision (who, when, comment) and the form of one request, as JSON-ready data."""
    return {
        "id": instance.id,
        "workflow": instance.workflow,
        "title": instance.title,
        "status": instance.status.value,
        "requester": instance.requester,
        "created_at": _at(instance.created_at),
        "updated_at": _at(instance.updated_at),
        "finished_at": _at(instance.finished_at),
        "finished_by": instance.finished_by,
        "reason": instance.outcome_reason,
        "form": instance.form,
        "steps": [_step(task) for task in instance.tasks],
        "decisions": [decision for task in instance.tasks for decision in _decisions(definition, task)],
    }
