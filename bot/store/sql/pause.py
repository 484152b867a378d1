"""Whether sending to Slack is paused for the whole workspace (Baton's token refused), and since when."""

from __future__ import annotations

from datetime import datetime

from bot.store.records import SendingPause
from bot.store.rows import epoch, moment

from .part import SQLPart

__all__ = ["SQLSendingPause"]

_KEY = "slack"  # one workspace, one token: one pause


class SQLSendingPause(SQLPart):
    """The one pause row: written when Slack refuses the token, removed when a probe finds a good one."""

    async def sending_pause(self) -> SendingPause | None:
        row = await self._db.one("SELECT reason, paused_at FROM sending_pause WHERE pause_key = ?", (_KEY,))
        return SendingPause(str(row[0]), moment(float(row[1]))) if row else None

    async def pause_sending(self, reason: str, now: datetime) -> bool:
        # The first reason and time are kept: a second refusal while paused says nothing new.
        inserted = await self._db.changed(
            "INSERT INTO sending_pause (pause_key, reason, paused_at) VALUES (?, ?, ?) "
            "ON CONFLICT (pause_key) DO NOTHING",
            (_KEY, reason, epoch(now)),
        )
        return inserted == 1

    async def resume_sending(self) -> SendingPause | None:
        pause = await self.sending_pause()
        if pause is not None:
            await self._db.write("DELETE FROM sending_pause WHERE pause_key = ?", (_KEY,))
        return pause
