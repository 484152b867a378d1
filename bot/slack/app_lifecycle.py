"""Slack's news about Baton's own install: its token revoked, the app uninstalled, its events rate-limited."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck

__all__ = ["AppLifecycle"]

log = logging.getLogger(__name__)

Body = dict[str, Any]


class AppLifecycle:
    """A revoked bot token or an uninstall pauses sending (committed before the 200); messages wait for a token."""

    def __init__(self, pause_sending: Callable[[str], Awaitable[None]]) -> None:
        self._pause_sending = pause_sending

    async def tokens_revoked(self, ack: AsyncAck, event: Body) -> None:
        tokens = event.get("tokens")
        bot = tokens.get("bot") if isinstance(tokens, dict) else None
        if isinstance(bot, list) and bot:  # Baton holds only its bot token: user tokens revoked change nothing
            await self._pause_sending("tokens_revoked")
        else:
            log.info("tokens_revoked for user tokens only: Baton holds none, sending goes on")
        await ack()

    async def app_uninstalled(self, ack: AsyncAck) -> None:
        await self._pause_sending("app_uninstalled")
        await ack()
