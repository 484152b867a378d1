"""Whether sending to Slack is paused for the whole workspace (Baton's token refused), and since when."""

from __future__ import annotations

from collections.abc import Sequence
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

    async def pause_sending(self, reason: str, now: datetime, *, notices: Sequence[str] = ()) -> bool:
        # The first reason and time are kept: a second refusal while paused says nothing new. But Slack's own
        # notice names the cause that a refused call only showed (a send can fail with `invalid_auth` between an
        # uninstall and its `app_uninstalled` event): it replaces a reason that did not.
        inserted = await self._db.changed(
            "INSERT INTO sending_pause (pause_key, reason, paused_at) VALUES (?, ?, ?) "
            "ON CONFLICT (pause_key) DO NOTHING",
            (_KEY, reason, epoch(now)),
        )
        if not inserted and reason in notices:
            unnamed = " AND ".join("reason <> ?" for _ in notices)
            await self._db.write(
                f"UPDATE sending_pause SET reason = ? WHERE pause_key = ? AND {unnamed}", (reason, _KEY, *notices)
            )
        return inserted == 1

    async def resume_sending(self) -> SendingPause | None:
        pause = await self.sending_pause()
        if pause is not None:
            await self._db.write("DELETE FROM sending_pause WHERE pause_key = ?", (_KEY,))
        return pause
