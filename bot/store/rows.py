"""How Baton's records become table rows and back: times as epoch seconds, the column values of each write,
and the columns (in order) that a claimed outbox message or timer is read from."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from bot.engine import AddTimers, CancelTimers, Event, Instance, StepKind, Task
from bot.engine.timers import Timer

from .records import DueTimer, MessageRef, OutboxMessage, PendingMessage

__all__ = [
    "OUTBOX_COLUMNS",
    "OUTBOX_WRITTEN",
    "TIMER_COLUMNS",
    "TimerChange",
    "due_timer",
    "epoch",
    "event_row",
    "holders_of_work",
    "instance_row",
    "moment",
    "outbox_row",
    "pending_message",
    "task_row",
    "task_writes",
    "timer_row",
    "timer_writes",
]

# A timer effect of a transition, with the instance it belongs to.
TimerChange = tuple[int, AddTimers | CancelTimers]

# What enqueueing writes of each outbox row, in the order `outbox_row` gives the values.
OUTBOX_WRITTEN = (
    "conversation",
    "method",
    "args",
    "message_key",
    "instance_id",
    "next_attempt_at",
    "created_at",
    "thread_of",
    "link_to",
    "render",
)
# What an outbox claim reads of each row, in this order, followed by its message's channel and ts.
OUTBOX_COLUMNS = (
    "id",
    "conversation",
    "method",
    "args",
    "message_key",
    "instance_id",
    "attempts",
    "created_at",
    "thread_of",
    "link_to",
    "render",
)
# What a timer is read from, in this order.
TIMER_COLUMNS = ("id", "instance_id", "task_id", "kind", "due_at", "recipient", "level")


def epoch(value: datetime) -> float:
    """A moment as stored: seconds since the epoch (portable across SQLite and PostgreSQL)."""
    return value.timestamp()


def moment(value: float) -> datetime:
    """A stored time back as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def _maybe(value: datetime | None) -> float | None:
    return epoch(value) if value is not None else None


def instance_row(instance: Instance) -> tuple[Any, ...]:
    """(id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)"""
    return (
        instance.id,
        instance.workflow,
        instance.definition_version,
        instance.requester,
        instance.status.value,
        instance.model_dump_json(),
        epoch(instance.created_at),
        epoch(instance.updated_at),
        _maybe(instance.finished_at),
    )


def task_row(task: Task) -> tuple[Any, ...]:
    """(id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)"""
    return (
        task.id,
        task.instance_id,
        task.step_id,
        task.status.value,
        epoch(task.created_at),
        _maybe(task.due_at),
        task.acted_by,
        _maybe(task.acted_at),
    )


def event_row(instance_id: int, event: Event) -> tuple[Any, ...]:
    """(instance_id, kind, at, actor, task_id, data)"""
    return (instance_id, event.kind, epoch(event.at), event.actor, event.task_id, json.dumps(event.data, default=str))


def outbox_row(message: OutboxMessage, now: datetime) -> tuple[Any, ...]:
    """The values of OUTBOX_WRITTEN."""
    return (
        message.conversation,
        message.method,
        _args_json(message.args),
        message.message_key,
        message.instance_id,
        epoch(now),
        epoch(now),
        message.thread_of,
        message.link_to,
        message.render,
    )


def _args_json(args: Mapping[str, Any]) -> str:
    """pydantic's encoder (a third of json.dumps' time on a Block Kit payload); json.dumps for what it cannot
    encode, such as a lone surrogate that a JSON escape (`\\ud800`) put in typed text."""
    try:
        return to_json(args).decode()
    except PydanticSerializationError:
        return json.dumps(args)


def pending_message(row: Sequence[Any]) -> PendingMessage:
    """An outbox message from OUTBOX_COLUMNS, then the channel and ts its message_key was posted at (or NULLs)."""
    channel, ts = row[len(OUTBOX_COLUMNS)], row[len(OUTBOX_COLUMNS) + 1]
    return PendingMessage(
        id=row[0],
        message=OutboxMessage(row[1], row[2], json.loads(row[3]), row[4], row[5], row[8], row[9], row[10]),
        attempts=row[6],
        created_at=moment(row[7]),
        posted_at=MessageRef(channel, ts) if channel is not None else None,
    )


def due_timer(row: Sequence[Any]) -> DueTimer:
    """A timer from TIMER_COLUMNS."""
    return DueTimer(row[0], row[1], row[2], row[3], moment(row[4]), row[5], row[6])


def timer_row(instance_id: int, timer: Timer) -> tuple[Any, ...]:
    """(task_id, instance_id, kind, due_at, recipient, level)"""
    return (timer.task_id, instance_id, timer.kind.value, epoch(timer.at), timer.recipient, timer.level)


def task_writes(
    tasks: Sequence[Task], stored: Mapping[str, tuple[str, float | None]]
) -> tuple[list[tuple[Any, ...]], dict[str, tuple[str, ...]]]:
    """The task rows that saving these task states one after another writes, and each written task's final
    assignees. A state is written when its status or due time differs from the last one written (`stored`:
    (status, due_at) of the rows in the table now), as the single-task upsert does."""
    marks = dict(stored)
    rows: list[tuple[Any, ...]] = []
    assignees: dict[str, tuple[str, ...]] = {}
    for task in tasks:
        row = task_row(task)
        mark = (row[3], row[5])
        if marks.get(task.id) == mark:
            continue
        marks[task.id] = mark
        rows.append(row)
        assignees[task.id] = holders_of_work(task)
    return rows, assignees


def holders_of_work(task: Task) -> tuple[str, ...]:
    """Whose open work a task is, as `task_assignees` lists it for task lists, digests and hand-overs: nobody's
    for a wait (its holder only hears of it and may ask for more time)."""
    return () if task.kind is StepKind.WAIT else task.assignees


def timer_writes(
    changes: Sequence[TimerChange],
) -> tuple[list[tuple[str, str | None, bool]], list[tuple[Any, ...]]]:
    """What applying these timer effects in order writes: the cancellations of timers already stored
    (task_id, recipient, reminders_only), and the new timer rows with their status (a timer added here and
    cancelled by a later effect here is stored as cancelled, as adding then cancelling it would leave it)."""
    cancels: list[tuple[str, str | None, bool]] = []
    added: list[tuple[int, Timer]] = []
    cancelled: set[int] = set()  # positions in `added`
    for instance_id, change in changes:
        if isinstance(change, AddTimers):
            added.extend((instance_id, timer) for timer in change.timers)
            continue
        cancels.append((change.task_id, change.recipient, change.reminders_only))
        for position, (_instance_id, timer) in enumerate(added):
            if position not in cancelled and _cancels(change, timer):
                cancelled.add(position)
    rows = [
        (*timer_row(instance_id, timer), "cancelled" if position in cancelled else "pending")
        for position, (instance_id, timer) in enumerate(added)
    ]
    return cancels, rows


def _cancels(change: CancelTimers, timer: Timer) -> bool:
    """Does this cancellation apply to this pending timer (as the store's cancel_timers selects them)?"""
    if timer.task_id != change.task_id:
        return False
    if change.recipient is not None and timer.recipient != change.recipient:
        return False
    return not change.reminders_only or timer.kind.is_reminder
