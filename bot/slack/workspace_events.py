"""Events from the workspace that Baton acts on: a new member, a mention of Baton, its Home tab opened."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import Started, WorkflowService

from .followups import FollowUps
from .home import home_view
from .messages import help_text
from .parsing import text_of

__all__ = ["WorkspaceEvents"]

log = logging.getLogger(__name__)

Body = dict[str, Any]


class WorkspaceEvents:
    """What an event changes is committed before the 200; talking back to Slack follows it."""

    def __init__(self, service: WorkflowService, followups: FollowUps) -> None:
        self._service = service
        self._later = followups.later

    async def team_join(self, ack: AsyncAck, event: Body) -> None:
        user = event.get("user")
        user_id = user.get("id") if isinstance(user, dict) else user
        if isinstance(user_id, str) and not (isinstance(user, dict) and (user.get("is_bot") or user.get("deleted"))):
            for result in await self._service.start_for_new_member(user_id):  # committed before the 200
                if isinstance(result, Started):
                    log.info("started %s for new member %s", result.instance.title, user_id)
        await ack()

    async def app_mention(self, ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        """Someone @-mentioned Baton: answer in the thread with what it can do."""
        await ack()
        channel = event.get("channel")
        if isinstance(channel, str):
            thread = event.get("thread_ts") or event.get("ts")
            self._later(_answer_mention(client, channel, thread), what="mention answer")

    async def app_home_opened(self, ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        await ack()
        if event.get("tab") not in (None, "home"):
            return
        user_id = text_of(event.get("user"))
        view = home_view(await self._service.screens.open_home(user_id))
        self._later(_publish_home(client, user_id, view), what="home publish")  # one Slack call after the ack


async def _answer_mention(client: AsyncWebClient, channel: str, thread: Any) -> None:
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread, text=help_text())
    except SlackApiError as error:
        log.warning("could not answer a mention in %s: %s", channel, error.response.get("error"))


async def _publish_home(client: AsyncWebClient, user_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        log.warning("views.publish failed: user=%s error=%s", user_id, error.response.get("error"))
