"""`user_change` from Slack: a person's new time zone holds at once; a deactivated person's tasks move on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.departures import Departures

__all__ = ["PeopleEvents"]

log = logging.getLogger(__name__)

Body = dict[str, Any]


class PeopleEvents:
    """What a profile change means for Baton, done (and committed) before the 200."""

    def __init__(self, departures: Departures, note_zone: Callable[[str, str], None]) -> None:
        self._departures = departures
        self._note_zone = note_zone

    async def user_change(self, ack: AsyncAck, event: Body) -> None:
        user = event.get("user")
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user, dict) or not isinstance(user_id, str) or user.get("is_bot"):
            await ack()
            return
        zone = user.get("tz")
        if isinstance(zone, str):
            self._note_zone(user_id, zone)  # the next reminder in working hours uses it
        if user.get("deleted") is True:
            await self._departures.deactivated(user_id)
        await ack()
