"""Who may do what on a request, answered without deciding: asked before a form opens, and again by the rule."""

from __future__ import annotations

from .assignees import Directory
from .definition import StepKind, WorkflowDefinition
from .instance import Instance

__all__ = ["NOT_YOURS", "comment_refusal", "hand_over_refusal", "may_not_approve"]

NOT_YOURS = "That task does not exist, or it is not yours to act on."
"""Said to anyone with nothing to do with a task: no more than for a task that is not there (no title)."""


def may_not_approve(definition: WorkflowDefinition, instance: Instance, step_id: str) -> tuple[str, ...]:
    """Who a step must never be given to: the requester, on an approval of their own request."""
    step = definition.step(step_id)
    return (instance.requester,) if step.type is StepKind.APPROVAL and not step.allow_self_approval else ()


def hand_over_refusal(
    definition: WorkflowDefinition, directory: Directory, instance: Instance | None, task_id: str, actor: str
) -> str | None:
    """Why `actor` may not hand this task to someone else now, or None when they may (whoever they pick)."""
    task = instance.task(task_id) if instance is not None else None
    if instance is None or task is None:
        return NOT_YOURS
    if not (actor in task.escalated_to or actor in task.assignees or directory.is_admin(actor)):
        return "Only the people holding this task, those it was escalated to, or an admin can reassign it."
    if instance.status.is_finished or not task.status.is_open:
        return "This task is closed; there is nothing to hand over."
    if task.kind is StepKind.REVISION:
        return "A change request stays with the requester."
    if actor in may_not_approve(definition, instance, task.step_id):  # even as an admin: choosing one's approver
        return "You raised this request, so you cannot choose who approves it (separation of duties)."
    if actor in task.assignees and len(task.assignees) > 1 and any(vote.user == actor for vote in task.votes):
        return "You have decided on this task already; your decision stands."
    return None


def comment_refusal(directory: Directory, instance: Instance | None, actor: str) -> str | None:
    """Why `actor` may not comment on this request now, or None when they may."""
    if instance is None or not (instance.involves(actor) or directory.is_admin(actor)):
        return NOT_YOURS
    if instance.status.is_finished:
        return f"This request is already {instance.status.value}; nothing more can be added to it."
    return None
