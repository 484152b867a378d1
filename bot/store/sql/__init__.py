"""Baton's SQL, written once for every database: one class per concern, over a session and a dialect."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from bot.store.report_rows import write_final_rows

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

    async def settle_reports(self) -> None:
        """Rewrite the report rows of the requests this unit finished, or saved or wrote events of once finished
        (bot/store/report_rows.py), just before it commits: they commit with the events they sum, or not at all."""
        reported, self._reported = self._reported, {}
        chosen = [instance_id for instance_id, finished in reported.items() if finished]
        unknown = [instance_id for instance_id, finished in reported.items() if finished is None]
        if unknown:  # events of requests this unit did not save: those finished
            chosen += [
                int(row[0])
                for row in await self._all_among(
                    "SELECT id FROM instances WHERE status <> 'running' AND {among}", "id", unknown, "bigint"
                )
            ]
        if chosen:
            await write_final_rows(self._db.all, self._db.write_many, sorted(chosen))
