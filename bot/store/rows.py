"""How Baton's records become table rows: times as epoch seconds, and the column values of each write."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.engine import Event, Instance, Task
from bot.engine.timers import Timer

from .records import OutboxMessage

__all__ = ["epoch", "event_row", "instance_row", "moment", "outbox_row", "task_row", "timer_row"]


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
    """(conversation, method, args, message_key, instance_id, next_attempt_at, created_at)"""
    return (
        message.conversation,
        message.method,
        json.dumps(message.args),
        message.message_key,
        message.instance_id,
        epoch(now),
        epoch(now),
    )


def timer_row(instance_id: int, timer: Timer) -> tuple[Any, ...]:
    """(task_id, instance_id, kind, due_at, recipient, level)"""
    return (timer.task_id, instance_id, timer.kind.value, epoch(timer.at), timer.recipient, timer.level)
