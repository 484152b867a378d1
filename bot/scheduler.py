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


class _Sweep:
    """One periodic job that never runs twice at once and never drops a tick: a tick that comes while a run
    is going makes the next run start as soon as that one ends (once, however many ticks came)."""

    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[None]],
        *,
        on_start: Callable[[str], None],
        active: Callable[[], bool],
    ) -> None:
        self.name = name
        self._job = job
        self._on_start = on_start
        self._active = active  # false once the scheduler is shut down: then no further round
        self._running = False
        self._again = False

    async def tick(self) -> None:
        if self._running:
            self._again = True  # the run in progress goes round once more when it ends
            return
        self._running = True
        try:
            while True:
                self._again = False
                self._on_start(self.name)
                try:
                    await self._job()
                except Exception:
                    log.exception("scheduled job %s failed; it runs again at its next time", self.name)
                if not (self._again and self._active()):
                    return
        finally:
            self._running = False


class Scheduler:
    """Runs Baton's sweeps in the same event loop as the Bolt app."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self.runs: dict[str, JobRun] = {}  # each sweep's last start, for /metrics and /healthz
        self._under_way: set[asyncio.Task[None]] = set()  # sweeps running now, which a stop lets finish
        self._stopping = False
        self._due: dict[str, datetime] = {}  # each sweep's latest tick: when it was scheduled to run
        self._scheduler.add_listener(self._submitted, EVENT_JOB_SUBMITTED)

    def _submitted(self, event: Any) -> None:
        self._due[event.job_id] = max(event.scheduled_run_times, default=datetime.now(UTC))

    def _started(self, name: str) -> None:
        now = datetime.now(UTC)
        due = self._due.get(name, now)
        self.runs[name] = JobRun(now, max(0.0, (now - due).total_seconds()))

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def every(self, seconds: float, job: Callable[[], Awaitable[None]], *, name: str) -> None:
        """Run `job` every `seconds`, never two runs at once; a run that takes longer than `seconds` is followed
        by the next one right away, and a tick that comes late (a busy event loop) still runs."""
        sweep = _Sweep(name, job, on_start=self._started, active=lambda: self.running and not self._stopping)

        async def tracked() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._under_way.add(task)
            try:
                await sweep.tick()
            finally:
                if task is not None:
                    self._under_way.discard(task)

        self._scheduler.add_job(
            tracked,
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            max_instances=2,  # the second only marks the first to go round again, and returns at once
            coalesce=True,
            misfire_grace_time=None,
        )

    def next_run(self, name: str) -> datetime | None:
        """When the job `name` is next due to run (None: no such job, or the scheduler is not running)."""
        job = self._scheduler.get_job(name)
        when = job.next_run_time if job is not None else None
        return when if isinstance(when, datetime) else None

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def stop(self, *, timeout: float) -> bool:
        """Start no more sweeps and let those under way finish (each is its own transactions) for up to
        `timeout` seconds; True if none had to be cancelled."""
        self._stopping = True
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
