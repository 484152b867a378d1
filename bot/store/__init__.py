"""Persistence adapters: where instances, tasks, the event log and the outbox live."""

from .base import Store, UnitOfWork
from .errors import StoreError
from .factory import is_postgresql, store_for
from .postgres import PostgreSQLStore
from .records import AuditEntry, DueTimer, MessageRef, OutboxMessage, PendingMessage
from .sqlite import SQLiteStore

__all__ = [
    "AuditEntry",
    "DueTimer",
    "MessageRef",
    "OutboxMessage",
    "PendingMessage",
    "PostgreSQLStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "UnitOfWork",
    "is_postgresql",
    "store_for",
]
