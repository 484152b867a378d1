"""Time-driven work on APScheduler's AsyncIOScheduler: periodic sweeps over the store, not a job per item."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    """Runs Baton's sweeps in the same event loop as the Bolt app."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `job` every `seconds`; a run still going when the next is due is skipped, not doubled."""

        async def guarded() -> None:
            try:
                await job()
            except Exception:
                log.exception("scheduled job %s failed; it runs again at its next time", name)

        self._scheduler.add_job(
            guarded, "interval", seconds=seconds, id=name, name=name, max_instances=1, coalesce=True
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
