"""The workflow state machine: (definition, state, command, now) -> transition or refusal. Pure."""

from __future__ import annotations

from datetime import datetime

from .assignees import AssigneeRef, Directory, resolve, resolve_first
from .commands import ActOnTask, CancelInstance, Command, Decision, StartWorkflow
from .definition import FieldType, Step, StepKind, WorkflowDefinition
from .events import (
    Effect,
    Event,
    InstanceFinished,
    NotifyTargets,
    Refusal,
    RequestReceived,
    TaskClosed,
    TaskOpened,
    Transition,
)
from .expressions import render_template
from .instance import Instance, InstanceStatus, Task, TaskStatus

__all__ = ["can_start", "decide", "start", "template_values"]

_DECISION_STATUS = {
    Decision.COMPLETE: TaskStatus.DONE,
    Decision.APPROVE: TaskStatus.APPROVED,
    Decision.REJECT: TaskStatus.REJECTED,
}
_DECISION_EVENT = {
    Decision.COMPLETE: "task_completed",
    Decision.APPROVE: "task_approved",
    Decision.REJECT: "task_rejected",
}
_PAST_TENSE = {
    TaskStatus.DONE: "marked done",
    TaskStatus.APPROVED: "approved",
    TaskStatus.REJECTED: "rejected",
    TaskStatus.CANCELLED: "cancelled",
}


def can_start(definition: WorkflowDefinition, directory: Directory, user_id: str) -> bool:
    """True when the workflow's start policy lets this person start it (admins always may)."""
    if "everyone" in definition.start.allowed or directory.is_admin(user_id):
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
        return _refuse(
            f"You are not among the people who may start *{definition.title}*. Ask the process owner if you need it.",
            now,
            command.requester,
            action="start",
        )
    form, errors = definition.validate_form(command.form, partial=command.trigger == "team_join")
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors.items())
        return _refuse(f"The form has problems: {details}", now, command.requester, action="start")
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
    builder = _Builder(definition, directory, instance, now, [started], [RequestReceived()])
    builder.enter_stage(0)
    return builder.transition()


def decide(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: Command, now: datetime
) -> Transition | Refusal:
    """Apply a person's command to a running instance, enforcing who may do what."""
    if isinstance(command, ActOnTask):
        task = instance.task(command.task_id)
        if task is not None and not task.status.is_open:
            return _already_closed(task, command.actor, now)
    if instance.status.is_finished:
        return _refuse(
            f"{instance.title} is already {instance.status.value}; nothing more can be done on it.",
            now,
            _actor(command),
        )
    if isinstance(command, CancelInstance):
        return _cancel(definition, directory, instance, command, now)
    return _act(definition, directory, instance, command, now)


def _act(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return _refuse("That task does not exist (any more).", now, command.actor, task_id=command.task_id)
    if not task.status.is_open:
        return _already_closed(task, command.actor, now)
    if command.actor not in task.assignees and not directory.is_admin(command.actor):
        holders = ", ".join(f"<@{user}>" for user in task.assignees)
        return _refuse(f"Only {holders} can act on this task.", now, command.actor, task_id=task.id)
    if command.decision not in _DECISION_STATUS:
        return _refuse("Unknown decision.", now, command.actor, task_id=task.id)
    is_approval = task.kind is StepKind.APPROVAL
    if is_approval == (command.decision == Decision.COMPLETE):
        expected = "approved or rejected" if is_approval else "marked done"
        return _refuse(f"This task can only be {expected}.", now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    if command.decision == Decision.APPROVE and command.actor == instance.requester and not step.allow_self_approval:
        return _refuse(
            "You raised this request, so you cannot approve it yourself (separation of duties).",
            now,
            command.actor,
            task_id=task.id,
        )
    comment = (command.comment or "").strip() or None
    if command.decision == Decision.REJECT and not comment:
        return _refuse("Please give a reason when you reject.", now, command.actor, task_id=task.id)
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
    builder = _Builder(definition, directory, instance, now, [event], [])
    builder.replace_task(closed)
    builder.effects.append(TaskClosed(closed))
    if command.decision == Decision.REJECT:
        builder.finish(InstanceStatus.REJECTED, by=command.actor, reason=comment)
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
        return _refuse(
            f"Only <@{instance.requester}> (who asked for it) or an admin can cancel {instance.title}.",
            now,
            command.actor,
            action="cancel",
        )
    reason = (command.reason or "").strip() or None
    builder = _Builder(definition, directory, instance, now, [], [])
    builder.finish(InstanceStatus.CANCELLED, by=command.actor, reason=reason)
    return builder.transition()


class _Builder:
    """Accumulates one transition's state changes, events and effects."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        directory: Directory,
        instance: Instance,
        now: datetime,
        events: list[Event],
        effects: list[Effect],
    ) -> None:
        self.definition = definition
        self.directory = directory
        self.instance = instance
        self.now = now
        self.events = events
        self.effects = effects

    def transition(self) -> Transition:
        return Transition(
            self.instance.model_copy(update={"updated_at": self.now}), tuple(self.events), tuple(self.effects)
        )

    def replace_task(self, task: Task) -> None:
        tasks = tuple(task if existing.id == task.id else existing for existing in self.instance.tasks)
        self.instance = self.instance.model_copy(update={"tasks": tasks})

    def stage_is_done(self) -> bool:
        step_ids = {step.id for step in self.definition.stage_steps(self.instance.stage_index)}
        return not any(task.status.is_open and task.step_id in step_ids for task in self.instance.tasks)

    def enter_stage(self, index: int) -> None:
        """Open the stage at index; stages with nothing to wait for are passed through at once."""
        while index < len(self.definition.steps):
            self.instance = self.instance.model_copy(update={"stage_index": index})
            for step in self.definition.stage_steps(index):
                self._enter_step(step)
                if self.instance.status.is_finished:
                    return
            if not self.stage_is_done():
                return
            index += 1
        self.finish(InstanceStatus.COMPLETED, by=None, reason=None)

    def _enter_step(self, step: Step) -> None:
        condition = step.condition
        if condition and not condition.evaluate(self.instance.form):
            self.events.append(Event("step_skipped", self.now, data={"step": step.id, "when": step.when}))
            return
        if step.type is StepKind.NOTIFY:
            self._notify(step)
            return
        assignees = self._assignees_for(step)
        if not assignees:
            self.finish(
                InstanceStatus.FAILED,
                by=None,
                reason=f"Nobody could be found for step “{step.title}” ({', '.join(step.assignee)}) "
                "and no admin is configured.",
            )
            return
        task = Task(
            id=f"{self.instance.id}.{step.id}",
            instance_id=self.instance.id,
            step_id=step.id,
            kind=step.type,
            title=render_template(step.title, template_values(self.definition, self.instance)),
            assignees=assignees,
            created_at=self.now,
            due_at=self.now + step.due if step.due else None,
        )
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, task)})
        self.events.append(
            Event("task_assigned", self.now, task_id=task.id, data={"step": step.id, "assignees": list(assignees)})
        )
        self.effects.append(TaskOpened(task))

    def _assignees_for(self, step: Step) -> tuple[str, ...]:
        exclude = frozenset(
            {self.instance.requester} if step.type is StepKind.APPROVAL and not step.allow_self_approval else ()
        )
        people = resolve_first(
            step.assignee_refs,
            requester=self.instance.requester,
            form=self.instance.form,
            directory=self.directory,
            exclude=exclude,
        )
        if people:
            return people
        admins = tuple(admin for admin in self.directory.admins if admin not in exclude)
        self.events.append(
            Event(
                "assignee_fallback",
                self.now,
                data={"step": step.id, "wanted": list(step.assignee), "assigned_to_admins": list(admins)},
            )
        )
        return admins

    def _notify(self, step: Step) -> None:
        people: list[str] = []
        channels: list[str] = []
        for ref in step.target_refs:
            if ref.kind == "channel":
                channels.append(ref.name)
                continue
            people.extend(
                resolve(ref, requester=self.instance.requester, form=self.instance.form, directory=self.directory)
            )
        text = render_template(step.text or "", template_values(self.definition, self.instance))
        people_unique = tuple(dict.fromkeys(people))
        self.events.append(
            Event(
                "notified",
                self.now,
                data={"step": step.id, "people": list(people_unique), "channels": channels},
            )
        )
        self.effects.append(NotifyTargets(step.id, people_unique, tuple(channels), text))

    def finish(self, status: InstanceStatus, *, by: str | None, reason: str | None) -> None:
        for task in self.instance.open_tasks():
            cancelled = task.model_copy(update={"status": TaskStatus.CANCELLED, "acted_at": self.now})
            self.replace_task(cancelled)
            self.events.append(Event("task_cancelled", self.now, actor=by, task_id=task.id))
            self.effects.append(TaskClosed(cancelled))
        self.instance = self.instance.model_copy(
            update={"status": status, "finished_at": self.now, "finished_by": by, "outcome_reason": reason}
        )
        self.events.append(
            Event(f"instance_{status.value}", self.now, actor=by, data={"reason": reason} if reason else {})
        )
        self.effects.append(InstanceFinished())


def template_values(definition: WorkflowDefinition, instance: Instance) -> dict[str, str]:
    """Values for `{...}` placeholders: form fields (people as mentions), requester, workflow, instance."""
    values = {
        "requester": f"<@{instance.requester}>",
        "workflow": definition.title,
        "instance": f"#{instance.id}",
        "title": instance.title,
    }
    for field in definition.form:
        value = instance.form.get(field.id)
        if value is None:
            shown = "—"
        elif field.type is FieldType.USER:
            shown = f"<@{value}>"
        elif field.type is FieldType.SELECT:
            shown = next((o.label for o in field.options if o.value == value), str(value))
        else:
            shown = str(value)
        values[f"form.{field.id}"] = shown
    return values


def _already_closed(task: Task, actor: str, now: datetime) -> Refusal:
    who = f" by <@{task.acted_by}>" if task.acted_by else ""
    return _refuse(
        f"This task was already {_PAST_TENSE[task.status]}{who}; nothing changed.", now, actor, task_id=task.id
    )


def _actor(command: Command) -> str:
    return command.actor


def _refuse(
    reason: str, now: datetime, actor: str, *, task_id: str | None = None, action: str | None = None
) -> Refusal:
    data = {"reason": reason, **({"action": action} if action else {})}
    return Refusal(reason, Event("action_refused", now, actor=actor, task_id=task_id, data=data))
