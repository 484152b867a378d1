"""Retention (RETENTION_DAYS): requests finished long ago are purged by the scheduled sweep and by `python -m bot
purge`, with everything they own, while newer and open requests stay, requests with a message still to send wait,
and a report over the purged period shows the same figures as before."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Baton
from bot.clock import OffsetClock
from bot.emulator import HttpError, SlackEmulator
from bot.engine import OrgDirectory
from bot.engine.kpis import Durations, KpiReport, Period
from bot.reporting.kpi_report import build_report
from bot.service import Refused, Started

from .conftest import baton_settings
from .databases import query, sent_all_but
from .processes import PROJECT
from .story import copy_workflows

ALICE, BOB, MARIA = "U0ALICE", "U0BOB", "U0MARIA"
LONG_AGO = timedelta(days=200)


def long_ago() -> OffsetClock:
    """A clock at 09:00 UTC on a Tuesday at least 200 days ago, so that a week later reminders are in working hours."""
    day = (datetime.now(UTC) - LONG_AGO).replace(hour=9, minute=0, second=0, microsecond=0)
    return OffsetClock(start=day - timedelta(days=(day.weekday() - 1) % 7))


def back_to_two_days_ago(clock: OffsetClock) -> None:
    clock.advance(datetime.now(UTC) - timedelta(days=2) - clock.now())
KEEPER = """
name: keeper
title: Keeper
form:
  - {id: item, label: Item}
steps:
  - {id: check, type: approval, title: "Check {form.item}", assignee: requester.manager}
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(tmp_path / "workflows", keeper=KEEPER)


@asynccontextmanager
async def baton_at(
    tmp_path: Path,
    slack: SlackEmulator,
    workflows_dir: Path,
    database_url: str,
    clock: OffsetClock,
    **overrides: object,
) -> AsyncIterator[Baton]:
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows_dir, database_url=database_url)
    app = Baton(settings.model_copy(update={"slack_retry_max_seconds": 0.5, **overrides}), clock=clock)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def started(baton: Baton, workflow: str, requester: str, form: dict[str, object]) -> tuple[int, str]:
    result = await baton.service.start(workflow, requester, form)  # type: ignore[arg-type]
    assert isinstance(result, Started), result
    return result.instance.id, result.instance.open_tasks()[0].id


async def expense(baton: Baton, requester: str, *, decision: str = "approve") -> int:
    request, task = await started(baton, "expense-approval", requester, {"amount": 120, "currency": "EUR",
                                                                          "reason": "Train to the client"})
    await baton.service.act(task, MARIA, decision, "not this time" if decision == "reject" else None)
    return request


async def old_history(baton: Baton, clock: OffsetClock, slack: SlackEmulator) -> dict[str, int]:
    """Requests of long ago: one completed, one escalated and rejected, one still open, and one completed whose
    last messages Slack has not taken yet (Bob's DMs fail)."""
    completed = await expense(baton, ALICE)
    escalated, task = await started(baton, "expense-approval", ALICE, {"amount": 90, "currency": "EUR",
                                                                       "reason": "Hotel for two nights"})
    clock.advance(timedelta(days=7))  # past due: reminded and escalated
    await baton.service.timer_sweep.fire_due_timers()
    await baton.service.act(task, MARIA, "reject", "no receipt")
    still_open, _ = await started(baton, "keeper", ALICE, {"item": "the old laptop"})
    slack.inject("chat.postMessage", HttpError(500), times=None, channel=BOB)
    unsent = await expense(baton, BOB)
    return {"completed": completed, "escalated": escalated, "open": still_open, "unsent": unsent}


def old_period(clock: OffsetClock) -> Period:
    """Whole UTC days around the old requests (a purged request counts on its day)."""
    day = (clock.now() - timedelta(days=14)).replace(hour=0, minute=0, second=0, microsecond=0)
    return Period(day, day + timedelta(days=35), "the old weeks")


async def report(baton: Baton, period: Period) -> KpiReport:
    directory = OrgDirectory(baton.service.catalog.org)
    return await build_report(baton.store, period, now=period.end, workflows=None, directory=directory)


def kept_figures(report: KpiReport, *, percentiles: bool) -> list[object]:
    """The report's figures per workflow, step and week, totals rounded to the millisecond; medians and 90th
    percentiles only when asked (a purged day's requests stand in them at their mean)."""

    def kept(figures: object) -> object:
        values = dict(vars(figures))
        for name, value in values.items():
            if isinstance(value, Durations):
                values[name] = (value.count, round(value.total, 3), *((value.median, value.p90) if percentiles else ()))
        return values

    return [
        kept(report.total),
        {name: kept(figures) for name, figures in report.workflows.items()},
        [kept(step) for step in report.steps],
        [kept(week) for week in report.weeks],
    ]


def same_figures(before: KpiReport, after: KpiReport, *, percentiles: bool = True) -> None:
    assert kept_figures(after, percentiles=percentiles) == kept_figures(before, percentiles=percentiles)


async def rows_of(database_url: str, requests: list[int]) -> dict[str, int]:
    """How many rows each table holds for these requests."""
    among = ", ".join(str(request) for request in requests)
    counts = {}
    for table, column in (("instances", "id"), ("events", "instance_id"), ("tasks", "instance_id"),
                          ("timers", "instance_id"), ("outbox", "instance_id")):  # fmt: skip
        found = await query(database_url, f"SELECT COUNT(*) FROM {table} WHERE {column} IN ({among})")
        counts[table] = int(found[0][0])
    counts["slack_messages"] = int((await query(
        database_url,
        "SELECT COUNT(*) FROM slack_messages WHERE message_key IN "
        f"(SELECT message_key FROM outbox WHERE instance_id IN ({among}))",
    ))[0][0])  # fmt: skip
    return counts


async def gone(database_url: str, request: int, *, timeout: float = 20.0) -> None:
    for _ in range(int(timeout * 10)):
        if not (await query(database_url, f"SELECT 1 FROM instances WHERE id = {request}")):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"request {request} was not purged")


async def test_the_scheduled_sweep_purges_what_finished_long_ago_and_the_report_of_that_time_stays_the_same(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, database_url: str
) -> None:
    clock = long_ago()
    async with baton_at(
        tmp_path, slack, workflows_dir, database_url, clock, retention_days=90, retention_sweep_seconds=0.3
    ) as baton:
        old = await old_history(baton, clock, slack)
        period = old_period(clock)
        await asyncio.sleep(1.0)  # the old requests' messages go out (but Bob's); the sweep runs, purging nothing yet
        assert len(await query(database_url, "SELECT id FROM instances")) == 4
        before = await report(baton, period)
        assert (before.total.started, before.total.completed, before.total.rejected) == (4, 2, 1)
        assert before.total.reminders + before.total.escalations >= 1

        back_to_two_days_ago(clock)  # the old ones finished more than 190 days before that
        recent = await expense(baton, ALICE)
        await gone(database_url, old["completed"])
        await gone(database_url, old["escalated"])
        purged = [old["completed"], old["escalated"]]
        assert await rows_of(database_url, purged) == dict.fromkeys(
            ("instances", "events", "tasks", "timers", "outbox", "slack_messages"), 0
        )
        kept = sorted(int(row[0]) for row in await query(database_url, "SELECT id FROM instances"))
        assert kept == sorted([old["open"], old["unsent"], recent])  # open, newer, and one with messages to send
        pending = await query(database_url, f"SELECT COUNT(*) FROM outbox WHERE instance_id = {old['unsent']} "
                                            "AND status = 'pending'")  # fmt: skip
        assert int(pending[0][0]) >= 1
        same_figures(before, await report(baton, period))  # each purged day held one request: even medians hold

        slack.clear_faults()  # Bob's messages go out at last: then his request goes too
        await gone(database_url, old["unsent"])
        assert await rows_of(database_url, [old["unsent"]]) == dict.fromkeys(
            ("instances", "events", "tasks", "timers", "outbox", "slack_messages"), 0
        )
        after = await report(baton, period)
        same_figures(before, after, percentiles=False)  # Bob's approval was decided on the rejected one's day
        assert after.total.cycle_time == before.total.cycle_time  # the completed ones finished on different days
        assert (after.total.started, after.total.completed, after.total.rejected) == (4, 2, 1)
        assert not isinstance(await baton.service.screens.status(old["open"], ALICE), Refused)  # the open one stays


async def run_cli(database_url: str, *args: str, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        cwd=PROJECT, env={**os.environ, "DATABASE_URL": database_url, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode()


async def test_python_m_bot_purge_removes_what_is_past_retention_and_says_what(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, database_url: str
) -> None:
    clock = long_ago()
    async with baton_at(tmp_path, slack, workflows_dir, database_url, clock) as baton:  # no RETENTION_DAYS: no sweep
        old = await old_history(baton, clock, slack)
        period = old_period(clock)
        back_to_two_days_ago(clock)
        recent = await expense(baton, ALICE)
        await sent_all_but(database_url, BOB)  # Slack refuses Bob's DMs
        before = await report(baton, period)
        assert len(await query(database_url, "SELECT id FROM instances")) == 5  # kept for ever without the setting

        status, said = await run_cli(database_url, "purge")
        assert status == 2 and "RETENTION_DAYS is not set" in said, said
        status, said = await run_cli(database_url, "purge", RETENTION_DAYS="90")
        assert status == 0, said
        assert "purged 2 requests finished before" in said and " events" in said and " tasks" in said, said
        kept = sorted(int(row[0]) for row in await query(database_url, "SELECT id FROM instances"))
        assert kept == sorted([old["open"], old["unsent"], recent])
        same_figures(before, await report(baton, period))
        assert (before.total.started, before.total.completed, before.total.rejected) == (4, 2, 1)

        status, said = await run_cli(database_url, "purge", RETENTION_DAYS="90")
        assert status == 0 and "nothing to purge" in said, said
        status, said = await run_cli(database_url, "purge", "--older-than", "1")  # the recent one is 2 days old
        assert status == 0 and "purged 1 requests" in said, said
        assert await rows_of(database_url, [recent]) == dict.fromkeys(
            ("instances", "events", "tasks", "timers", "outbox", "slack_messages"), 0
        )
        assert await expense(baton, ALICE) > recent  # a purged request's number is never given again
