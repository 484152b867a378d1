"""The workflow state machine: (definition, state, command, now) -> transition or refusal. Pure."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from .assignees import AssigneeRef, Directory, resolve, resolve_first
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
from .definition import ApprovalRule, FieldType, Step, StepKind, TimeoutAction, WorkflowDefinition
from .events import (
    AddTimers,
    CancelTimers,
    CommentAdded,
    Effect,
    EscalateTask,
    Event,
    InstanceFinished,
    NotifyTargets,
    Refusal,
    RemindAssignee,
    RequestReceived,
    TaskClosed,
    TaskHandedOver,
    TaskOpened,
    TaskProgress,
    TellPeople,
    Transition,
)
from .expressions import render_template
from .instance import FieldChange, Instance, InstanceStatus, Task, TaskStatus, Vote
from .timers import Timer, TimerKind, deadline_at, first_timers, next_repeat, polite_moment, task_due_at
from .worktime import next_working_moment

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
_PAST_TENSE = {
    TaskStatus.DONE: "marked done",
    TaskStatus.APPROVED: "approved",
    TaskStatus.REJECTED: "rejected",
    TaskStatus.CANCELLED: "cancelled",
    TaskStatus.CHANGES_REQUESTED: "sent back for changes",
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
    if isinstance(command, ActOnTask | SnoozeTask | ReassignTask | FireTimer | ResubmitForm):
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
    if isinstance(command, FireTimer):
        return _fire(definition, directory, instance, command, now)
    if isinstance(command, SnoozeTask):
        return _snooze(definition, directory, instance, command, now)
    if isinstance(command, ReassignTask):
        return _reassign(definition, directory, instance, command, now)
    if isinstance(command, ResubmitForm):
        return _resubmit(definition, directory, instance, command, now)
    if isinstance(command, CommentOn):
        return _comment(definition, directory, instance, command, now)
    return _act(definition, directory, instance, command, now)


def _act(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ActOnTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return _refuse("That task does not exist (any more).", now, command.actor, task_id=command.task_id)
    if not task.status.is_open:
        return _already_closed(task, command.actor, now)
    if task.kind is StepKind.REVISION:
        return _refuse("Use “Edit and resubmit” to answer the change request.", now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    escalated_here = step.escalation_may_act and command.actor in task.escalated_to
    if command.actor not in task.assignees and not directory.is_admin(command.actor) and not escalated_here:
        holders = ", ".join(f"<@{user}>" for user in task.assignees)
        return _refuse(f"Only {holders} can act on this task.", now, command.actor, task_id=task.id)
    if command.decision not in _DECISION_STATUS:
        return _refuse("Unknown decision.", now, command.actor, task_id=task.id)
    is_approval = task.kind is StepKind.APPROVAL
    if is_approval == (command.decision == Decision.COMPLETE):
        expected = "approved or rejected" if is_approval else "marked done"
        return _refuse(f"This task can only be {expected}.", now, command.actor, task_id=task.id)
    if command.decision == Decision.REQUEST_CHANGES and not step.allow_changes:
        return _refuse(
            "This step does not take change requests: approve or reject.", now, command.actor, task_id=task.id
        )
    earlier = next((vote for vote in task.votes if vote.user == command.actor), None)
    if earlier is not None:
        verb = "approved" if earlier.decision == Decision.APPROVE else "rejected"
        return _refuse(f"You already {verb} this; the others are still deciding.", now, command.actor, task_id=task.id)
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
    if command.decision == Decision.REQUEST_CHANGES and not comment:
        return _refuse("Please say what should change.", now, command.actor, task_id=task.id)
    if is_approval and command.decision in (Decision.APPROVE, Decision.REJECT):
        outcome = _vote(step, task, Vote(user=command.actor, decision=command.decision, at=now, comment=comment))
        if outcome is None:
            return _record_vote(definition, directory, instance, task, command, comment, now)
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
    builder = _Builder(definition, directory, instance, now, [event], [])
    builder.close_task(closed)
    if command.decision == Decision.REJECT:
        builder.finish(InstanceStatus.REJECTED, by=command.actor, reason=comment)
    elif command.decision == Decision.REQUEST_CHANGES:
        builder.send_back(closed, by=command.actor, comment=comment or "")
    elif builder.stage_is_done():
        builder.enter_stage(instance.stage_index + 1)
    return builder.transition()


def _needed_approvals(step: Step, task: Task) -> int:
    if step.rule is ApprovalRule.ALL:
        return len(task.assignees)
    if step.rule is ApprovalRule.QUORUM and step.quorum is not None:
        return min(step.quorum, len(task.assignees))
    return 1


def _vote(step: Step, task: Task, vote: Vote) -> str | None:
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


def _record_vote(
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
    builder = _Builder(definition, directory, instance, now, [], [])
    builder.replace_task(voted)
    builder.effects.append(TaskProgress(voted))
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
        self.changes: tuple[FieldChange, ...] = ()
        self.delegated_from: dict[str, str] = {}

    def transition(self) -> Transition:
        return Transition(
            self.instance.model_copy(update={"updated_at": self.now}), tuple(self.events), tuple(self.effects)
        )

    def replace_task(self, task: Task) -> None:
        tasks = tuple(task if existing.id == task.id else existing for existing in self.instance.tasks)
        self.instance = self.instance.model_copy(update={"tasks": tasks})

    def close_task(self, closed: Task) -> None:
        """Replace a task by its closed self, update its messages and drop its timers."""
        self.replace_task(closed)
        self.effects.append(TaskClosed(closed))
        self.effects.append(CancelTimers(closed.id))

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
        assignees = self._delegate(step, assignees)
        round_suffix = f".r{self.instance.round}" if self.instance.round > 1 else ""
        task = Task(
            id=f"{self.instance.id}.{step.id}{round_suffix}",
            instance_id=self.instance.id,
            step_id=step.id,
            kind=step.type,
            title=render_template(step.title, template_values(self.definition, self.instance)),
            assignees=assignees,
            created_at=self.now,
            due_at=task_due_at(step, assignees, self.directory, self.now),
        )
        task = task.model_copy(
            update={
                "deadline_at": deadline_at(step, task, self.directory),
                "round": self.instance.round,
                "changes": self.changes,
                "delegated_from": self.delegated_from,
            }
        )
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, task)})
        self.events.append(
            Event("task_assigned", self.now, task_id=task.id, data={"step": step.id, "assignees": list(assignees)})
        )
        self.effects.append(TaskOpened(task))
        timers = first_timers(step, task, self.directory, self.now)
        if timers:
            self.effects.append(AddTimers(timers))

    def _delegate(self, step: Step, assignees: tuple[str, ...]) -> tuple[str, ...]:
        """Send each absent person's task to their delegate (never to the requester for an approval)."""
        self.delegated_from = {}
        result: list[str] = []
        for person in assignees:
            delegate = self.directory.delegate_of(person)
            own_request = step.type is StepKind.APPROVAL and delegate == self.instance.requester
            if delegate and delegate != person and not own_request:
                self.delegated_from[delegate] = person
                result.append(delegate)
                self.events.append(
                    Event("task_delegated", self.now, data={"step": step.id, "from": person, "to": delegate})
                )
                title = render_template(step.title, template_values(self.definition, self.instance))
                note = f"While you are away, “{title}” ({self.instance.title}) went to your delegate <@{delegate}>."
                self.effects.append(TellPeople((person,), note))
            else:
                result.append(person)
        return tuple(dict.fromkeys(result))

    def send_back(self, closed: Task, *, by: str, comment: str) -> None:
        """A reviewer asked for changes: close the stage's other tasks and give the requester a revision task."""
        for task in self.instance.open_tasks():
            cancelled = task.model_copy(update={"status": TaskStatus.CANCELLED, "acted_at": self.now})
            self.close_task(cancelled)
        revision = Task(
            id=f"{self.instance.id}.revise.r{self.instance.round}",
            instance_id=self.instance.id,
            step_id="revise",
            kind=StepKind.REVISION,
            title=f"Update your request: {comment}"[:150],
            assignees=(self.instance.requester,),
            created_at=self.now,
            comment=comment,
            acted_by=None,
            round=self.instance.round,
            previous_assignees=(by,),
        )
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, revision)})
        self.events.append(
            Event(
                "revision_requested",
                self.now,
                actor=by,
                task_id=revision.id,
                data={"comment": comment, "round": self.instance.round},
            )
        )
        self.effects.append(TaskOpened(revision))

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
            self.close_task(cancelled)
            self.events.append(Event("task_cancelled", self.now, actor=by, task_id=task.id))
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


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SNOOZE_OPTIONS = {"1h": "1 hour", "tomorrow": "tomorrow morning", "next_week": "next week"}


def _fire(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: FireTimer, now: datetime
) -> Transition | Refusal:
    """A timer fell due: remind, escalate or apply the deadline, at a polite hour for whoever hears of it."""
    task = instance.task(command.task_id)
    if task is None or not task.status.is_open:
        return _refuse("The task is closed; nothing to do.", now, "scheduler", task_id=command.task_id)
    step = definition.step(task.step_id)
    kind = TimerKind(command.kind)
    builder = _Builder(definition, directory, instance, now, [], [])
    late_by = max(timedelta(0), now - command.due_at)
    if kind.is_reminder:
        _remind(builder, step, task, command, kind, late_by)
    elif kind is TimerKind.ESCALATE:
        _escalate(builder, step, task, command, late_by)
    else:
        _time_out(builder, step, task, late_by)
    return builder.transition()


def _later(builder: _Builder, command: FireTimer, at: datetime) -> None:
    kind = TimerKind(command.kind)
    builder.effects.append(AddTimers((Timer(command.task_id, kind, at, command.recipient, command.level),)))


def _remind(builder: _Builder, step: Step, task: Task, command: FireTimer, kind: TimerKind, late_by: timedelta) -> None:
    person = command.recipient
    if person is None or person not in task.assignees:
        return  # the task moved to someone else since this reminder was planned
    polite = polite_moment(person, builder.directory, builder.now)
    if polite > builder.now:
        _later(builder, command, polite)
        return
    due_at = task.due_at or builder.now
    if kind is TimerKind.REMIND_BEFORE and builder.now >= due_at:
        return  # already due: the due-time reminder says it better
    overdue_by = builder.now - due_at if builder.now > due_at else None
    builder.replace_task(task.model_copy(update={"reminders_sent": task.reminders_sent + 1}))
    builder.effects.append(RemindAssignee(task, person, overdue_by))
    builder.events.append(
        Event(
            "reminder_sent",
            builder.now,
            task_id=task.id,
            data={"kind": kind.value, "to": person, "late_by_seconds": int(late_by.total_seconds())},
        )
    )
    repeat = step.remind.repeat if step.remind else None
    if repeat is not None and kind is not TimerKind.REMIND_BEFORE:
        following = next_repeat(max(command.due_at, due_at), repeat.amount, builder.now)
        if task.deadline_at is None or following < task.deadline_at:
            builder.effects.append(AddTimers((Timer(task.id, TimerKind.REMIND_OVERDUE, following, person),)))


def _ladder_people(builder: _Builder, step: Step, task: Task, start_level: int) -> tuple[int, tuple[str, ...]]:
    """The first rung from `start_level` up that names someone other than the current holders."""
    ladder = step.escalate.to if step.escalate else ()
    for level in range(start_level, len(ladder)):
        people = resolve(
            AssigneeRef.parse(ladder[level], allow_assignee=True),
            requester=builder.instance.requester,
            form=builder.instance.form,
            directory=builder.directory,
            assignees=task.assignees,
        )
        others = tuple(p for p in people if p not in task.assignees)
        if others:
            return level, others
    return len(ladder), tuple(a for a in builder.directory.admins if a not in task.assignees)


def _escalate(builder: _Builder, step: Step, task: Task, command: FireTimer, late_by: timedelta) -> None:
    level, people = _ladder_people(builder, step, task, command.level)
    if not people:
        builder.events.append(Event("escalation_unresolved", builder.now, task_id=task.id, data={"level": level}))
        return
    polite = min(polite_moment(person, builder.directory, builder.now) for person in people)
    if polite > builder.now:
        _later(builder, command, polite)
        return
    overdue_by = builder.now - (task.due_at or builder.now)
    escalated = task.model_copy(
        update={
            "escalated_to": tuple(dict.fromkeys((*task.escalated_to, *people))),
            "escalation_level": level + 1,
        }
    )
    builder.replace_task(escalated)
    builder.effects.append(EscalateTask(escalated, people, overdue_by, step.escalation_may_act))
    builder.events.append(
        Event(
            "escalated",
            builder.now,
            task_id=task.id,
            data={"level": level, "to": list(people), "late_by_seconds": int(late_by.total_seconds())},
        )
    )
    escalate = step.escalate
    if escalate is not None and escalate.repeat is not None and level + 1 < len(escalate.to):
        following = next_repeat(command.due_at, escalate.repeat.amount, builder.now)
        builder.effects.append(AddTimers((Timer(task.id, TimerKind.ESCALATE, following, level=level + 1),)))


def _time_out(builder: _Builder, step: Step, task: Task, late_by: timedelta) -> None:
    action = step.on_timeout
    builder.events.append(
        Event(
            "task_timed_out",
            builder.now,
            task_id=task.id,
            data={"action": action.value if action else None, "late_by_seconds": int(late_by.total_seconds())},
        )
    )
    if action is TimeoutAction.REASSIGN:
        _level, people = _ladder_people(builder, step, task, task.escalation_level if task.escalated_to else 0)
        if people:
            _hand_over(builder, step, task, people, by=None, note="No one acted before the deadline.")
        return
    if action is TimeoutAction.CANCEL:
        builder.finish(InstanceStatus.CANCELLED, by=None, reason=f"“{task.title}” passed its deadline.")
        return
    approve = action is TimeoutAction.APPROVE
    comment = "Approved automatically at the deadline." if approve else "No decision before the deadline."
    closed = task.model_copy(
        update={
            "status": TaskStatus.APPROVED if approve else TaskStatus.REJECTED,
            "acted_at": builder.now,
            "comment": comment,
        }
    )
    builder.close_task(closed)
    if not approve:
        builder.finish(InstanceStatus.REJECTED, by=None, reason=comment)
    elif builder.stage_is_done():
        builder.enter_stage(builder.instance.stage_index + 1)


def _hand_over(
    builder: _Builder, step: Step, task: Task, people: tuple[str, ...], *, by: str | None, note: str | None
) -> None:
    """Move a task to new people with a fresh due time; their reminders start over."""
    now = builder.now
    moved = task.model_copy(
        update={
            "assignees": people,
            "previous_assignees": task.assignees,
            "due_at": task_due_at(step, people, builder.directory, now),
            "reminders_sent": 0,
            "snoozed_until": None,
        }
    )
    moved = moved.model_copy(
        update={"deadline_at": deadline_at(step, moved.model_copy(update={"created_at": now}), builder.directory)}
    )
    builder.replace_task(moved)
    builder.effects.append(CancelTimers(task.id))
    builder.effects.append(TaskHandedOver(moved, task.assignees, by, note))
    timers = first_timers(step, moved, builder.directory, now)
    if timers:
        builder.effects.append(AddTimers(timers))
    builder.events.append(
        Event(
            "task_reassigned",
            now,
            actor=by,
            task_id=task.id,
            data={"from": list(task.assignees), "to": list(people), "note": note},
        )
    )


def _reassign(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ReassignTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return _refuse("That task does not exist (any more).", now, command.actor, task_id=command.task_id)
    if task.kind is StepKind.REVISION:
        return _refuse("A change request stays with the requester.", now, command.actor, task_id=task.id)
    allowed = command.actor in task.escalated_to or command.actor in task.assignees or directory.is_admin(command.actor)
    if not allowed:
        return _refuse(
            "Only the people holding this task, those it was escalated to, or an admin can reassign it.",
            now,
            command.actor,
            task_id=task.id,
        )
    if not _USER_ID.match(command.to):
        return _refuse("Pick a person to hand the task to.", now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    if task.kind is StepKind.APPROVAL and command.to == instance.requester and not step.allow_self_approval:
        return _refuse(
            "The requester cannot approve their own request; pick someone else.", now, command.actor, task_id=task.id
        )
    if task.assignees == (command.to,):
        return _refuse(f"<@{command.to}> already holds this task.", now, command.actor, task_id=task.id)
    builder = _Builder(definition, directory, instance, now, [], [])
    note = (command.note or "").strip()[:2000] or None
    _hand_over(builder, step, task, (command.to,), by=command.actor, note=note)
    return builder.transition()


def _snooze(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: SnoozeTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return _refuse("That task does not exist (any more).", now, command.actor, task_id=command.task_id)
    if command.actor not in task.assignees:
        return _refuse("Only the people holding this task can snooze its reminders.", now, command.actor)
    until = snooze_until(command.option, command.actor, directory, now)
    if until is None:
        return _refuse("Pick 1 hour, tomorrow morning or next week.", now, command.actor, task_id=task.id)
    if task.deadline_at is not None:
        until = min(until, task.deadline_at)
    if until <= now:
        return _refuse("The final deadline is too close to snooze this task.", now, command.actor, task_id=task.id)
    due = task.due_at or now
    kind = TimerKind.REMIND_DUE if until < due else TimerKind.REMIND_OVERDUE
    builder = _Builder(definition, directory, instance, now, [], [])
    builder.replace_task(task.model_copy(update={"snoozed_until": until}))
    builder.effects.append(CancelTimers(task.id, recipient=command.actor, reminders_only=True))
    builder.effects.append(
        AddTimers((Timer(task.id, kind, max(until, due) if kind is TimerKind.REMIND_DUE else until, command.actor),))
    )
    builder.events.append(
        Event(
            "task_snoozed",
            now,
            actor=command.actor,
            task_id=task.id,
            data={"option": command.option, "until": until.isoformat()},
        )
    )
    return builder.transition()


def snooze_until(option: str, person: str, directory: Directory, now: datetime) -> datetime | None:
    """When a snooze option ends for this person: in an hour, their next working morning, or next week's."""
    if option == "1h":
        return now + timedelta(hours=1)
    zone = directory.zone_of(person)
    today = now.astimezone(zone).date()
    if option == "tomorrow":
        start = today + timedelta(days=1)
    elif option == "next_week":
        start = today + timedelta(days=7 - today.weekday())
    else:
        return None
    midnight = datetime.combine(start, time(0, 0), tzinfo=zone)
    return next_working_moment(midnight, directory.calendar, zone)


def _resubmit(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ResubmitForm, now: datetime
) -> Transition | Refusal:
    """The requester edited the form: record what changed and run the stage again with the same reviewers."""
    task = instance.task(command.task_id)
    if task is None or task.kind is not StepKind.REVISION:
        return _refuse("There is no change request to answer.", now, command.actor, task_id=command.task_id)
    if command.actor != instance.requester:
        return _refuse(f"Only <@{instance.requester}> can edit this request.", now, command.actor, task_id=task.id)
    form, errors = definition.validate_form(command.form)
    if errors:
        details = "; ".join(f"{field}: {message}" for field, message in errors.items())
        return _refuse(f"The form has problems: {details}", now, command.actor, task_id=task.id)
    changes = tuple(
        FieldChange(field=field.id, old=instance.form.get(field.id), new=form.get(field.id))
        for field in definition.form
        if instance.form.get(field.id) != form.get(field.id)
    )
    builder = _Builder(definition, directory, instance, now, [], [])
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
    builder.enter_stage(instance.stage_index)
    return builder.transition()


def _comment(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: CommentOn, now: datetime
) -> Transition | Refusal:
    """Anyone involved (or an admin) may comment; everyone involved sees it."""
    text = command.text.strip()[:3000]
    if not text:
        return _refuse("Write something to comment.", now, command.actor)
    if not instance.involves(command.actor) and not directory.is_admin(command.actor):
        return _refuse(f"Only the people involved in {instance.title} can comment on it.", now, command.actor)
    people = tuple(dict.fromkeys((instance.requester, *(a for t in instance.open_tasks() for a in t.assignees))))
    builder = _Builder(definition, directory, instance, now, [], [])
    builder.events.append(Event("comment_added", now, actor=command.actor, data={"comment": text}))
    builder.effects.append(CommentAdded(command.actor, text, people))
    return builder.transition()
