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
    FireTimer,
    ReassignTask,
    ResubmitForm,
    SnoozeTask,
    StartWorkflow,
)
from .deadlines import SNOOZE_OPTIONS, fire, reassign, snooze, snooze_until
from .definition import StepKind, WorkflowDefinition
from .events import Event, Refusal, RequestReceived, Transition
from .instance import Instance, InstanceStatus, TaskStatus, Vote
from .reviews import comment, deciding_vote, record_vote, resubmit

__all__ = ["SNOOZE_OPTIONS", "can_start", "decide", "snooze_until", "start", "template_values"]

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
        return refuse(
            f"You are not among the people who may start *{definition.title}*. Ask the process owner if you need it.",
            now,
            command.requester,
            action="start",
        )
    form, errors = definition.validate_form(command.form, partial=command.trigger == "team_join")
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors.items())
        return refuse(f"The form has problems: {details}", now, command.requester, action="start")
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
    builder = TransitionBuilder(definition, directory, instance, now, [started], [RequestReceived()])
    builder.enter_stage(0)
    return builder.transition()


def decide(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: Command, now: datetime
) -> Transition | Refusal:
    """Apply a person's command to a running instance, enforcing who may do what."""
    if isinstance(command, ActOnTask | SnoozeTask | ReassignTask | FireTimer | ResubmitForm):
        task = instance.task(command.task_id)
        if task is not None and not task.status.is_open:
            return already_closed(task, command.actor, now)
    if instance.status.is_finished:
        return refuse(
            f"{instance.title} is already {instance.status.value}; nothing more can be done on it.",
            now,
            _actor(command),
        )
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


def _act(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return refuse("That task does not exist (any more).", now, command.actor, task_id=command.task_id)
    if not task.status.is_open:
        return already_closed(task, command.actor, now)
    if task.kind is StepKind.REVISION:
        return refuse("Use “Edit and resubmit” to answer the change request.", now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    escalated_here = step.escalation_may_act and command.actor in task.escalated_to
    if command.actor not in task.assignees and not directory.is_admin(command.actor) and not escalated_here:
        holders = ", ".join(f"<@{user}>" for user in task.assignees)
        return refuse(f"Only {holders} can act on this task.", now, command.actor, task_id=task.id)
    if command.decision not in _DECISION_STATUS:
        return refuse("Unknown decision.", now, command.actor, task_id=task.id)
    is_approval = task.kind is StepKind.APPROVAL
    if is_approval == (command.decision == Decision.COMPLETE):
        expected = "approved or rejected" if is_approval else "marked done"
        return refuse(f"This task can only be {expected}.", now, command.actor, task_id=task.id)
    if command.decision == Decision.REQUEST_CHANGES and not step.allow_changes:
        return refuse(
            "This step does not take change requests: approve or reject.", now, command.actor, task_id=task.id
        )
    earlier = next((vote for vote in task.votes if vote.user == command.actor), None)
    if earlier is not None:
        verb = "approved" if earlier.decision == Decision.APPROVE else "rejected"
        return refuse(f"You already {verb} this; the others are still deciding.", now, command.actor, task_id=task.id)
    if command.decision == Decision.APPROVE and command.actor == instance.requester and not step.allow_self_approval:
        return refuse(
            "You raised this request, so you cannot approve it yourself (separation of duties).",
            now,
            command.actor,
            task_id=task.id,
        )
    comment = (command.comment or "").strip() or None
    if command.decision == Decision.REJECT and not comment:
        return refuse("Please give a reason when you reject.", now, command.actor, task_id=task.id)
    if command.decision == Decision.REQUEST_CHANGES and not comment:
        return refuse("Please say what should change.", now, command.actor, task_id=task.id)
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
    if command.decision == Decision.REJECT:
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
        return refuse(
            f"Only <@{instance.requester}> (who asked for it) or an admin can cancel {instance.title}.",
            now,
            command.actor,
            action="cancel",
        )
    reason = (command.reason or "").strip() or None
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.finish(InstanceStatus.CANCELLED, by=command.actor, reason=reason)
    return builder.transition()


def _actor(command: Command) -> str:
    return command.actor
