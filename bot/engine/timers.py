"""Reminders, escalations and deadlines as timers: when each falls due, planned from a step's policies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .assignees import Directory
from .definition import Step
from .instance import Task
from .worktime import next_working_moment, span_after

__all__ = ["Timer", "TimerKind", "first_timers", "next_repeat", "polite_moment", "task_due_at", "wait_timers"]


class TimerKind(StrEnum):
    REMIND_BEFORE = "remind_before"
    REMIND_DUE = "remind_due"
    REMIND_OVERDUE = "remind_overdue"
    ESCALATE = "escalate"
    TIMEOUT = "timeout"
    WAIT_OVER = "wait_over"  # a wait step's time is up: the request goes on

    @property
    def is_reminder(self) -> bool:
        return self in (TimerKind.REMIND_BEFORE, TimerKind.REMIND_DUE, TimerKind.REMIND_OVERDUE)


@dataclass(frozen=True)
class Timer:
    """Something to do for a task at a moment; reminders are per recipient so each waits for their hours."""

    task_id: str
    kind: TimerKind
    at: datetime
    recipient: str | None = None
    level: int = 0


def task_due_at(step: Step, assignees: tuple[str, ...], directory: Directory, now: datetime) -> datetime | None:
    """When a new task is due: business time counts in the (first) assignee's own time zone."""
    if step.due is None:
        return None
    zone = directory.zone_of(assignees[0]) if assignees else directory.zone_of("")
    return span_after(now, step.due, directory.calendar, zone)


def deadline_at(step: Step, task: Task, directory: Directory) -> datetime | None:
    """The final deadline, after which `on_timeout` applies: `timeout` from the start, else the due time."""
    if step.on_timeout is None or task.due_at is None:
        return None
    if step.timeout is None:
        return task.due_at
    zone = directory.zone_of(task.assignees[0]) if task.assignees else directory.zone_of("")
    return max(task.due_at, span_after(task.created_at, step.timeout, directory.calendar, zone))


def first_timers(step: Step, task: Task, directory: Directory, now: datetime) -> tuple[Timer, ...]:
    """Every timer a freshly assigned task needs; repeats are planned when their predecessor fires."""
    if task.due_at is None:
        return ()
    timers: list[Timer] = []
    remind = step.remind
    if remind is not None:
        for person in task.assignees:
            if remind.before is not None and task.due_at - remind.before.amount > now:
                timers.append(Timer(task.id, TimerKind.REMIND_BEFORE, task.due_at - remind.before.amount, person))
            if remind.at_due:
                timers.append(Timer(task.id, TimerKind.REMIND_DUE, max(task.due_at, now), person))
            elif remind.repeat is not None:
                timers.append(Timer(task.id, TimerKind.REMIND_OVERDUE, task.due_at + remind.repeat.amount, person))
    if step.escalate is not None:
        zone = directory.zone_of(task.assignees[0]) if task.assignees else directory.zone_of("")
        at = span_after(task.due_at, step.escalate.after, directory.calendar, zone)
        timers.append(Timer(task.id, TimerKind.ESCALATE, max(at, now), level=0))
    deadline = deadline_at(step, task, directory)
    if deadline is not None:
        timers.append(Timer(task.id, TimerKind.TIMEOUT, max(deadline, now)))
    return tuple(timers)


def next_repeat(scheduled: datetime, every: timedelta, now: datetime) -> datetime:
    """The next repeat strictly after now, skipping the ones missed while Baton was down (one, not a burst)."""
    if every <= timedelta(0):
        raise ValueError("a repeat interval must be positive")
    missed = max(0, int((now - scheduled) / every))
    following = scheduled + every * (missed + 1)
    return following if following > now else following + every


def polite_moment(person: str, directory: Directory, now: datetime) -> datetime:
    """Now, if it is working time for `person`; otherwise the start of their next working hours."""
    return next_working_moment(now, directory.calendar, directory.zone_of(person))


def wait_timers(step: Step, task: Task, now: datetime) -> tuple[Timer, ...]:
    """The end of a wait, and its holder's reminder `remind.before` it (when that is still ahead)."""
    if task.due_at is None:
        return ()
    timers = [Timer(task.id, TimerKind.WAIT_OVER, task.due_at)]
    before = step.remind.before if step.remind is not None else None
    if before is not None and task.due_at - before.amount > now:
        at = task.due_at - before.amount
        timers += [Timer(task.id, TimerKind.REMIND_BEFORE, at, person) for person in task.assignees]
    return tuple(timers)
