"""Baton's SQL, written once for every database: one class per concern, over a session and a dialect."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from .api import SQLApiRequests
from .erasure import SQLErasure
from .history import SQLHistory
from .outbox import SQLOutbox
from .part import SQLPart
from .pause import SQLSendingPause
from .people import SQLDelegations, SQLDigests, SQLHomeViewers
from .reports import SQLReports
from .requests import SQLRequests
from .retention import SQLRetention
from .slack import SQLSeenRequests, SQLSlackMessages
from .steps import SQLFunctionExecutions
from .timers import SQLTimers

__all__ = ["SQLPart", "SQLUnitOfWork"]


class SQLUnitOfWork(
    SQLRequests,
    SQLHistory,
    SQLTimers,
    SQLOutbox,
    SQLSlackMessages,
    SQLSeenRequests,
    SQLSendingPause,
    SQLFunctionExecutions,
    SQLHomeViewers,
    SQLDigests,
    SQLDelegations,
    SQLReports,
    SQLApiRequests,
    SQLRetention,
    SQLErasure,
):
    """Every concern's operations inside one open transaction (bot/store/base.py `UnitOfWork`)."""

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: undo just this part on error, keep the rest of the transaction."""
        return self._db.savepoint()
