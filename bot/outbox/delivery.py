"""Sending one claimed message: pacing, the Slack call or webhook POST, and recording what happened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.pacing import CONVERSATION_LIMIT, Limit, MemoryPacer, method_limit
from bot.store import MessageRef, OutboxMessage, PendingMessage, Store
from bot.webhooks import WEBHOOK_METHOD, WebhookPost

from .ledger import SentLedger
from .legacy import lifted
from .lookup import MessageLookup
from .policy import DeliveryPolicy

__all__ = ["Delivery", "Renderers"]

log = logging.getLogger("bot.outbox")

# Messages built from state at send time, by name (OutboxMessage.render): e.g. "home" -> the person's App Home.
Renderers = Mapping[str, Callable[[str], Awaitable[dict[str, Any]]]]


class Delivery:
    """One message out: wait out pauses and pacing, fill in what only the store knows, call, record."""

    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        clock: Clock,
        *,
        policy: DeliveryPolicy,
        renderers: Renderers,
        post_webhook: WebhookPost,
        on_call: Callable[[str, bool, str | None], None],
        tier_pacing: bool = True,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._policy = policy
        self._sent = SentLedger(store, clock)
        self._lookup = MessageLookup(store, client, policy, self._sent)
        self._renderers = dict(renderers)
        self._post_webhook = post_webhook
        self._on_call = on_call  # metrics: each webhook POST (the client counts Slack calls)
        self.conversation_limit: Limit = CONVERSATION_LIMIT  # Slack's guidance; bench/ack.py lifts it
        self._tier_pacing = tier_pacing
        self._memory_pacer = MemoryPacer()
        self._shared_pacing = store.outbox_lease is not None  # processes sharing a database share their buckets

    async def deliver_safely(self, pending: PendingMessage) -> int:
        """One message's failure, whatever it is, delays that message only."""
        try:
            return await self._deliver(pending)
        except Exception as error:
            log.exception("sending outbox=%s failed unexpectedly", pending.id)
            await self._policy.unexpected(pending, error)
            return 1

    async def _deliver(self, pending: PendingMessage) -> int:
        message = pending.message
        loop_now = asyncio.get_running_loop().time()
        paused = self._policy.paused_for(message, loop_now)
        if paused > 0:  # Slack rate-limited this method (or this conversation): wait it out before calling again
            await self._policy.retry(pending, paused, f"{message.method} rate limited", count=False)
            return 0
        delay, reason = await self._pace(message, loop_now)
        if delay > 0:
            await self._policy.retry(pending, delay, reason, count=False)
            return 0
        if message.method == WEBHOOK_METHOD:
            return await self._deliver_webhook(pending)
        prepared = await self._prepare(pending)
        if prepared is None:
            return 0
        method, args = prepared
        try:
            response = await self._client.api_call(method, json=args)
        except SlackApiError as error:
            await self._policy.slack_error(pending, error)
            return 1
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            await self._policy.retry(pending, self._policy.backoff(pending.attempts), f"network: {error!r}")
            return 1
        ref = None
        if method == "chat.postMessage" and isinstance(response.get("ts"), str):
            ref = MessageRef(str(response.get("channel") or args.get("channel")), str(response["ts"]))
        await self._sent.record(pending.id, ref)
        return 1

    async def _prepare(self, pending: PendingMessage) -> tuple[str, dict[str, Any]] | None:
        """The Slack call to make, with what the message asks to be filled in at send time; None: not yet."""
        message = lifted(pending.message)
        method, args = message.method, dict(message.args)
        if method == "chat.update":
            located = await self._lookup.locate(pending)
            if located is None:
                return None
            method, args = located
        if message.render is not None and message.render in self._renderers:
            async with self._store.transaction() as work:  # so this one publish covers the refreshes queued since
                await work.supersede_pending(message.conversation, message.method, pending.id, self._clock.now())
            args["view"] = await self._renderers[message.render](str(args.get("user_id", "")))
        if message.thread_of is not None:
            args = await self._lookup.in_thread(args, message.thread_of)
        if message.link_to is not None:
            args = await self._lookup.with_permalink(args, message.link_to)
        return method, args

    async def _pace(self, message: OutboxMessage, loop_now: float) -> tuple[float, str]:
        """Take a token from the method's tier bucket and the conversation's; return the wait (0.0: send now)."""
        buckets: list[tuple[str, Limit, str]] = []
        tier = method_limit(message.method) if self._tier_pacing else None
        if tier is not None:
            buckets.append((f"method {message.method}", tier, f"paced: {message.method} rate-limit tier"))
        buckets.append(
            (f"conversation {message.conversation}", self.conversation_limit, "paced: one message a second here")
        )
        if not self._shared_pacing:
            for key, limit, reason in buckets:
                if (wait := self._memory_pacer.take(key, loop_now, limit)) > 0:
                    return wait, reason
            return 0.0, ""
        async with self._store.transaction() as work:  # always method, then conversation: no lock-order deadlock
            for key, limit, reason in buckets:
                if (wait := await work.take_send_token(key, self._clock.now(), limit)) > 0:
                    return wait, reason
        return 0.0, ""

    async def _deliver_webhook(self, pending: PendingMessage) -> int:
        """POST a queued webhook (bot/webhooks.py signs it), retried and failed like a Slack call."""
        outcome = await self._post_webhook(pending.message.args, self._clock.now())
        self._on_call(WEBHOOK_METHOD, outcome.ok, outcome.error)
        if outcome.ok:
            await self._sent.record(pending.id, None)
        elif outcome.permanent:
            await self._policy.fail(pending, outcome.error or "refused")
        else:
            await self._policy.retry(pending, self._policy.backoff(pending.attempts), f"webhook: {outcome.error}")
        return 1
