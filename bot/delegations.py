"""Out of office: a person's new tasks go to a delegate until a day they choose."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.engine import People, RefusalReason, Why
from bot.pipeline import Refused
from bot.workspace import Workspace

__all__ = ["Delegations"]

log = logging.getLogger(__name__)


class Delegations:
    """Setting, ending and reading delegations (stored, so every process sees them)."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    async def delegate(self, user_id: str, delegate: str, until: datetime) -> Refused | None:
        """Send `user_id`'s new tasks to `delegate` until the end of that time."""
        now = self._workspace.now()
        if delegate == user_id:
            return Refused(Why(RefusalReason.DELEGATE_TO_SELF))
        if until <= now:
            return Refused(Why(RefusalReason.DELEGATION_IN_PAST))
        async with self._workspace.store.transaction() as work:
            chain = await work.active_delegations(now)
            if chain.get(delegate) is not None:
                away = {"delegate": People((delegate,)), "their_delegate": People((chain[delegate],))}
                return Refused(Why(RefusalReason.DELEGATE_AWAY, away))
            await work.set_delegation(user_id, delegate, now, until)
        log.info("delegation set: user=%s delegate=%s until=%s", user_id, delegate, until.isoformat())
        return None

    async def end_delegation(self, user_id: str) -> bool:
        """End a delegation now; True if one was running."""
        async with self._workspace.store.transaction() as work:
            return await work.end_delegation(user_id, self._workspace.now())

    async def delegation_of(self, user_id: str) -> str | None:
        async with self._workspace.store.transaction(read_only=True) as work:
            return (await work.active_delegations(self._workspace.now())).get(user_id)
