"""Where an earlier message lives: the target of an update, the thread to reply in, the permalink to show."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.messages import fill_permalink
from bot.slack.outgoing import is_nudge_key
from bot.store import PendingMessage, Store

from .ledger import SentLedger
from .policy import DeliveryPolicy

__all__ = ["MessageLookup"]

log = logging.getLogger("bot.outbox")


class MessageLookup:
    """Finds earlier messages by their key (`slack_messages`), each look-up one short read."""

    def __init__(self, store: Store, client: AsyncWebClient, policy: DeliveryPolicy, sent: SentLedger) -> None:
        self._store = store
        self._client = client
        self._policy = policy
        self._sent = sent

    async def locate(self, pending: PendingMessage) -> tuple[str, dict[str, Any]] | None:
        """Find the message an update refers to; post it fresh if the original never arrived (a reminder or an
        escalation that never was is not posted: the update is settled with no call)."""
        key = pending.message.message_key
        args = dict(pending.message.args)
        if pending.posted_at is not None:  # read with the claim: the usual case needs no look-up of its own
            return "chat.update", {**args, "channel": pending.posted_at.channel, "ts": pending.posted_at.ts}
        async with self._store.transaction() as work:
            ref = await work.message_ref(key) if key else None
            waiting = key is not None and ref is None and await work.has_pending_post(key, pending.id)
        if ref is not None:
            return "chat.update", {**args, "channel": ref.channel, "ts": ref.ts}
        if waiting:
            await self._policy.retry(pending, 1.0, "waiting for the original message", count=False)
            return None
        if key is not None and is_nudge_key(key):
            await self._sent.record(pending.id, None)
            return None
        return "chat.postMessage", {**args, "channel": pending.message.conversation}

    async def in_thread(self, args: dict[str, Any], message_key: str) -> dict[str, Any]:
        """Reply in the thread of an earlier message; without it (never sent), post on its own."""
        async with self._store.transaction() as work:
            ref = await work.message_ref(message_key)
        if ref is None:
            return args
        return {**args, "channel": ref.channel, "thread_ts": ref.ts}

    async def with_permalink(self, args: dict[str, Any], message_key: str) -> dict[str, Any]:
        """Put the link to an earlier message into this one's link line; without it, say where to look instead."""
        async with self._store.transaction() as work:
            ref = await work.message_ref(message_key)
        link = None
        if ref is not None:
            try:
                answer = await self._client.chat_getPermalink(channel=ref.channel, message_ts=ref.ts)
                link = answer.get("permalink")
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
                log.info("no permalink for %s: %r", message_key, error)
        return fill_permalink(args, link if isinstance(link, str) else None)
