"""Persistence adapters: where instances, tasks, the event log and the outbox live."""

from .base import Store, UnitOfWork
from .records import AuditEntry, DueTimer, MessageRef, OutboxMessage, PendingMessage
from .sqlite import SQLiteStore, StoreError

__all__ = [
    "AuditEntry",
    "DueTimer",
    "MessageRef",
    "OutboxMessage",
    "PendingMessage",
    "SQLiteStore",
    "Store",
    "StoreError",
    "UnitOfWork",
]
