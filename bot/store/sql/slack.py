"""What Baton remembers of Slack: where its messages were posted, and which requests it has handled."""

from __future__ import annotations

from datetime import datetime

from bot.store.records import MessageRef
from bot.store.rows import epoch, moment

from .part import SQLPart

__all__ = ["SQLSeenRequests", "SQLSlackMessages"]


class SQLSlackMessages(SQLPart):
    """Where each logical message (its message_key) lives in Slack, by channel and ts."""

    async def message_ref(self, message_key: str) -> MessageRef | None:
        row = await self._db.one("SELECT channel, ts FROM slack_messages WHERE message_key = ?", (message_key,))
        return MessageRef(row[0], row[1]) if row else None

    async def message_key_at(self, channel: str, ts: str) -> str | None:
        row = await self._db.one("SELECT message_key FROM slack_messages WHERE channel = ? AND ts = ?", (channel, ts))
        return str(row[0]) if row else None


class SQLSeenRequests(SQLPart):
    """Slack requests (event ids, view ids) already handled, so that Slack's retries are not handled twice."""

    async def seen(self, request_key: str) -> bool:
        return await self._db.one("SELECT 1 FROM seen_requests WHERE request_key = ?", (request_key,)) is not None

    async def first_sighting(self, request_key: str, now: datetime) -> bool:
        # A second process inserting the same key waits for the first to commit, then inserts nothing.
        inserted = await self._db.changed(
            "INSERT INTO seen_requests (request_key, seen_at) VALUES (?, ?) ON CONFLICT (request_key) DO NOTHING",
            (request_key, epoch(now)),
        )
        return inserted == 1

    async def sighted_at(self, request_key: str) -> datetime | None:
        row = await self._db.one("SELECT seen_at FROM seen_requests WHERE request_key = ?", (request_key,))
        return moment(row[0]) if row else None

    async def forget_sighting(self, request_key: str) -> None:
        await self._db.write("DELETE FROM seen_requests WHERE request_key = ?", (request_key,))
