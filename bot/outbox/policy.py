"""What a failed delivery means: retry when, give up when, and who hears of it."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.engine import Event
from bot.store import OutboxMessage, PendingMessage, Store

__all__ = ["AUTH_ERRORS", "GIVE_UP_AFTER_ATTEMPTS", "PERMANENT_ERRORS", "TRANSIENT_ERRORS", "DeliveryPolicy"]

log = logging.getLogger("bot.outbox")

# Slack errors that no retry will cure: the message is recorded as failed and the workflow's log says so.
PERMANENT_ERRORS = frozenset(
    {
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
        # functions.completeSuccess / completeError: the Workflow Builder execution is over (completed, timed
        # out or cancelled in Slack), or the outputs do not fit the step's output_parameters in manifest.yml.
        "execution_not_in_running_state",
        "function_execution_not_found",
        "parameter_validation_failed",
    }
)
MAX_BACKOFF = 300.0

# Slack's own trouble, retried like a 5xx for as long as it lasts: an outage delays messages, never drops them.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
# Baton's token is refused (revoked, app uninstalled, its bot deactivated): every message would fail alike, so
# sending pauses for the whole workspace (bot/outbox/pause.py) and every message waits until the token works.
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
# Any other error Slack answers, or a failure inside Baton while sending, is tried this many times, then the
# message is given up like a permanent error (history line, admins told), so it cannot hold up its conversation.
GIVE_UP_AFTER_ATTEMPTS = 8

# What an admin can do about a permanent error, in the alert Baton sends them.
_FIXES = {
    "not_in_channel": "invite Baton there with `/invite @baton` (it may post only where it is a member)",
    "channel_not_found": "check the channel in the workflow file, or invite Baton if it is private",
    "is_archived": "the channel is archived: unarchive it or point the workflow elsewhere",
    "user_not_found": "that user does not exist in this workspace: check `org.yaml` or the workflow file",
    "missing_scope": "Baton's Slack app lacks a scope: reinstall it from `manifest.yml`",
    "execution_not_in_running_state": "the Workflow Builder run is no longer waiting (ended or cancelled in Slack)",
    "function_execution_not_found": "Slack no longer knows that Workflow Builder run; start the workflow again",
    "parameter_validation_failed": "the step's outputs do not match manifest.yml: reinstall the app from it",
}


class DeliveryPolicy:
    """Slack's answers turned into retries, rate-limit pauses, or a failure in the history with admins told."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        admins: tuple[str, ...] = (),
        max_backoff: float = MAX_BACKOFF,
        on_token_refused: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._on_token_refused = on_token_refused
        self._store = store
        self._clock = clock
        self._admins = admins
        self._max_backoff = max_backoff
        self._paused_until: dict[str, float] = {}

    def paused_for(self, message: OutboxMessage, loop_now: float) -> float:
        """Seconds this message must still wait because Slack rate-limited its method (or conversation)."""
        return self._paused_until.get(limit_scope(message), 0.0) - loop_now

    async def slack_error(self, pending: PendingMessage, error: SlackApiError) -> None:
        """Retry, pause or give up, as Slack's error calls for."""
        response = error.response
        status = response.status_code
        data = response.data
        code = str(data.get("error", "unknown_error")) if isinstance(data, dict) else f"http_{status}"
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after(response.headers)
            resume = asyncio.get_running_loop().time() + retry_after
            scope = limit_scope(pending.message)
            self._paused_until[scope] = max(self._paused_until.get(scope, 0.0), resume)
            await self.retry(pending, retry_after, f"rate limited for {retry_after:.0f}s")
        elif status >= 500 or code in TRANSIENT_ERRORS:
            await self.retry(pending, self.backoff(pending.attempts), f"slack http {status} {code}")
        elif code in AUTH_ERRORS and self._on_token_refused is not None:
            await self._on_token_refused(code)  # sending pauses; this message keeps its place and its count
            await self.retry(pending, 0.0, f"slack error {code}: sending paused", count=False)
        elif code in AUTH_ERRORS:
            await self.retry(pending, self.backoff(pending.attempts), f"slack error {code}")
        elif code in PERMANENT_ERRORS or pending.attempts + 1 >= GIVE_UP_AFTER_ATTEMPTS:
            await self.fail(pending, code)
        else:
            await self.retry(pending, self.backoff(pending.attempts), f"slack error {code}")

    async def unexpected(self, pending: PendingMessage, error: Exception) -> None:
        """A failure inside Baton while sending: retried a few times, then given up like a permanent error."""
        if pending.attempts + 1 >= GIVE_UP_AFTER_ATTEMPTS:
            await self.fail(pending, "baton_error")
        else:
            await self.retry(pending, self.backoff(pending.attempts), f"unexpected: {error!r}")

    def backoff(self, attempts: int) -> float:
        base: float = min(self._max_backoff, 0.5 * 2.0 ** min(attempts, 12))
        return base * random.uniform(0.5, 1.0)

    async def retry(self, pending: PendingMessage, delay: float, reason: str, *, count: bool = True) -> None:
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

    async def fail(self, pending: PendingMessage, code: str) -> None:
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

    def _admin_alerts(self, failed: OutboxMessage, code: str) -> list[OutboxMessage]:
        """Tell the admins a message could not be delivered (alerts carry no instance, so they never cascade)."""
        hint = _FIXES.get(code, "check that person or channel")
        text = (
            f":warning: Baton could not deliver a message about request #{failed.instance_id} to "
            f"`{failed.conversation}`: Slack answered `{code}`. The request goes on; {hint}."
        )
        if failed.method.startswith("functions."):  # the request has ended; its Workflow Builder step was told
            text = (
                f":warning: Baton could not complete the Workflow Builder step of request #{failed.instance_id}: "
                f"Slack answered `{code}` to `{failed.method}`; {hint}."
            )
        return [
            OutboxMessage(conversation=admin, method="chat.postMessage", args={"channel": admin, "text": text})
            for admin in self._admins
            if admin != failed.conversation
        ]


def limit_scope(message: OutboxMessage) -> str:
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
