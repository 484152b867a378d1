"""Readiness (/readyz): whether a process should be sent requests, as one short reason or None."""

from __future__ import annotations

import asyncio
import logging

from bot.migrate import schema_version
from bot.store import Store
from bot.store.schema import SCHEMA_VERSION

__all__ = ["READINESS_TIMEOUT_SECONDS", "readiness"]

log = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 3.0  # a probe that waits longer than this on the database counts as unreachable


async def readiness(store: Store, database_url: str, *, stopping: bool) -> str | None:
    """None when ready; else "stopping", "store" (unreachable) or "schema" (not the version this Baton needs)."""
    if stopping:
        return "stopping"
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            async with store.transaction(read_only=True) as work:
                await work.outbox_depth()
            version = await schema_version(database_url)
    except Exception as error:  # readiness must answer, whatever is broken; the detail goes to the log only
        log.warning("not ready: the store did not answer (%s)", type(error).__name__)
        return "store"
    if version != SCHEMA_VERSION:
        log.warning("not ready: the database schema is at version %s, this Baton needs %s", version, SCHEMA_VERSION)
        return "schema"
    return None
