"""The scheduler's sweeps: never two runs at once, and a run longer than the interval is followed, not skipped."""

from __future__ import annotations

import asyncio
import logging

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED

from bot.scheduler import Scheduler

INTERVAL = 0.02  # seconds: many ticks fall due while the first run is held


async def test_a_sweep_longer_than_its_interval_is_followed_by_the_next_at_once_and_never_overlaps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    scheduler = Scheduler()
    release, followed = asyncio.Event(), asyncio.Event()
    runs, running, most = 0, 0, 0
    ticks_while_held = 0

    async def sweep() -> None:
        nonlocal runs, running, most
        runs += 1
        running += 1
        most = max(most, running)
        try:
            if runs == 1:
                await release.wait()
            else:
                followed.set()
        finally:
            running -= 1

    def count_tick(_event: object) -> None:
        nonlocal ticks_while_held
        ticks_while_held += not release.is_set()

    scheduler.every(INTERVAL, sweep, name="sweep")
    # every tick that came: run, or (as APScheduler does with max_instances) skipped
    scheduler._scheduler.add_listener(count_tick, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        async with asyncio.timeout(10):
            while ticks_while_held < 5:  # the first run is still going while these ticks come
                await asyncio.sleep(INTERVAL)
            release.set()
            await followed.wait()
    finally:
        scheduler.shutdown()
    assert most == 1
    assert "sweep" in scheduler.runs
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler")]


async def test_a_failing_sweep_is_logged_and_runs_again_at_its_next_time(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler()
    again = asyncio.Event()
    runs = 0

    async def sweep() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("the store went away")
        again.set()

    scheduler.every(INTERVAL, sweep, name="sweep")
    scheduler.start()
    try:
        await asyncio.wait_for(again.wait(), 10)
    finally:
        scheduler.shutdown()
    assert any("scheduled job sweep failed" in r.getMessage() for r in caplog.records)


def test_at_info_the_log_leaves_out_the_schedulers_lines_for_every_run_and_keeps_its_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.logs import configure_logging

    root = logging.getLogger()
    level = root.level
    configure_logging("INFO", "text", [])
    try:
        runs = logging.getLogger("apscheduler.executors.default")
        runs.info('Running job "timer-sweep (trigger: interval[0:00:05])"')
        runs.warning('Run time of job "timer-sweep" was missed by 0:00:07')
        logging.getLogger("bot.app").info("listening on http://0.0.0.0:3000/slack/events")
        written = capsys.readouterr().err
        assert "listening on" in written
        assert "was missed" in written
        assert "Running job" not in written
        configure_logging("DEBUG", "text", [])  # asked for: every run is shown again
        runs.info('Running job "timer-sweep (trigger: interval[0:00:05])"')
        assert "Running job" in capsys.readouterr().err
    finally:
        for existing in [h for h in root.handlers if h.get_name() == "baton"]:
            root.removeHandler(existing)
        root.setLevel(level)
        logging.getLogger("apscheduler.executors").setLevel(logging.NOTSET)
