"""The only code that sends to Slack: drains the store's outbox in order per conversation, retrying safely."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.engine import Event
from bot.pacing import CONVERSATION_LIMIT, Limit, MemoryPacer, method_limit
from bot.priority import Answering
from bot.slack.messages import PERMALINK_PLACEHOLDER
from bot.store import MessageRef, OutboxMessage, PendingMessage, Store
from bot.webhooks import WEBHOOK_METHOD, WebhookPost, webhook_sender

__all__ = ["OutboxSender", "PERMANENT_ERRORS"]

log = logging.getLogger(__name__)

# Slack errors that no retry will cure: the message is recorded as failed and the workflow's log says so.
PERMANENT_ERRORS = frozenset(
    {
        "account_inactive",
        "cant_update_message",
        "channel_not_found",
        "invalid_arguments",
        "invalid_blocks",
        "is_archived",
        "message_not_found",
        "msg_too_long",
        "no_text",
        "not_in_channel",
        "restricted_action",
        "user_not_found",
        "user_not_in_channel",
        "too_many_attachments",
        "invalid_attachments",
        "cannot_dm_bot",
        "missing_scope",
        "not_allowed_token_type",
    }
)
_MAX_BACKOFF = 300.0

# Slack's own trouble, retried like a 5xx for as long as it lasts: an outage delays messages, never drops them.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# Baton's token is refused: every message would fail alike, so they wait (loudly logged) until it is fixed.
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired"})
# Any other error Slack answers, or a failure inside Baton while sending, is tried this many times, then the
# message is given up like a permanent error (history line, admins told), so it cannot hold up its conversation.
GIVE_UP_AFTER_ATTEMPTS = 8

# What an admin can do about a permanent error, in the alert Baton sends them.
_FIXES = {
    "not_in_channel": "invite Baton there with `/invite @baton` (it may post only where it is a member)",
    "channel_not_found": "check the channel in the workflow file, or invite Baton if it is private",
    "is_archived": "the channel is archived: unarchive it or point the workflow elsewhere",
    "account_inactive": "that account is deactivated: reassign their work or update `org.yaml`",
    "user_not_found": "that user does not exist in this workspace: check `org.yaml` or the workflow file",
    "missing_scope": "Baton's Slack app lacks a scope: reinstall it from `manifest.yml`",
}


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
        renderers: Mapping[str, Callable[[str], Awaitable[dict[str, Any]]]] | None = None,
        tier_pacing: bool = True,
        max_backoff: float = _MAX_BACKOFF,
        on_call: Callable[[str, bool, str | None], None] | None = None,
        slowest_call: float = 21.0,
        deliver_webhook: WebhookPost | None = None,  # bot/webhooks.py: the policy and the POST
        span_for: Callable[[PendingMessage], contextlib.AbstractContextManager[object]] | None = None,  # traces
    ) -> None:
        self._span_for = span_for or (lambda _pending: contextlib.nullcontext())
        self._post_webhook = deliver_webhook or webhook_sender()
        self._on_call = on_call or (lambda _method, _ok, _error: None)  # metrics: each webhook POST (the client
        # counts Slack calls)
        self._admins = admins
        self._renderers = dict(renderers or {})
        self._store = store
        self._client = client
        self._clock = clock
        self._workers = concurrency
        self._batch_size = batch_size
        self._idle_wait = idle_wait
        self._wake = asyncio.Event()
        self._stopping = False
        self.conversation_limit: Limit = CONVERSATION_LIMIT  # Slack's guidance; bench/ack.py lifts it
        self._tier_pacing = tier_pacing
        self._memory_pacer = MemoryPacer()
        self._shared_pacing = store.outbox_lease is not None  # processes sharing a database share their buckets
        self._paused_until: dict[str, float] = {}
        self._max_backoff = max_backoff
        lease = store.outbox_lease
        # A send may start only while the rest of the lease covers the slowest call, so a lease never runs out
        # under a call in flight (settings make the lease at least twice that long).
        self._claim_valid_for = lease.total_seconds() - slowest_call if lease is not None else None
        self._queue: asyncio.Queue[tuple[PendingMessage, float] | None] = asyncio.Queue()
        self.answering = Answering()  # Slack requests being answered: sends give way to them, briefly
        self._sent = SentLedger(store, clock)
        self.give_way_seconds = 0.25
        self._held: set[int] = set()  # claimed here: queued or being sent

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
                    await self._retry(pending, 0.0, f"claim held {waited:.0f}s unsent; handed back", count=False)
                else:
                    await self.answering.give_way(at_most=self.give_way_seconds)
                    with self._span_for(pending):
                        await self._deliver_safely(pending)
            except Exception:  # the store is gone: the message stays pending and is claimed again later
                log.exception("outbox=%s could not be recorded; it stays pending", pending.id)
            finally:
                self._held.discard(pending.id)
                self._wake.set()  # the conversation's next message may be due now

    async def _deliver_safely(self, pending: PendingMessage) -> int:
        """One message's failure, whatever it is, delays that message only."""
        try:
            return await self._deliver(pending)
        except Exception as error:
            log.exception("sending outbox=%s failed unexpectedly", pending.id)
            if pending.attempts + 1 >= GIVE_UP_AFTER_ATTEMPTS:
                await self._fail(pending, "baton_error")
            else:
                await self._retry(pending, self._backoff(pending.attempts), f"unexpected: {error!r}")
            return 1

    async def _deliver(self, pending: PendingMessage) -> int:
        message = pending.message
        loop_now = asyncio.get_running_loop().time()
        paused = self._paused_until.get(_limit_scope(message), 0.0) - loop_now
        if paused > 0:  # Slack rate-limited this method (or this conversation): wait it out before calling again
            await self._retry(pending, paused, f"{message.method} rate limited", count=False)
            return 0
        delay, reason = await self._pace(message, loop_now)
        if delay > 0:
            await self._retry(pending, delay, reason, count=False)
            return 0
        if message.method == WEBHOOK_METHOD:
            return await self._deliver_webhook(pending)
        args = dict(message.args)
        method = message.method
        if method == "chat.update":
            resolved = await self._locate(pending)
            if resolved is None:
                return 0
            method, args = resolved
        render = args.pop("_render", None)
        if isinstance(render, str) and render in self._renderers:  # e.g. App Home: built from state at send time
            async with self._store.transaction() as work:  # so this one publish covers the refreshes queued since
                await work.supersede_pending(message.conversation, message.method, pending.id, self._clock.now())
            args["view"] = await self._renderers[render](str(args.get("user_id", "")))
        thread_of = args.pop("_thread_of", None)
        if isinstance(thread_of, str):
            args = await self._fill_thread(args, thread_of)
        permalink_of = args.pop("_permalink_of", None)
        if isinstance(permalink_of, str):
            args = await self._fill_permalink(args, permalink_of)
        try:
            response = await self._client.api_call(method, json=args)
        except SlackApiError as error:
            await self._handle_slack_error(pending, error)
            return 1
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            await self._retry(pending, self._backoff(pending.attempts), f"network: {error!r}")
            return 1
        ref = None
        if method == "chat.postMessage" and isinstance(response.get("ts"), str):
            ref = MessageRef(str(response.get("channel") or args.get("channel")), str(response["ts"]))
        await self._sent.record(pending.id, ref)
        return 1

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
            await self._fail(pending, outcome.error or "refused")
        else:
            await self._retry(pending, self._backoff(pending.attempts), f"webhook: {outcome.error}")
        return 1

    async def _fill_thread(self, args: dict[str, Any], message_key: str) -> dict[str, Any]:
        """Reply in the thread of an earlier message; without it (never sent), post on its own."""
        async with self._store.transaction() as work:
            ref = await work.message_ref(message_key)
        if ref is None:
            return args
        return {**args, "channel": ref.channel, "thread_ts": ref.ts}

    async def _fill_permalink(self, args: dict[str, Any], message_key: str) -> dict[str, Any]:
        """Put the link to an earlier message into this one; without it, say where to look instead."""
        async with self._store.transaction() as work:
            ref = await work.message_ref(message_key)
        link = None
        if ref is not None:
            try:
                answer = await self._client.chat_getPermalink(channel=ref.channel, message_ts=ref.ts)
                link = answer.get("permalink")
            except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as error:
                log.info("no permalink for %s: %r", message_key, error)
        body = json.dumps(args)
        if isinstance(link, str):
            body = body.replace(PERMALINK_PLACEHOLDER, link.replace('"', "%22"))
        else:
            body = body.replace(f"<{PERMALINK_PLACEHOLDER}|Open the original request>", "the original request above")
        result: dict[str, Any] = json.loads(body)
        return result

    async def _locate(self, pending: PendingMessage) -> tuple[str, dict[str, object]] | None:
        """Find the message an update refers to; post it fresh if the original never arrived."""
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
            await self._retry(pending, 1.0, "waiting for the original message", count=False)
            return None
        return "chat.postMessage", {**args, "channel": pending.message.conversation}

    async def _handle_slack_error(self, pending: PendingMessage, error: SlackApiError) -> None:
        response = error.response
        status = response.status_code
        data = response.data
        code = str(data.get("error", "unknown_error")) if isinstance(data, dict) else f"http_{status}"
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after(response.headers)
            resume = asyncio.get_running_loop().time() + retry_after
            scope = _limit_scope(pending.message)
            self._paused_until[scope] = max(self._paused_until.get(scope, 0.0), resume)
            await self._retry(pending, retry_after, f"rate limited for {retry_after:.0f}s")
        elif status >= 500 or code in TRANSIENT_ERRORS:
            await self._retry(pending, self._backoff(pending.attempts), f"slack http {status} {code}")
        elif code in AUTH_ERRORS:
            log.error("Slack refuses Baton's token (%s): check SLACK_BOT_TOKEN; messages wait until it works", code)
            await self._retry(pending, self._backoff(pending.attempts), f"slack error {code}")
        elif code in PERMANENT_ERRORS or pending.attempts + 1 >= GIVE_UP_AFTER_ATTEMPTS:
            await self._fail(pending, code)
        else:
            await self._retry(pending, self._backoff(pending.attempts), f"slack error {code}")

    def _backoff(self, attempts: int) -> float:
        base: float = min(self._max_backoff, 0.5 * 2.0 ** min(attempts, 12))
        return base * random.uniform(0.5, 1.0)

    async def _retry(self, pending: PendingMessage, delay: float, reason: str, *, count: bool = True) -> None:
        next_at = self._clock.now() + timedelta(seconds=delay)
        if count:
            log.warning(
                "slack call will be retried: outbox=%s method=%s attempt=%s in=%.1fs reason=%s",
                pending.id,
                pending.message.method,
                pending.attempts + 1,
                delay,
                reason,
            )
        async with self._store.transaction() as work:
            await work.mark_retry(pending.id, next_at, reason, count=count)

    def _admin_alerts(self, failed: OutboxMessage, code: str) -> list[OutboxMessage]:
        """Tell the admins a message could not be delivered (alerts carry no instance, so they never cascade)."""
        hint = _FIXES.get(code, "check that person or channel")
        text = (
            f":warning: Baton could not deliver a message about request #{failed.instance_id} to "
            f"`{failed.conversation}`: Slack answered `{code}`. The request goes on; {hint}."
        )
        return [
            OutboxMessage(conversation=admin, method="chat.postMessage", args={"channel": admin, "text": text})
            for admin in self._admins
            if admin != failed.conversation
        ]

    async def _fail(self, pending: PendingMessage, code: str) -> None:
        message = pending.message
        log.error(
            "slack call failed for good: outbox=%s method=%s conversation=%s error=%s instance=%s",
            pending.id,
            message.method,
            message.conversation,
            code,
            message.instance_id,
        )
        async with self._store.transaction() as work:
            await work.mark_failed(pending.id, code)
            if message.instance_id is not None:
                await work.enqueue(self._admin_alerts(message, code), self._clock.now())
                event = Event(
                    "delivery_failed",
                    self._clock.now(),
                    data={"method": message.method, "conversation": message.conversation, "error": code},
                )
                await work.append_events(message.instance_id, [event])


def _limit_scope(message: OutboxMessage) -> str:
    """What a 429 for this message holds back. Slack limits most methods per workspace, so the whole method waits;
    chat.postMessage's special tier is about one message per second per channel, so only that conversation does
    (a workspace-wide limit then shows up as 429s in each conversation, and each waits its Retry-After)."""
    if message.method == "chat.postMessage":
        return f"{message.method} {message.conversation}"
    return message.method


def _retry_after(headers: object) -> float:
    """Seconds from a Retry-After header (any mapping, any case, str or list values); 30 when absent."""
    value: object = None
    items = getattr(headers, "items", None)
    if callable(items):
        for key, found in items():
            if str(key).lower() == "retry-after":
                value = found[0] if isinstance(found, list) and found else found
                break
    try:
        return max(1.0, float(str(value)))
    except (TypeError, ValueError):
        return 30.0
