"""People's time zones from Slack (`users.info`), for those org.yaml does not list; cached with a time limit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

__all__ = ["SlackProfiles"]

log = logging.getLogger(__name__)


class SlackProfiles:
    """Time zones by user ID, read from Slack once and kept for `ttl` seconds (bounded, so never stale long)."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 24 * 3600, max_people: int = 50_000) -> None:
        self._client = client
        self._ttl = ttl
        self._max_people = max_people
        self._zones: dict[str, tuple[str, float]] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def zone(self, user_id: str) -> str | None:
        """The person's IANA zone if known and fresh."""
        known = self._zones.get(user_id)
        if known is None or time.monotonic() - known[1] > self._ttl:
            return None
        return known[0]

    def note_zone(self, user_id: str, zone: str) -> None:
        """Slack says the person's zone changed (`user_change`): it holds from now on, for the next reminder."""
        if zone:
            self._zones.pop(user_id, None)
            if len(self._zones) >= self._max_people:
                self._zones.pop(next(iter(self._zones)))
            self._zones[user_id] = (zone, time.monotonic())

    def learn(self, user_ids: Iterable[str]) -> None:
        """Look these people up in the background (never on the path of a click)."""
        missing = [user for user in dict.fromkeys(user_ids) if self.zone(user) is None]
        if missing:
            task = asyncio.get_running_loop().create_task(self.refresh(missing))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def refresh(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            try:
                answer = await self._client.users_info(user=user_id)
            except SlackApiError as error:
                log.info("users.info for %s failed: %s", user_id, error.response.get("error"))
                continue
            except Exception as error:  # network trouble: try again the next time this person comes up
                log.info("users.info for %s failed: %r", user_id, error)
                continue
            user = answer.get("user") or {}
            zone = user.get("tz") if isinstance(user, dict) else None
            if isinstance(zone, str):
                self.note_zone(user_id, zone)

    async def wait(self) -> None:
        """Finish the lookups under way (used at shutdown and by tests)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
