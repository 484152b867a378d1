"""Retention: finished requests older than RETENTION_DAYS are deleted in small batches, leaving tallies for reports.

Each batch is one transaction: claim the oldest expired requests that have no message still to send, read what
reports count of them, add that to `purged_tallies` (bot/engine/purged.py `purged_tallies`), and delete the requests
with their events, tasks, timers, sent or failed outbox rows, Slack message records, API origins and Workflow
Builder executions. A request with a message still pending waits for a later sweep."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock, SystemClock
from bot.engine.purged import purged_tallies
from bot.settings import Settings
from bot.store import Store, StoreError, store_for

__all__ = ["Purged", "RetentionSweep", "purge_command"]

BATCH = 100  # requests per transaction, as the timer sweep: a batch holds the store for tens of milliseconds
SWEEP_BATCHES = 50  # batches per scheduled sweep (5,000 requests); what is left waits for the next sweep


@dataclass(frozen=True)
class Purged:
    """What one purge removed: requests finished before `cutoff`, and rows of each kind they owned."""

    cutoff: datetime
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    tallies: int = 0

    def summary(self) -> str:
        when = self.cutoff.strftime("%Y-%m-%d %H:%M UTC")
        if not self.requests:
            return f"nothing to purge: no finished request finished before {when} without a message still to send"
        owned = ", ".join(f"{count} {name}" for name, count in self.rows.items() if name != "requests")
        return (
            f"purged {self.requests} requests finished before {when}, with {owned}; "
            f"reports keep their figures in {self.tallies} tally updates"
        )


class RetentionSweep:
    """Purges what is past retention, a batch per transaction."""

    def __init__(self, store: Store, clock: Clock, *, days: int, batch: int = BATCH) -> None:
        self._store, self._clock, self._days, self._batch = store, clock, days, batch

    async def purge_expired(self, *, max_batches: int | None = SWEEP_BATCHES) -> Purged:
        """Purge requests finished more than RETENTION_DAYS ago, up to `max_batches` batches (None: all)."""
        cutoff = self._clock.now() - timedelta(days=self._days)
        requests, tallies, rows = 0, 0, dict[str, int]()
        batches = 0
        while max_batches is None or batches < max_batches:
            purged, tallied, deleted = await self._purge_batch(cutoff)
            requests, tallies, batches = requests + purged, tallies + tallied, batches + 1
            for name, count in deleted.items():
                rows[name] = rows.get(name, 0) + count
            if purged < self._batch:
                break
            await asyncio.sleep(0)  # let clicks in between batches
        return Purged(cutoff, requests, rows, tallies)

    async def _purge_batch(self, cutoff: datetime) -> tuple[int, int, dict[str, int]]:
        async with self._store.transaction() as work:
            ids = await work.claim_expired_requests(cutoff, limit=self._batch)
            if not ids:
                return 0, 0, {}
            rows = await work.purged_rows(ids)
            tallies = purged_tallies(rows.instances, rows.tasks, rows.events)
            await work.add_purged_tallies(tallies)
            deleted = await work.delete_requests(ids)
        return len(ids), len(tallies), deleted


def purge_command(settings: Settings, *, older_than: int | None) -> int:
    """`python -m bot purge`: purge everything past retention now; print what was removed."""
    days = older_than if older_than is not None else settings.retention_days
    if days is None:
        print("baton: RETENTION_DAYS is not set (requests are kept for ever); set it or give --older-than DAYS",
              file=sys.stderr)  # fmt: skip
        return 2
    if days < 1:
        print("baton: --older-than must be at least 1 day", file=sys.stderr)
        return 2

    async def run() -> Purged:
        store = store_for(settings.database_url, auto_migrate=settings.auto_migrate)
        await store.open()
        try:
            return await RetentionSweep(store, SystemClock(), days=days).purge_expired(max_batches=None)
        finally:
            await store.close()

    try:
        purged = asyncio.run(run())
    except StoreError as error:
        print(f"baton: {error}", file=sys.stderr)
        return 3
    print(purged.summary())
    return 0
