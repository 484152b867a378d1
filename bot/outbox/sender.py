"""The claim loop: claims due conversation heads in batches and hands them to a few workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.pacing import Limit
from bot.priority import Answering
from bot.store import PendingMessage, Store
from bot.webhooks import WebhookPost, webhook_sender

from .delivery import Delivery, Renderers
from .pause import FIRST_PROBE_SECONDS, SendingPauseGate
from .policy import MAX_BACKOFF, DeliveryPolicy

__all__ = ["OutboxSender"]

log = logging.getLogger("bot.outbox")


class OutboxSender:
    """Drain pending messages with a few workers: heads of each conversation first, several conversations at once.

    One loop claims due heads in batches (one query per batch) and queues them; `concurrency` workers send them.
    A slow or failing call holds up its own worker only, never the rest of the batch. The next batch is claimed
    once the queue runs dry, passing over the heads still in flight, so each conversation stays in order. On
    PostgreSQL a claim is a lease: a queued message that has waited so long that the rest of its lease no longer
    covers the slowest Slack call is handed back unsent rather than risk another process sending it too.
    """

    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        clock: Clock,
        *,
        concurrency: int = 8,
        batch_size: int = 50,
        idle_wait: float = 1.0,
        admins: tuple[str, ...] = (),
        renderers: Renderers | None = None,
        tier_pacing: bool = True,
        max_backoff: float = MAX_BACKOFF,
        on_call: Callable[[str, bool, str | None], None] | None = None,
        slowest_call: float = 21.0,
        deliver_webhook: WebhookPost | None = None,  # bot/webhooks.py: the policy and the POST
        span_for: Callable[[PendingMessage], contextlib.AbstractContextManager[object]] | None = None,  # traces
        first_probe: float = FIRST_PROBE_SECONDS,
    ) -> None:
        self._span_for = span_for or (lambda _pending: contextlib.nullcontext())
        self._store = store
        self._clock = clock
        # While Slack refuses the token nothing is claimed (bot/outbox/pause.py); events and failed sends pause it.
        self.pause = SendingPauseGate(
            store, client, clock, admins=admins, max_backoff=max_backoff, first_probe=first_probe
        )
        self._policy = DeliveryPolicy(
            store, clock, admins=admins, max_backoff=max_backoff, on_token_refused=self.pause.pause
        )
        self._delivery = Delivery(
            store,
            client,
            clock,
            policy=self._policy,
            renderers=renderers or {},
            post_webhook=deliver_webhook or webhook_sender(),
            on_call=on_call or (lambda _method, _ok, _error: None),
            tier_pacing=tier_pacing,
        )
        self._workers = concurrency
        self._batch_size = batch_size
        self._idle_wait = idle_wait
        self._wake = asyncio.Event()
        self._stopping = False
        lease = store.outbox_lease
        # A send may start only while the rest of the lease covers the slowest call, so a lease never runs out
        # under a call in flight (settings make the lease at least twice that long).
        self._claim_valid_for = lease.total_seconds() - slowest_call if lease is not None else None
        self._queue: asyncio.Queue[tuple[PendingMessage, float] | None] = asyncio.Queue()
        self.answering = Answering()  # Slack requests being answered: sends give way to them, briefly
        self.give_way_seconds = 0.25
        self._held: set[int] = set()  # claimed here: queued or being sent

    @property
    def conversation_limit(self) -> Limit:
        return self._delivery.conversation_limit

    @conversation_limit.setter
    def conversation_limit(self, limit: Limit) -> None:
        self._delivery.conversation_limit = limit

    def kick(self) -> None:
        """Wake the sender now: something was just queued."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Send until stopped; a failed claim is logged and tried again shortly. On stop, calls in flight finish
        and queued messages stay pending (their claims are handed back when the store closes)."""
        workers = [asyncio.create_task(self._work(), name=f"outbox-worker-{n}") for n in range(self._workers)]
        try:
            while not self._stopping:
                claimed = 0
                if self._queue.empty():
                    try:
                        claimed = await self._claim()
                    except Exception:
                        log.exception("claiming outbox messages failed; retrying shortly")
                if claimed == 0 or not self._queue.empty():
                    with contextlib.suppress(TimeoutError):  # a kick, a worker done, the queue dry, or idle
                        await asyncio.wait_for(self._wake.wait(), timeout=self._idle_wait)
                    self._wake.clear()
        finally:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    self._held.discard(item[0].id)
            for _ in workers:
                self._queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)

    async def _claim(self) -> int:
        if await self.pause.held():
            return 0
        async with self._store.transaction() as work:
            due = await work.due_outbox(self._clock.now(), limit=self._batch_size, exclude=self._held)
        claimed_at = asyncio.get_running_loop().time()
        for pending in due:
            self._held.add(pending.id)
            self._queue.put_nowait((pending, claimed_at))
        return len(due)

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            pending, claimed_at = item
            if self._queue.empty():
                self._wake.set()  # time to claim the next batch
            try:
                if self._stopping:
                    continue
                waited = asyncio.get_running_loop().time() - claimed_at
                if self._claim_valid_for is not None and waited > self._claim_valid_for:
                    reason = f"claim held {waited:.0f}s unsent; handed back"
                    await self._policy.retry(pending, 0.0, reason, count=False)
                else:
                    await self.answering.give_way(at_most=self.give_way_seconds)
                    with self._span_for(pending):
                        await self._delivery.deliver_safely(pending)
            except Exception:  # the store is gone: the message stays pending and is claimed again later
                log.exception("outbox=%s could not be recorded; it stays pending", pending.id)
            finally:
                self._held.discard(pending.id)
                self._wake.set()  # the conversation's next message may be due now
