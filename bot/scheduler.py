"""Time-driven work on APScheduler's AsyncIOScheduler: periodic sweeps over the store, not a job per item."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler

__all__ = ["JobRun", "Scheduler"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRun:
    """When a sweep last started, and how many seconds after its scheduled time."""

    at: datetime
    lag: float


class Scheduler:
    """Runs Baton's sweeps in the same event loop as the Bolt app."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self.runs: dict[str, JobRun] = {}  # each sweep's last start, for /metrics and /healthz
        self._under_way: set[asyncio.Task[None]] = set()  # sweeps running now, which a stop lets finish
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    def _submitted(self, event: Any) -> None:
        now = datetime.now(UTC)
        scheduled = max(event.scheduled_run_times, default=now)
        self.runs[event.job_id] = JobRun(now, max(0.0, (now - scheduled).total_seconds()))

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `job` every `seconds`; a run still going when the next is due is skipped, not doubled."""

        async def guarded() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._under_way.add(task)
            try:
                await job()
            except Exception:
                log.exception("scheduled job %s failed; it runs again at its next time", name)
            finally:
                if task is not None:
                    self._under_way.discard(task)

        self._scheduler.add_job(
            guarded, "interval", seconds=seconds, id=name, name=name, max_instances=1, coalesce=True
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def stop(self, *, timeout: float) -> bool:
        """Start no more sweeps and let those under way finish (each is its own transactions) for up to
        `timeout` seconds; True if none had to be cancelled."""
        if self._scheduler.running:
            self._scheduler.pause()  # no new runs; shutting down now would cancel the runs under way mid-commit
        unfinished: set[asyncio.Task[None]] = set()
        if self._under_way:
            _done, unfinished = await asyncio.wait(set(self._under_way), timeout=timeout)
        self.shutdown()  # cancels what is still running: its transaction rolls back
        if unfinished:
            await asyncio.gather(*unfinished, return_exceptions=True)
            log.warning("stopping: %s sweeps cut short (their transactions rolled back)", len(unfinished))
        return not unfinished
