"""Baton's SQL, written once for every database: one class per concern, over a session and a dialect."""

from __future__ import annotations

from collections.abc import Sequence
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

    async def missing_report_rows(self) -> list[int]:
        """The finished requests that have no report rows: those a Baton of schema 14 finished while it still ran
        beside this one (a rolling upgrade; it sweeps timers until it stops). Two counts tell at once when none is
        missing (rows exist of finished requests only)."""
        finished = await self._db.one("SELECT COUNT(*) FROM instances WHERE status <> 'running'")
        reported = await self._db.one("SELECT COUNT(*) FROM report_requests")
        if int(finished[0]) == int(reported[0]):
            return []
        missing = await self._db.all(
            "SELECT i.id FROM instances i WHERE i.status <> 'running' "
            "AND NOT EXISTS (SELECT 1 FROM report_requests r WHERE r.instance_id = i.id) ORDER BY i.id"
        )
        return [int(row[0]) for row in missing]

    async def write_report_rows(self, instance_ids: Sequence[int]) -> int:
        """Write (or rewrite) the report rows of those of these requests that are finished; how many."""
        return await write_final_rows(self._db.all, self._db.write_many, instance_ids)
