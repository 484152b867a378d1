"""Time-driven commands: a timer falls due (remind, escalate, deadline), snoozes and reassignments."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from .assignees import AssigneeRef, Directory, resolve
from .builder import TransitionBuilder, refuse
from .commands import FireTimer, ReassignTask, SnoozeTask
from .definition import ApprovalRule, Step, StepKind, TimeoutAction, WorkflowDefinition
from .events import AddTimers, CancelTimers, EscalateTask, Event, Refusal, RemindAssignee, TaskHandedOver, Transition
from .extensions import wait_over
from .instance import Instance, InstanceStatus, Task, TaskStatus
from .permissions import NOT_YOURS, hand_over_refusal, may_not_approve
from .refusals import People, RefusalReason
from .timers import Timer, TimerKind, deadline_at, first_timers, next_repeat, polite_moment, task_due_at
from .worktime import next_working_moment

__all__ = ["SNOOZE_OPTIONS", "fire", "hand_over", "reassign", "snooze", "snooze_until"]

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


SNOOZE_OPTIONS = {"1h": "1 hour", "tomorrow": "tomorrow morning", "next_week": "next week"}


def fire(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: FireTimer, now: datetime
) -> Transition | Refusal:
    """A timer fell due: remind, escalate or apply the deadline, at a polite hour for whoever hears of it."""
    task = instance.task(command.task_id)
    if task is None or not task.status.is_open:
        return refuse(RefusalReason.TIMER_TASK_CLOSED, now, "scheduler", task_id=command.task_id)
    if task.kind is StepKind.REVISION:  # no step of the workflow: it has no reminders, escalations or deadline
        return refuse(RefusalReason.REVISION_HAS_NO_TIMERS, now, "scheduler", task_id=task.id)
    step = definition.step(task.step_id)
    kind = TimerKind(command.kind)
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    late_by = max(timedelta(0), now - command.due_at)
    if kind is TimerKind.WAIT_OVER:
        wait_over(builder, task, late_by)
    elif kind.is_reminder:
        _remind(builder, step, task, command, kind, late_by)
    elif kind is TimerKind.ESCALATE:
        _escalate(builder, step, task, command, late_by)
    else:
        _time_out(builder, step, task, late_by)
    return builder.transition()


def _later(builder: TransitionBuilder, command: FireTimer, at: datetime) -> None:
    kind = TimerKind(command.kind)
    builder.effects.append(AddTimers((Timer(command.task_id, kind, at, command.recipient, command.level),)))


def _remind(
    builder: TransitionBuilder, step: Step, task: Task, command: FireTimer, kind: TimerKind, late_by: timedelta
) -> None:
    person = command.recipient
    if person is None or person not in task.assignees:
        return  # the task moved to someone else since this reminder was planned
    if any(vote.user == person for vote in task.votes):
        return  # they have decided; the others are still deciding
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


def _ladder_people(builder: TransitionBuilder, step: Step, task: Task, start_level: int) -> tuple[int, tuple[str, ...]]:
    """The first rung from `start_level` up that names someone other than the current holders (and, for an
    approval, other than the requester: they may neither decide their own request nor pick who does)."""
    ladder = step.escalate.to if step.escalate else ()
    excluded = {*task.assignees, *may_not_approve(builder.definition, builder.instance, step.id)}
    for level in range(start_level, len(ladder)):
        people = resolve(
            AssigneeRef.parse(ladder[level], allow_assignee=True),
            requester=builder.instance.requester,
            form=builder.instance.form,
            directory=builder.directory,
            assignees=task.assignees,
        )
        others = tuple(p for p in people if p not in excluded)
        if others:
            return level, others
    return len(ladder), tuple(a for a in builder.directory.admins if a not in excluded)


def _shares_seats(step: Step, task: Task) -> bool:
    """Whether several people decide this task together (rule all or quorum), each in a seat of their own."""
    return task.kind is StepKind.APPROVAL and step.rule is not ApprovalRule.ANY and len(task.assignees) > 1


def _fill_open_seats(task: Task, newcomers: tuple[str, ...]) -> tuple[str, ...]:
    """The holders once `newcomers` take the seats of people who have not decided, one newcomer per seat, so the
    rule needs as many people as before. Seats held longest go first: a second reassignment moves the next seat,
    not the one just filled."""
    decided = {vote.user for vote in task.votes}
    just_placed = set(task.assignees) - set(task.previous_assignees) if task.previous_assignees else set()
    undecided = sorted((p for p in task.assignees if p not in decided), key=lambda p: p in just_placed)
    moving = dict(zip(undecided, newcomers, strict=False))
    return tuple(moving.get(person, person) for person in task.assignees)


def _escalate(builder: TransitionBuilder, step: Step, task: Task, command: FireTimer, late_by: timedelta) -> None:
    if command.recipient is not None:  # one person's share of an escalation, held for their working hours
        person = command.recipient
        if person in task.assignees or person in task.escalated_to:
            return  # they hold the task now, or have heard already
        polite = polite_moment(person, builder.directory, builder.now)
        if polite > builder.now:
            _later(builder, command, polite)
            return
        _tell_escalation(builder, step, task, (person,), command.level, late_by)
        return
    level, people = _ladder_people(builder, step, task, command.level)
    if not people:
        builder.events.append(Event("escalation_unresolved", builder.now, task_id=task.id, data={"level": level}))
        return
    moments = {person: polite_moment(person, builder.directory, builder.now) for person in people}
    ready = tuple(person for person in people if moments[person] <= builder.now)
    if not ready:
        _later(builder, command, min(moments.values()))
        return
    # Those in their working hours hear now; each of the others when their own working day starts.
    held = tuple(
        Timer(task.id, TimerKind.ESCALATE, moments[person], person, level) for person in people if person not in ready
    )
    if held:
        builder.effects.append(AddTimers(held))
    _tell_escalation(builder, step, task, ready, level, late_by)
    escalate = step.escalate
    if escalate is not None and escalate.repeat is not None and level + 1 < len(escalate.to):
        following = next_repeat(command.due_at, escalate.repeat.amount, builder.now)
        builder.effects.append(AddTimers((Timer(task.id, TimerKind.ESCALATE, following, level=level + 1),)))


def _tell_escalation(
    builder: TransitionBuilder, step: Step, task: Task, people: tuple[str, ...], level: int, late_by: timedelta
) -> None:
    task = builder.instance.task(task.id) or task  # this transition may have changed it already
    overdue_by = builder.now - (task.due_at or builder.now)
    escalated = task.model_copy(
        update={
            "escalated_to": tuple(dict.fromkeys((*task.escalated_to, *people))),
            "escalation_level": max(task.escalation_level, level + 1),
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


def _time_out(builder: TransitionBuilder, step: Step, task: Task, late_by: timedelta) -> None:
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
        # Each deadline passed climbs one rung: the holders so far, then the next rung, up to the admins.
        level, people = _ladder_people(builder, step, task, task.escalation_level)
        if people and _shares_seats(step, task):
            people = _fill_open_seats(task, people)  # the next rung takes the seats of those who did not act
        if people:
            hand_over(builder, step, task, people, by=None, note="No one acted before the deadline.", rung=level + 1)
        return
    if action is TimeoutAction.CANCEL:
        builder.finish(InstanceStatus.CANCELLED, by=None, reason=f"“{builder.plain(step.title)}” passed its deadline.")
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


def hand_over(
    builder: TransitionBuilder,
    step: Step,
    task: Task,
    people: tuple[str, ...],
    *,
    by: str | None,
    note: str | None,
    rung: int | None = None,
) -> None:
    """Move a task to new people with a fresh due time; their reminders start over. `rung`: the escalation
    ladder's level the task has now reached (a deadline passed), so the next deadline climbs further."""
    now = builder.now
    moved = task.model_copy(
        update={
            "assignees": people,
            "previous_assignees": task.assignees,
            "former_assignees": tuple(
                dict.fromkeys((*task.former_assignees, *(person for person in task.assignees if person not in people)))
            ),
            "due_at": task_due_at(step, people, builder.directory, now),
            "reminders_sent": 0,
            "snoozed_until": None,
            **({"escalation_level": rung} if rung is not None else {}),
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


def reassign(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ReassignTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    refusal = hand_over_refusal(definition, directory, instance, command.task_id, command.actor)
    if task is None or refusal is not None:
        return refuse(refusal or NOT_YOURS, now, command.actor, task_id=command.task_id)
    if not _USER_ID.match(command.to):
        return refuse(RefusalReason.PICK_A_PERSON, now, command.actor, task_id=task.id)
    step = definition.step(task.step_id)
    if command.to in may_not_approve(definition, instance, step.id):
        return refuse(RefusalReason.REQUESTER_AS_APPROVER, now, command.actor, task_id=task.id)
    if command.to == command.actor:  # to act on it, the step must let you: handing it to yourself is no way round
        return refuse(RefusalReason.HAND_TO_SELF, now, command.actor, task_id=task.id)
    if command.to in task.assignees:
        holder = {"person": People((command.to,))}
        return refuse(RefusalReason.ALREADY_HOLDS, now, command.actor, task_id=task.id, facts=holder)
    people: tuple[str, ...] = (command.to,)
    if command.actor in task.assignees and len(task.assignees) > 1:
        # One of several deciders hands on their own seat only, so a rule (all, quorum) keeps its head count.
        people = tuple(command.to if person == command.actor else person for person in task.assignees)
    elif _shares_seats(step, task):
        # Someone else (an escalation receiver, an admin) moves one seat of someone who has not decided: the
        # rule still needs as many people, and the decisions already made stand.
        people = _fill_open_seats(task, people)
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    note = (command.note or "").strip()[:2000] or None
    hand_over(builder, step, task, people, by=command.actor, note=note)
    return builder.transition()


def snooze(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: SnoozeTask, now: datetime
) -> Transition | Refusal:
    task = instance.task(command.task_id)
    if task is None:
        return refuse(RefusalReason.TASK_GONE, now, command.actor, task_id=command.task_id)
    if command.actor not in task.assignees:
        return refuse(RefusalReason.NOT_HOLDER_TO_SNOOZE, now, command.actor)
    if task.kind is StepKind.REVISION:
        return refuse(RefusalReason.REVISION_HAS_NO_REMINDERS, now, command.actor, task_id=task.id)
    until = snooze_until(command.option, command.actor, directory, now)
    if until is None:
        return refuse(RefusalReason.UNKNOWN_SNOOZE, now, command.actor, task_id=task.id)
    if task.deadline_at is not None:
        until = min(until, task.deadline_at)
    if until <= now:
        return refuse(RefusalReason.DEADLINE_TOO_CLOSE, now, command.actor, task_id=task.id)
    due = task.due_at or now
    kind = TimerKind.REMIND_DUE if until < due else TimerKind.REMIND_OVERDUE
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
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
