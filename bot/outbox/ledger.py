"""Recording sent messages in shared transactions."""

from __future__ import annotations

import asyncio

from bot.clock import Clock
from bot.store import MessageRef, Store

__all__ = ["SentLedger"]


class SentLedger:
    """Records sent messages (and the ts Slack gave them) in shared transactions: the marks that arrive while
    one batch commits go together in the next, so eight workers cost one commit, not eight."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._waiting: list[tuple[int, MessageRef | None, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, outbox_id: int, ref: MessageRef | None) -> None:
        """Return once this message is recorded as sent; raise if the store could not record it."""
        recorded = asyncio.get_running_loop().create_future()
        self._waiting.append((outbox_id, ref, recorded))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write(), name="outbox-ledger")
        await recorded

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._store.transaction() as work:
                    now = self._clock.now()
                    for outbox_id, ref, _recorded in batch:
                        await work.mark_sent(outbox_id, now, ref)
            except Exception as error:
                for _id, _ref, recorded in batch:
                    if not recorded.done():
                        recorded.set_exception(error)
            else:
                for _id, _ref, recorded in batch:
                    if not recorded.done():
                        recorded.set_result(None)
