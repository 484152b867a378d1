"""Baton's Bolt app before any listener: answers after commit, the door's verification, counted calls, failures told."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import BatonMetrics

from .client import CountingWebClient
from .collaboration import tell
from .failures import FAILURE_NOTE, failure_answer, failure_note_target
from .followups import FollowUps

__all__ = ["bolt_app"]

log = logging.getLogger("bot.app")  # where "listener failed" has always been logged


def bolt_app(
    client: CountingWebClient, metrics: BatonMetrics, followups: FollowUps, *, signing_secret: SecretStr | None
) -> AsyncApp:
    """The AsyncApp every listener is registered on (bot/slack/listeners.py)."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret.get_secret_value() if signing_secret else None,
        # Slack's answer goes out when a listener returns, after what it changed is committed (an answer is a
        # promise); the Slack-only work that follows goes to `followups`.
        process_before_response=True,
        # The door (bot/inbound.py) has verified the signature and timestamp of every HTTP request over the raw
        # bytes before Bolt sees it; Socket Mode requests carry none.
        request_verification_enabled=False,
    )

    app.use(_CountedClient(client, metrics))

    @app.error
    async def _failed(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> BoltResponse:
        """Whatever failed, the person sees that it did (and an event is delivered again)."""
        log.error("listener failed: %s", error, exc_info=error)
        target = failure_note_target(body)
        if target is not None:
            user_id, channel_id = target
            followups.later(tell(client, channel_id, user_id, FAILURE_NOTE), what="failure note")
        return failure_answer(body)

    return app


class _CountedClient(AsyncMiddleware):
    """Bolt gives each request a plain client of its own: swap in one that reports its calls to /metrics
    (Baton's own, shared, when the token is its bot token: one workspace, so nothing else differs). A middleware
    class, not a function: Bolt calls it without working out which arguments it wants on every request."""

    def __init__(self, client: CountingWebClient, metrics: BatonMetrics) -> None:
        self._client = client
        self._metrics = metrics

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        context = req.context
        own = context.client
        same = own.token == self._client.token
        context["client"] = self._client if same else CountingWebClient.like(own, on_call=self._metrics.slack_call)
        return await next()
