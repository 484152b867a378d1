"""Sending paused while Slack refuses Baton's token: messages wait, an auth.test probe finds when to resume."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.store import OutboxMessage, SendingPause, Store

__all__ = ["FIRST_PROBE_SECONDS", "HOW_TO_RESUME", "SendingPauseGate"]

log = logging.getLogger("bot.outbox")

SLACK_NOTICES = ("app_uninstalled", "tokens_revoked")
"""Reasons that are Slack's own notice of why the token stopped working: they name the cause that a refused call's
error (`invalid_auth`, sent just before the notice arrives) only shows."""
FIRST_PROBE_SECONDS = 5.0  # the first auth.test after a pause; each failed probe doubles the wait (to a cap)

HOW_TO_RESUME = (
    "reinstall Baton from manifest.yml (or restore its token) and, if Slack issued a new token, set "
    "SLACK_BOT_TOKEN and restart; Baton checks the token with auth.test and resumes by itself"
)


class SendingPauseGate:
    """Whether the sender may claim messages: not while the store records a pause and the token is still refused.

    The pause lives in the store, so it survives restarts and holds every process sending from that database.
    While paused, nothing is claimed: every pending message keeps its place and its attempt count. A probe
    (auth.test, with backoff) runs when due; the first success ends the pause, tells the admins, and the queue
    drains in its usual order."""

    def __init__(
        self,
        store: Store,
        client: AsyncWebClient,
        clock: Clock,
        *,
        admins: tuple[str, ...] = (),
        max_backoff: float = 300.0,
        first_probe: float = FIRST_PROBE_SECONDS,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._admins = admins
        self._max_backoff = max_backoff
        self._first_probe = min(first_probe, max_backoff)  # a short retry cap (tests, bench) probes sooner too
        self._probe_wait = self._first_probe
        self._next_probe = 0.0  # loop time: a pause found at start-up is probed at once
        self.paused: SendingPause | None = None  # as last read from the store (health, metrics)

    async def pause(self, reason: str) -> None:
        """Record the pause (committed before it returns); the first one is logged as the one line to act on."""
        now = self._clock.now()
        async with self._store.transaction() as work:
            first = await work.pause_sending(reason, now, notices=SLACK_NOTICES)
            waiting = await work.outbox_depth()
        if first:
            self._probe_wait = self._first_probe
            self._next_probe = asyncio.get_running_loop().time() + self._first_probe
            log.error(
                "Slack refuses Baton's token (%s): sending is paused, %s messages kept; to resume, %s",
                reason,
                waiting,
                HOW_TO_RESUME,
            )
        self.paused = self.paused or SendingPause(reason, now)

    async def held(self) -> bool:
        """True while sending stays paused; probes the token when a probe is due and resumes on success."""
        async with self._store.transaction(read_only=True) as work:
            self.paused = await work.sending_pause()
        if self.paused is None:
            return False
        loop_now = asyncio.get_running_loop().time()
        if loop_now < self._next_probe:
            return True
        try:
            await self._client.auth_test()
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            self._probe_failed(loop_now, str(code or error.response.status_code))
            return True
        except Exception as error:  # Slack unreachable: the token may be fine, but sending would fail too
            self._probe_failed(loop_now, repr(error))
            return True
        await self._resume()
        return False

    def _probe_failed(self, loop_now: float, why: str) -> None:
        log.info("sending stays paused: auth.test answered %s; next check in %.0fs", why, self._probe_wait)
        self._next_probe = loop_now + self._probe_wait
        self._probe_wait = min(self._max_backoff, self._probe_wait * 2)

    async def _resume(self) -> None:
        now = self._clock.now()
        async with self._store.transaction() as work:
            ended = await work.resume_sending()
            waiting = await work.outbox_depth()
            if ended is not None:
                await work.enqueue(self._resumed_notes(ended, now, waiting), now)
        self.paused = None
        self._probe_wait = self._first_probe
        if ended is not None:
            log.warning("Slack accepts Baton's token again: sending resumes, %s messages to send", waiting)

    def _resumed_notes(self, ended: SendingPause, now: datetime, waiting: int) -> list[OutboxMessage]:
        minutes = max(0, round((now - ended.since).total_seconds() / 60))
        text = (
            f":information_source: Baton could not send anything to Slack for {minutes} min "
            f"(since {ended.since:%Y-%m-%d %H:%M} UTC): Slack answered `{ended.reason}`, so its token was revoked "
            f"or the app uninstalled. The token works again; the {waiting} messages kept meanwhile are going out "
            "now, in order. Nothing was lost."
        )
        return [
            OutboxMessage(conversation=admin, method="chat.postMessage", args={"channel": admin, "text": text})
            for admin in self._admins
        ]
