"""Time-driven work on APScheduler's AsyncIOScheduler: periodic sweeps over the store, not a job per item."""

from __future__ import annotations

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
