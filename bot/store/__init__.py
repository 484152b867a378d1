"""Persistence adapters: where instances, tasks, the event log and the outbox live."""

from .base import (
    ApiRequests,
    Delegations,
    Digests,
    Erasure,
    History,
    HomeViewers,
    Outbox,
    Reports,
    Requests,
    Retention,
    SeenRequests,
    SendingPauses,
    SlackMessages,
    Store,
    Timers,
    UnitOfWork,
)
from .errors import StoreError
from .factory import is_postgresql, store_for
from .postgres import PostgreSQLStore
from .records import (
    ApiOrigin,
    ApiStart,
    AuditEntry,
    DueTimer,
    MessageRef,
    OutboxMessage,
    PendingMessage,
    SendingPause,
    StepExecution,
)
from .sqlite import SQLiteStore

__all__ = [
    "ApiOrigin",
    "ApiStart",
    "ApiRequests",
    "AuditEntry",
    "Delegations",
    "Digests",
    "DueTimer",
    "Erasure",
    "History",
    "HomeViewers",
    "MessageRef",
    "Outbox",
    "OutboxMessage",
    "PendingMessage",
    "PostgreSQLStore",
    "Reports",
    "Requests",
    "Retention",
    "SQLiteStore",
    "SeenRequests",
    "SendingPause",
    "SendingPauses",
    "SlackMessages",
    "Store",
    "StepExecution",
    "StoreError",
    "Timers",
    "UnitOfWork",
    "is_postgresql",
    "store_for",
]
