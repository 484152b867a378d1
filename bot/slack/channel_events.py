"""Channels Baton's notify steps post to, lost: Baton removed (`member_left_channel`) or the channel archived."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channel_notices import ChannelNotices

__all__ = ["ChannelEvents"]

log = logging.getLogger(__name__)

Body = dict[str, Any]


class ChannelEvents:
    """The owners' DMs are queued (committed) before the 200, so they hear of it before the next post fails."""

    def __init__(self, notices: ChannelNotices) -> None:
        self._notices = notices

    async def member_left_channel(
        self, ack: AsyncAck, event: Body, context: AsyncBoltContext, client: AsyncWebClient
    ) -> None:
        channel = event.get("channel")
        if event.get("user") == context.bot_user_id and isinstance(channel, str):  # Baton itself was removed
            await self._lost(client, channel, "left")
        await ack()

    async def channel_archive(self, ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        channel = event.get("channel")
        if isinstance(channel, str):
            await self._lost(client, channel, "archived")
        await ack()

    async def _lost(self, client: AsyncWebClient, channel: str, what: str) -> None:
        name = await _channel_name(client, channel)  # steps may name it `#name`
        await self._notices.channel_lost(channel[:40], name, what)


async def _channel_name(client: AsyncWebClient, channel: str) -> str | None:
    """The channel's name, for steps that name it `#name`; None when Slack will not say (the ID still matches)."""
    try:
        answer = await client.conversations_info(channel=channel)
    except SlackApiError as error:
        log.info("conversations.info for %s failed: %s", channel, error.response.get("error"))
        return None
    except Exception as error:  # network trouble: the steps naming the channel by ID are still found
        log.info("conversations.info for %s failed: %r", channel, error)
        return None
    found = answer.get("channel")
    name = found.get("name") if isinstance(found, dict) else None
    return name if isinstance(name, str) and name else None
