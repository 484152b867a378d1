"""Who may do what on a request, answered without deciding: asked before a form opens, and again by the rule."""

from __future__ import annotations

from .assignees import Directory
from .definition import StepKind, WorkflowDefinition
from .instance import Instance
from .refusals import RefusalReason, Why

__all__ = ["NOT_YOURS", "comment_refusal", "hand_over_refusal", "may_not_approve"]

NOT_YOURS = Why(RefusalReason.NOT_YOURS)
"""Said to anyone with nothing to do with a task: no more than for a task that is not there (no title)."""


def may_not_approve(definition: WorkflowDefinition, instance: Instance, step_id: str) -> tuple[str, ...]:
    """Who a step must never be given to: the requester, on an approval of their own request."""
    step = definition.step(step_id)
    return (instance.requester,) if step.type is StepKind.APPROVAL and not step.allow_self_approval else ()


def hand_over_refusal(
    definition: WorkflowDefinition, directory: Directory, instance: Instance | None, task_id: str, actor: str
) -> Why | None:
    """Why `actor` may not hand this task to someone else now, or None when they may (whoever they pick)."""
    task = instance.task(task_id) if instance is not None else None
    if instance is None or task is None:
        return NOT_YOURS
    if not (actor in task.escalated_to or actor in task.assignees or directory.is_admin(actor)):
        return Why(RefusalReason.NOT_ALLOWED_TO_REASSIGN)
    if instance.status.is_finished or not task.status.is_open:
        return Why(RefusalReason.NOTHING_TO_HAND_OVER)
    if task.kind is StepKind.REVISION:
        return Why(RefusalReason.REVISION_STAYS)
    if actor in may_not_approve(definition, instance, task.step_id):  # even as an admin: choosing one's approver
        return Why(RefusalReason.REQUESTER_CHOOSING_APPROVER)
    if actor in task.assignees and len(task.assignees) > 1 and any(vote.user == actor for vote in task.votes):
        return Why(RefusalReason.DECISION_STANDS)
    return None


def comment_refusal(directory: Directory, instance: Instance | None, actor: str) -> Why | None:
    """Why `actor` may not comment on this request now, or None when they may."""
    if instance is None or not (instance.involves(actor) or directory.is_admin(actor)):
        return NOT_YOURS
    if instance.status.is_finished:
        return Why(RefusalReason.REQUEST_FINISHED_TO_COMMENT, {"status": instance.status.value})
    return None
