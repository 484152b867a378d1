"""Waits: their time running out, and the requester's *Extend…* that goes back through approval (a wait is
entered by the builder like any step)."""

from __future__ import annotations

from datetime import datetime, timedelta

from .assignees import AssigneeRef, Directory, resolve_first
from .builder import TransitionBuilder, refuse
from .commands import ExtendWait
from .definition import StepKind, WorkflowDefinition
from .events import AddTimers, CancelTimers, Event, ExtensionDecided, Refusal, TaskOpened, TaskProgress, Transition
from .instance import Extension, Instance, Task, TaskStatus
from .refusals import People, RefusalReason, Why
from .timers import wait_timers
from .wording import WordedText, worded
from .worktime import TimeSpan, span_after

__all__ = ["close_extensions", "decide_extension", "extend_wait", "extension_refusal", "wait_over"]


def wait_over(builder: TransitionBuilder, task: Task, late_by: timedelta) -> None:
    """The wait's time is up: close it (and any extension still being decided), and go on when the stage is done."""
    done = task.model_copy(update={"status": TaskStatus.DONE, "acted_at": builder.now})
    builder.close_task(done)
    close_extensions(builder, task, reason="the time was up before anyone decided")
    waited = int(((task.due_at or builder.now) - task.created_at).total_seconds())
    data = {"step": task.step_id, "waited_seconds": waited, "late_by_seconds": int(late_by.total_seconds())}
    builder.events.append(Event("wait_over", builder.now, task_id=task.id, data=data))
    if builder.stage_is_done():
        builder.enter_stage(builder.instance.stage_index + 1)


def close_extensions(builder: TransitionBuilder, wait: Task, *, reason: str) -> None:
    for open_task in builder.instance.open_tasks():
        if open_task.extension is not None and open_task.extension.of == wait.id:
            cancelled = open_task.model_copy(
                update={"status": TaskStatus.CANCELLED, "acted_at": builder.now, "comment": reason}
            )
            builder.close_task(cancelled)
            builder.events.append(Event("task_cancelled", builder.now, task_id=open_task.id, data={"reason": reason}))


def extension_refusal(definition: WorkflowDefinition, instance: Instance, task_id: str, actor: str) -> Why | None:
    """Why `actor` may not ask for more time on this wait now (before they say how much), or None."""
    wait = instance.task(task_id)
    if wait is None or wait.kind is not StepKind.WAIT or wait.due_at is None:
        return Why(RefusalReason.TASK_GONE)
    if not wait.status.is_open or instance.status.is_finished:
        return Why(RefusalReason.ALREADY_CLOSED, {"status": wait.status.value})
    facts: dict[str, str | People | WordedText] = {"title": wait.title}
    if definition.step(wait.step_id).extend is None:
        return Why(RefusalReason.NOT_EXTENDABLE, facts)
    if actor != instance.requester:
        return Why(RefusalReason.NOT_REQUESTER_TO_EXTEND, {**facts, "requester": People((instance.requester,))})
    pending = next((t for t in instance.open_tasks() if t.extension is not None and t.extension.of == wait.id), None)
    if pending is not None:
        return Why(RefusalReason.EXTENSION_PENDING, {**facts, "approvers": People(pending.assignees)})
    return None


def extend_wait(
    definition: WorkflowDefinition, directory: Directory, instance: Instance, command: ExtendWait, now: datetime
) -> Transition | Refusal:
    """The requester asks for more time on an open wait: an approval task for the wait's `extend.approver`."""
    why = extension_refusal(definition, instance, command.task_id, command.actor)
    if why is not None:
        return refuse(why, now, command.actor, task_id=command.task_id)
    wait = instance.task(command.task_id)
    assert wait is not None  # extension_refusal refuses a wait that is not there
    step = definition.step(wait.step_id)
    assert step.extend is not None
    if not 1 <= command.days <= step.extend.most_days:
        most = {"most": str(step.extend.most_days)}
        return refuse(RefusalReason.EXTENSION_LENGTH, now, command.actor, task_id=wait.id, facts=most)
    approvers = resolve_first(
        [AssigneeRef.parse(ref) for ref in step.extend.approver], requester=instance.requester,
        form=instance.form, directory=directory, exclude=frozenset({instance.requester}),
    )  # fmt: skip
    approvers = approvers or tuple(admin for admin in directory.admins if admin != instance.requester)
    if not approvers:
        return refuse(RefusalReason.NOT_EXTENDABLE, now, command.actor, task_id=wait.id, facts={"title": wait.title})
    reason = command.reason.strip()[:500]
    number = sum(1 for t in instance.tasks if t.extension is not None and t.extension.of == wait.id) + 1
    days = f"{command.days} day{'s' if command.days != 1 else ''}"
    extension = Task(
        id=f"{wait.id}.x{number}", instance_id=instance.id, step_id=wait.step_id, kind=StepKind.APPROVAL,
        title=worded("Extend “", wait.title, f"” by {days}", limit=150), assignees=approvers, created_at=now,
        extension=Extension(of=wait.id, days=command.days, reason=reason), round=wait.round,
    )  # fmt: skip
    builder = TransitionBuilder(definition, directory, instance, now, [], [])
    builder.instance = instance.model_copy(update={"tasks": (*instance.tasks, extension)})
    data = {"step": wait.step_id, "days": command.days, "reason": reason, "approvers": list(approvers)}
    builder.events.append(Event("extension_requested", now, actor=command.actor, task_id=extension.id, data=data))
    builder.effects.append(TaskOpened(extension))
    return builder.transition()


def decide_extension(builder: TransitionBuilder, closed: Task, *, approved: bool) -> None:
    """An extension was approved (the wait ends `days` later, its timers planned anew) or refused (it stays)."""
    assert closed.extension is not None
    wait = builder.instance.task(closed.extension.of)
    if wait is None or not wait.status.is_open or wait.due_at is None:
        return
    step = builder.definition.step(wait.step_id)
    if approved:
        length = step.wait_length
        business = length is not None and length.business
        more = TimeSpan(amount=timedelta(days=closed.extension.days), business=business, in_days=business)
        zone = builder.directory.zone_of(builder.instance.requester)
        until = span_after(wait.due_at, more, builder.directory.calendar, zone)
        wait = wait.model_copy(update={"due_at": until, "reminders_sent": 0})
        builder.replace_task(wait)
        builder.effects.append(CancelTimers(wait.id))
        builder.effects.append(AddTimers(wait_timers(step, wait, builder.now)))
        builder.effects.append(TaskProgress(wait))
        data = {"step": wait.step_id, "days": closed.extension.days, "until": until.isoformat()}
        builder.events.append(Event("wait_extended", builder.now, actor=closed.acted_by, task_id=wait.id, data=data))
    builder.effects.append(ExtensionDecided(wait, closed, approved))
