"""The workflow state machine: (definition, state, command, now) -> transition or refusal. Pure."""

from __future__ import annotations

from datetime import datetime

from .assignees import AssigneeRef, Directory, resolve
from .builder import TransitionBuilder, already_closed, refuse, template_values
from .commands import (
    ActOnTask,
    CancelInstance,
    Command,
    CommentOn,
    Decision,
    ExtendWait,
    FireTimer,
    ReassignTask,
    ResubmitForm,
    SnoozeTask,
    StartWorkflow,
)
from .deadlines import SNOOZE_OPTIONS, fire, reassign, snooze, snooze_until
from .definition import StepKind, WorkflowDefinition
from .events import Event, Refusal, RequestReceived, Transition
from .extensions import decide_extension, extend_wait
from .instance import Instance, InstanceStatus, Task, TaskStatus, Vote
from .refusals import People, RefusalReason
from .reviews import comment, deciding_vote, record_vote, resubmit

__all__ = ["SNOOZE_OPTIONS", "can_start", "decide", "may_act", "snooze_until", "start", "template_values"]

_DECISION_STATUS = {
    Decision.COMPLETE: TaskStatus.DONE,
    Decision.APPROVE: TaskStatus.APPROVED,
    Decision.REJECT: TaskStatus.REJECTED,
    Decision.REQUEST_CHANGES: TaskStatus.CHANGES_REQUESTED,
}


_DECISION_EVENT = {
    Decision.COMPLETE: "task_completed",
    Decision.APPROVE: "task_approved",
    Decision.REJECT: "task_rejected",
    Decision.REQUEST_CHANGES: "changes_requested",
}


def can_start(
    definition: WorkflowDefinition, directory: Directory, user_id: str, *, admin_rights: bool = True
) -> bool:
    """True when the workflow's start policy lets this person start it (admins always may, unless
    `admin_rights` is off: a system naming an admin must not gain what only the admin may do)."""
    if "everyone" in definition.start.allowed or (admin_rights and directory.is_admin(user_id)):
        return True
    return any(
        user_id in resolve(AssigneeRef.parse(ref), requester=user_id, form={}, directory=directory)
        for ref in definition.start.allowed
    )


def start(
    definition: WorkflowDefinition, directory: Directory, command: StartWorkflow, now: datetime
) -> Transition | Refusal:
    """Start an instance: validate the form, record the request and open the first stage."""
    if command.trigger != "team_join" and not can_start(definition, directory, command.requester):
        workflow = {"workflow": definition.title}
        return refuse(RefusalReason.NOT_ALLOWED_TO_START, now, command.requester, action="start", facts=workflow)
    form, errors = definition.validate_form(command.form, partial=command.trigger == "team_join")
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors.items())
        return refuse(RefusalReason.FORM_INVALID, now, command.requester, action="start", facts={"details": details})
    instance = Instance(
        id=command.instance_id,
        workflow=definition.name,
        definition_version=definition.version,
        title=f"{definition.title} #{command.instance_id}",
        requester=command.requester,
        form=form,
        created_at=now,
        updated_at=now,
        origin_channel=command.origin_channel,
    )
    started = Event(
        "instance_started",
        now,
        actor=command.requester,
        data={"workflow": definition.name, "version": definition.version, "trigger": command.trigger},
    )
    if files := definition.attachments(form):  # in the history and the export, beside who asked
        started.data["files"] = files
    builder = TransitionBuilder(definition, directory, instance, now, [started], [RequestReceived()])
    builder.enter_stage(0)
    return builder.transition()


def decide(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: Command, now: datetime
) -> Transition | Refusal:
    """Apply a person's command to a running instance, enforcing who may do what."""
    if isinstance(command, ActOnTask | SnoozeTask | ReassignTask | FireTimer | ResubmitForm | ExtendWait):
        task = instance.task(command.task_id)
        if task is not None and not task.status.is_open:
            return already_closed(task, command.actor, now)
        if task is not None and task.kind is StepKind.WAIT and not isinstance(command, FireTimer | ExtendWait):
            return _not_work(task, command.actor, now)
    if instance.status.is_finished:
        return _finished(instance, command, now)
    if isinstance(command, ExtendWait):
        return extend_wait(definition, directory, instance, command, now)
    if isinstance(command, CancelInstance):
        return _cancel(definition, directory, instance, command, now)
    if isinstance(command, FireTimer):
        return fire(definition, directory, instance, command, now)
    if isinstance(command, SnoozeTask):
        return snooze(definition, directory, instance, command, now)
    if isinstance(command, ReassignTask):
        return reassign(definition, directory, instance, command, now)
    if isinstance(command, ResubmitForm):
        return resubmit(definition, directory, instance, command, now)
    if isinstance(command, CommentOn):
        return comment(definition, directory, instance, command, now)
    return _act(definition, directory, instance, command, now)


def may_act(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Refusal | None:
    """Whether this person may take this decision on this task now, before they write any comment it needs:
    the refusal `decide` would give, or None. Decides nothing."""
    task = instance.task(command.task_id)
    if task is not None and not task.status.is_open:
        return already_closed(task, command.actor, now)
    if instance.status.is_finished:
        return _finished(instance, command, now)
    return _act_refusal(definition, directory, instance, command, now)


def _act_refusal(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Refusal | None:
    """Who may take which decision on a task, whatever comment comes with it."""
    task = instance.task(command.task_id)
    if task is None:
        return refuse(RefusalReason.TASK_GONE, now, command.actor, task_id=command.task_id)
    if not task.status.is_open:
        return already_closed(task, command.actor, now)
    if task.kind is StepKind.REVISION:
        return refuse(RefusalReason.USE_RESUBMIT, now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    escalated_here = step.escalation_may_act and command.actor in task.escalated_to
    if command.actor not in task.assignees and not directory.is_admin(command.actor) and not escalated_here:
        holders = People(task.assignees)
        return refuse(RefusalReason.NOT_A_HOLDER, now, command.actor, task_id=task.id, facts={"holders": holders})
    if command.decision not in _DECISION_STATUS:
        return refuse(RefusalReason.UNKNOWN_DECISION, now, command.actor, task_id=task.id)
    is_approval = task.kind is StepKind.APPROVAL
    if is_approval == (command.decision == Decision.COMPLETE):
        kind = task.kind.value
        return refuse(RefusalReason.WRONG_DECISION, now, command.actor, task_id=task.id, facts={"kind": kind})
    if command.decision == Decision.REQUEST_CHANGES and (not step.allow_changes or task.extension is not None):
        return refuse(RefusalReason.NO_CHANGE_REQUESTS_HERE, now, command.actor, task_id=task.id)
    earlier = next((vote for vote in task.votes if vote.user == command.actor), None)
    if earlier is not None:
        voted = {"decision": earlier.decision}
        return refuse(RefusalReason.ALREADY_VOTED, now, command.actor, task_id=task.id, facts=voted)
    if command.decision == Decision.APPROVE and command.actor == instance.requester and not step.allow_self_approval:
        return refuse(RefusalReason.OWN_REQUEST_APPROVAL, now, command.actor, task_id=task.id)
    return None


def _act(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Transition | Refusal:
    refusal = _act_refusal(definition, directory, instance, command, now)
    if refusal is not None:
        return refusal
    task = instance.task(command.task_id)
    assert task is not None  # _act_refusal refuses a task that is not there
    step = definition.step(task.step_id)
    is_approval = task.kind is StepKind.APPROVAL
    comment = (command.comment or "").strip() or None
    if command.decision == Decision.REJECT and not comment:
        return refuse(RefusalReason.REASON_NEEDED, now, command.actor, task_id=task.id)
    if command.decision == Decision.REQUEST_CHANGES and not comment:
        return refuse(RefusalReason.CHANGES_NEEDED, now, command.actor, task_id=task.id)
    if is_approval and command.decision in (Decision.APPROVE, Decision.REJECT):
        outcome = deciding_vote(
            step, task, Vote(user=command.actor, decision=command.decision, at=now, comment=comment)
        )
        if outcome is None:
            return record_vote(definition, directory, instance, task, command, comment, now)
    closed = task.model_copy(
        update={
            "status": _DECISION_STATUS[command.decision],
            "acted_by": command.actor,
            "acted_at": now,
            "comment": comment,
        }
    )
    event = Event(
        _DECISION_EVENT[command.decision],
        now,
        actor=command.actor,
        task_id=task.id,
        data={"step": task.step_id, "comment": comment, "on_behalf": command.actor not in task.assignees},
    )
    if task.votes or is_approval:
        closed = closed.model_copy(
            update={
                "votes": (*task.votes, Vote(user=command.actor, decision=command.decision, at=now, comment=comment))
            }
        )
    builder = TransitionBuilder(definition, directory, instance, now, [event], [])
    builder.close_task(closed)
    if closed.extension is not None:  # more time for a wait, or not: the request itself goes on either way
        decide_extension(builder, closed, approved=command.decision == Decision.APPROVE)
    elif command.decision == Decision.REJECT:
        builder.finish(InstanceStatus.REJECTED, by=command.actor, reason=comment)
    elif command.decision == Decision.REQUEST_CHANGES:
        builder.send_back(closed, by=command.actor, comment=comment or "")
    elif builder.stage_is_done():
        builder.enter_stage(instance.stage_index + 1)
    return builder.transition()


def _cancel(
    definition: WorkflowDefinition,
    directory: Directory,
    instance: Instance,
    command: CancelInstance,
    now: datetime,
) -> Transition | Refusal:
    if command.actor != instance.requester and not directory.is_admin(command.actor):
        facts: dict[str, str | People] = {"requester": People((instance.requester,)), "title": instance.title}
        return refuse(RefusalReason.NOT_ALLOWED_TO_CANCEL, now, command.actor, action="cancel", facts=facts)
    reason = (command.reason or "").strip() or None
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.finish(InstanceStatus.CANCELLED, by=command.actor, reason=reason)
    return builder.transition()


def _not_work(task: Task, actor: str, now: datetime) -> Refusal:
    return refuse(RefusalReason.WAIT_IS_NOT_WORK, now, actor, task_id=task.id, facts={"title": task.title})


def _finished(instance: Instance, command: Command, now: datetime) -> Refusal:
    facts = {"title": instance.title, "status": instance.status.value}
    return refuse(RefusalReason.INSTANCE_FINISHED, now, command.actor, facts=facts)
