"""Plain records the store reads and writes besides engine state: outbox messages and audit lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.engine.purged import InstanceRow, TaskRow

__all__ = [
    "ApiOrigin",
    "ApiStart",
    "AuditEntry",
    "DueTimer",
    "ErasedRows",
    "MessageRef",
    "OutboxMessage",
    "PendingMessage",
    "PurgedRows",
    "Redaction",
    "SendingPause",
    "StepExecution",
]


@dataclass(frozen=True)
class OutboxMessage:
    """A Slack Web API call to make, queued in the same transaction as the state change that caused it."""

    conversation: str  # user or channel ID; messages to one conversation go out in order
    method: str  # chat.postMessage | chat.update | chat.postEphemeral
    args: dict[str, Any]
    message_key: str | None = None  # logical message identity, so later updates find channel and ts
    instance_id: int | None = None
    thread_of: str | None = None  # reply in the thread of the message with this key (posted alone if it never was)
    link_to: str | None = None  # the message whose permalink fills this one's link line (bot/slack/messages.py)
    render: str | None = None  # built from state at send time by the sender's renderer of this name ("home")


@dataclass(frozen=True)
class StepExecution:
    """One run of a Workflow Builder step (a Slack custom step) that Baton must complete: Slack's ids for it."""

    execution_id: str  # function_execution_id: what functions.completeSuccess / completeError name
    callback_id: str  # which of Baton's steps (manifest.yml `functions`)
    workflow_execution_id: str | None = None


@dataclass(frozen=True)
class PendingMessage:
    """An outbox row waiting to be sent."""

    id: int
    message: OutboxMessage
    attempts: int
    created_at: datetime
    posted_at: MessageRef | None = None  # where its message_key was posted, read with the claim (for updates)


@dataclass(frozen=True)
class MessageRef:
    """Where a sent message lives in Slack."""

    channel: str
    ts: str


@dataclass(frozen=True)
class AuditEntry:
    """One stored line of an instance's event log."""

    id: int
    instance_id: int
    kind: str
    at: datetime
    actor: str | None
    task_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DueTimer:
    """A stored timer that has fallen due and was claimed for firing."""

    id: int
    instance_id: int
    task_id: str
    kind: str
    due_at: datetime
    recipient: str | None
    level: int


@dataclass(frozen=True)
class ApiStart:
    """What a request started over the API keeps of its caller: the token, its idempotency key with a digest of
    the body, and the callback with the environment variable holding its signing secret (never the secret)."""

    token: str
    idempotency_key: str | None = None
    body_digest: str | None = None
    callback_url: str | None = None
    callback_secret_env: str | None = None


@dataclass(frozen=True)
class ApiOrigin:
    """How a stored request came in over the API: its number, when, and its caller."""

    instance_id: int
    created_at: datetime
    caller: ApiStart


class Redaction(Protocol):
    """How a person's mentions are rewritten: `needles` (lower case) find the rows that may name them, `text` and
    `json` rewrite a column's value (JSON text: inside its strings and keys), unchanged where nothing names them."""

    @property
    def needles(self) -> tuple[str, ...]: ...

    def text(self, value: str) -> str: ...

    def json(self, value: str) -> str: ...


@dataclass(frozen=True)
class ErasedRows:
    """What an erasure changed: rows per table, the requests whose rows named the person, the messages to them
    that will not be sent, and the stored workflow versions that still name them (their files do too)."""

    changed: dict[str, int]
    requests: tuple[int, ...]
    dropped_messages: int
    definitions: tuple[str, ...]
    open_tasks: int = 0  # tasks they held that are still open: now held by the pseudonym, so by nobody


@dataclass(frozen=True)
class PurgedRows:
    """What reports read of requests about to be purged: the requests, their decided tasks, and their counted
    events as (workflow, step or None, kind, at)."""

    instances: tuple[InstanceRow, ...]
    tasks: tuple[TaskRow, ...]
    events: tuple[tuple[str, str | None, str, datetime], ...]


@dataclass(frozen=True)
class SendingPause:
    """Sending to Slack held back: what Slack answered (or which event said so) and since when."""

    reason: str  # token_revoked, invalid_auth, app_uninstalled...
    since: datetime
