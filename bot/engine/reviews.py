"""Deciding together and reworking a request: votes toward a rule, resubmitted forms, comments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from .assignees import Directory
from .builder import TransitionBuilder, refuse
from .commands import ActOnTask, CommentOn, Decision, ResubmitForm
from .definition import ApprovalRule, FieldType, Step, StepKind, WorkflowDefinition
from .events import CancelTimers, CommentAdded, Event, Refusal, TaskProgress, Transition
from .expressions import FormValue
from .instance import FieldChange, Instance, Task, TaskStatus, Vote
from .permissions import comment_refusal
from .refusals import People, RefusalReason

__all__ = ["comment", "deciding_vote", "record_vote", "resubmit"]


def _needed_approvals(step: Step, task: Task) -> int:
    if step.rule is ApprovalRule.ALL:
        return len(task.assignees)
    if step.rule is ApprovalRule.QUORUM and step.quorum is not None:
        return min(step.quorum, len(task.assignees))
    return 1


def deciding_vote(step: Step, task: Task, vote: Vote) -> str | None:
    """Whether this vote decides the task: "approve", "reject", or None while others still decide."""
    votes = (*task.votes, vote)
    approvals = sum(1 for v in votes if v.decision == Decision.APPROVE)
    rejections = sum(1 for v in votes if v.decision == Decision.REJECT)
    needed = _needed_approvals(step, task)
    if rejections >= step.rejections_to_reject:
        return Decision.REJECT
    if approvals >= needed:
        return Decision.APPROVE
    undecided = len(task.assignees) - len({v.user for v in votes if v.user in task.assignees})
    if approvals + undecided < needed:
        return Decision.REJECT  # not enough people left to approve
    return None


def record_vote(
    definition: WorkflowDefinition,
    directory: Directory,
    instance: Instance,
    task: Task,
    command: ActOnTask,
    comment: str | None,
    now: datetime,
) -> Transition:
    """A vote that does not decide yet: record it and show everyone who has decided so far."""
    voted = task.model_copy(
        update={"votes": (*task.votes, Vote(user=command.actor, decision=command.decision, at=now, comment=comment))}
    )
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.replace_task(voted)
    builder.effects.append(TaskProgress(voted))
    # The voter has done their part: no more reminders for them while the others decide.
    builder.effects.append(CancelTimers(task.id, recipient=command.actor, reminders_only=True))
    builder.events.append(
        Event(
            "vote_recorded",
            now,
            actor=command.actor,
            task_id=task.id,
            data={"step": task.step_id, "decision": command.decision, "comment": comment},
        )
    )
    return builder.transition()


def resubmit(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ResubmitForm, now: datetime
) -> Transition | Refusal:
    """The requester edited the form: record what changed and run the stage again with the same reviewers."""
    task = instance.task(command.task_id)
    if task is None or task.kind is not StepKind.REVISION:
        return refuse(RefusalReason.NO_CHANGE_REQUEST, now, command.actor, task_id=command.task_id)
    if command.actor != instance.requester:
        requester = {"requester": People((instance.requester,))}
        return refuse(RefusalReason.NOT_REQUESTER_TO_EDIT, now, command.actor, task_id=task.id, facts=requester)
    form, errors = definition.validate_form(_keeping_files(definition, instance.form, command.form))
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors.items())
        return refuse(RefusalReason.FORM_INVALID, now, command.actor, task_id=task.id, facts={"details": details})
    changes = tuple(
        FieldChange(field=field.id, old=instance.form.get(field.id), new=form.get(field.id))
        for field in definition.form
        if instance.form.get(field.id) != form.get(field.id)
    )
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.close_task(task.model_copy(update={"status": TaskStatus.DONE, "acted_by": command.actor, "acted_at": now}))
    builder.instance = builder.instance.model_copy(update={"form": form, "round": instance.round + 1})
    builder.changes = changes
    builder.events.append(
        Event(
            "form_resubmitted",
            now,
            actor=command.actor,
            task_id=task.id,
            data={"round": instance.round + 1, "changes": [c.model_dump(mode="json") for c in changes]},
        )
    )
    if definition.attachments(form) != definition.attachments(instance.form):
        builder.events[-1].data["files"] = definition.attachments(form)
    builder.enter_stage(instance.stage_index)
    return builder.transition()


def comment(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: CommentOn, now: datetime
) -> Transition | Refusal:
    """Anyone involved (or an admin) may comment; everyone involved sees it."""
    text = command.text.strip()[:3000]
    if not text:
        return refuse(RefusalReason.EMPTY_COMMENT, now, command.actor)
    refusal = comment_refusal(directory, instance, command.actor)
    if refusal is not None:
        return refuse(refusal, now, command.actor)
    people = tuple(dict.fromkeys((instance.requester, *(a for t in instance.open_tasks() for a in t.assignees))))
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.events.append(Event("comment_added", now, actor=command.actor, data={"comment": text}))
    builder.effects.append(CommentAdded(command.actor, text, people))
    return builder.transition()


def _keeping_files(
    definition: WorkflowDefinition, current: Mapping[str, FormValue], submitted: Mapping[str, FormValue]
) -> dict[str, FormValue]:
    """The resubmitted form, where a file field left empty keeps the files it had: a form cannot show the files
    already attached (Slack's file_input has no initial value), so new files replace them and none keeps them."""
    merged = dict(submitted)
    for field in definition.form:
        if field.type is FieldType.FILE and not merged.get(field.id) and current.get(field.id):
            merged[field.id] = current[field.id]
    return merged
