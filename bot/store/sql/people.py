"""Records kept per person: who opened the Home tab, whose digest went out today, who stands in for whom."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from bot.store.rows import epoch

from .part import SQLPart

__all__ = ["SQLDelegations", "SQLDigests", "SQLHomeViewers"]


class SQLHomeViewers(SQLPart):
    """The people whose Home tab is re-published when their work changes."""

    async def note_home_opened(self, user_id: str, now: datetime) -> None:
        await self._db.write(
            "INSERT INTO home_viewers (user_id, opened_at) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at",
            (user_id, epoch(now)),
        )

    async def home_viewers(self, user_ids: Collection[str]) -> set[str]:
        rows = await self._all_among(
            "SELECT user_id FROM home_viewers WHERE {among}", "user_id", list(dict.fromkeys(user_ids)), "text"
        )
        return {row[0] for row in rows}


class SQLDigests(SQLPart):
    """One daily digest a person and local date."""

    async def first_digest(self, user_id: str, local_date: str, now: datetime) -> bool:
        inserted = await self._db.changed(
            "INSERT INTO digests (user_id, local_date, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, local_date) DO NOTHING",
            (user_id, local_date, epoch(now)),
        )
        return inserted == 1


class SQLDelegations(SQLPart):
    """Who acts for whom, from when until when (one delegation a person)."""

    async def active_delegations(self, now: datetime) -> dict[str, str]:
        rows = await self._db.all(
            "SELECT user_id, delegate FROM delegations WHERE starts_at <= ? AND ends_at > ?", (epoch(now), epoch(now))
        )
        return {row[0]: row[1] for row in rows}

    async def set_delegation(self, user_id: str, delegate: str, starts_at: datetime, ends_at: datetime) -> None:
        await self._db.write(
            "INSERT INTO delegations (user_id, delegate, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET delegate = excluded.delegate, starts_at = excluded.starts_at, "
            "ends_at = excluded.ends_at, created_at = excluded.created_at",
            (user_id, delegate, epoch(starts_at), epoch(ends_at), epoch(starts_at)),
        )

    async def end_delegation(self, user_id: str, now: datetime) -> bool:
        ended = await self._db.changed(
            "UPDATE delegations SET ends_at = ? WHERE user_id = ? AND ends_at > ?", (epoch(now), user_id, epoch(now))
        )
        return ended == 1
