"""Recurring starts: `start: {schedule: …}` starts each occurrence once, across processes and downtime."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import Baton
from bot.catalog import load_catalog
from bot.clock import OffsetClock
from bot.emulator import SlackDriver, SlackEmulator
from bot.engine.recurrence import parse_recurrence
from bot.migrate import migrate
from bot.store import Store, store_for

from .conftest import SIGNING_SECRET, baton_settings
from .databases import fresh_postgres
from .processes import BatonProcess
from .story import copy_workflows, task_message

HANNA = "U0HANNA"
BERLIN = ZoneInfo("Europe/Berlin")  # the calendar's time zone in workflows/org.yaml
REVIEW = """name: access-review
title: Access review
form:
  - {id: period, label: Period}
  - {id: system, label: System}
start:
  schedule: "first monday of the month 09:00"
  requester: U0HANNA
  form: {period: monthly, system: GitHub}
steps:
  - {id: review, title: "Review {form.system} access ({form.period})", assignee: requester}
"""
FIRST_MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)  # December 2026 starts on a Tuesday


@pytest.mark.parametrize(
    ("schedule", "now", "latest"),
    [
        ("first monday of the month 09:00", datetime(2026, 12, 2, 12, 0), datetime(2026, 11, 2, 9, 0)),
        ("first monday of the month 09:00", datetime(2026, 12, 7, 9, 0), datetime(2026, 12, 7, 9, 0)),
        ("first monday of the month 09:00", datetime(2026, 12, 7, 8, 59), datetime(2026, 11, 2, 9, 0)),
        ("last friday of the month 17:30", datetime(2026, 12, 2, 12, 0), datetime(2026, 11, 27, 17, 30)),
        ("second tue of the month 10:00", datetime(2026, 12, 9, 0, 0), datetime(2026, 12, 8, 10, 0)),
        ("every weekday 08:30", datetime(2026, 12, 6, 12, 0), datetime(2026, 12, 4, 8, 30)),  # a Sunday
        ("every day 07:00", datetime(2026, 12, 2, 6, 0), datetime(2026, 12, 1, 7, 0)),
        ("every Friday 16:00", datetime(2026, 12, 2, 6, 0), datetime(2026, 11, 27, 16, 0)),
        ("day 31 of the month 06:00", datetime(2026, 12, 2, 12, 0), datetime(2026, 10, 31, 6, 0)),
        ("0 9 * * 1", datetime(2026, 12, 2, 12, 0), datetime(2026, 11, 30, 9, 0)),
        ("30 9 * * 0", datetime(2026, 12, 2, 12, 0), datetime(2026, 11, 29, 9, 30)),  # cron's Sunday is 0
        ("*/15 8-9 1,15 * *", datetime(2026, 12, 2, 12, 0), datetime(2026, 12, 1, 9, 45)),
        ("0 9 1 1 *", datetime(2026, 12, 2, 12, 0), datetime(2026, 1, 1, 9, 0)),
        ("0 2 29 3 *", datetime(2026, 3, 29, 3, 30), datetime(2026, 3, 29, 3, 0)),  # 02:00 skipped by DST: 03:00
    ],
)
def test_a_schedule_knows_its_latest_occurrence_in_the_calendars_time_zone(
    schedule: str, now: datetime, latest: datetime
) -> None:
    found = parse_recurrence(schedule).latest(now.replace(tzinfo=BERLIN), BERLIN)
    assert found is not None and found.astimezone(UTC) == latest.replace(tzinfo=BERLIN).astimezone(UTC)


def test_a_misspelt_schedule_is_refused_at_load_with_file_line_and_a_suggestion(tmp_path: Path) -> None:
    cases = [
        ("frist monday of the month 09:00", "'frist' is not first, second, third, fourth or last (did you mean"),
        ("first mondy of the month 09:00", "did you mean 'monday'?"),
        ("every day 25:00", "is not a schedule; write e.g. 'first monday of the month 09:00'"),
        ("61 9 * * 1", "cron minute: '61' is outside 0-59"),
    ]
    for index, (schedule, says) in enumerate(cases):
        review = REVIEW.replace("first monday of the month 09:00", schedule)
        directory = copy_workflows(tmp_path / str(index), **{"access-review": review})
        errors = [str(error) for error in load_catalog(directory).errors]
        assert len(errors) == 1 and "access-review.yaml:7: start.schedule:" in errors[0] and says in errors[0], errors
    unknown = REVIEW.replace("form: {period: monthly, system: GitHub}", "form: {period: monthly, sytem: GitHub}")
    errors = [str(e) for e in load_catalog(copy_workflows(tmp_path / "form", **{"access-review": unknown})).errors]
    assert [error.split("access-review.yaml:")[1] for error in errors] == [
        "9: start.form.sytem: start.form.sytem: the form has no such field (did you mean 'system'?)",
        "9: start.form: start.form.system: This field is required.",
    ]
    nobody = REVIEW.replace("  requester: U0HANNA\n", "")
    errors = [str(e) for e in load_catalog(copy_workflows(tmp_path / "nobody", **{"access-review": nobody})).errors]
    assert len(errors) == 1 and "a schedule needs `requester`" in errors[0], errors


async def scheduled(store: Store) -> list[tuple[int, str, dict[str, object], str | None]]:
    """Every request of access-review: id, requester, form, and the trigger its history says started it."""
    async with store.transaction(read_only=True) as work:
        found = []
        for instance in await work.instances_requested_by(HANNA):
            if instance.workflow == "access-review":
                started = (await work.audit_trail(instance.id))[0]
                found.append((instance.id, instance.requester, dict(instance.form), started.data.get("trigger")))
        return found


async def test_a_monthly_start_fires_once_with_two_processes_on_postgresql(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = copy_workflows(tmp_path / "workflows", **{"access-review": REVIEW})
    clock = OffsetClock(start=FIRST_MONDAY - timedelta(minutes=1))
    async with fresh_postgres() as url:
        settings = baton_settings(tmp_path, slack, workflows_dir=workflows, database_url=url)
        first = Baton(settings.model_copy(update={"auto_migrate": True}), clock=clock)
        await first.start()
        second = Baton(settings, clock=clock)  # its own pool and connections to the same database
        await second.start()
        try:
            assert await scheduled(first.store) == []  # not due yet
            clock.advance(timedelta(minutes=2))
            for _round in range(3):  # both sweep at the same moment, again and again
                await asyncio.gather(first.scheduled_starts.start_due(), second.scheduled_starts.start_due())
            [(_id, requester, form, trigger)] = await scheduled(first.store)
            assert (requester, form, trigger) == (HANNA, {"period": "monthly", "system": "GitHub"}, "schedule")
            await task_message(slack, HANNA, "task_complete", containing="Review GitHub access (monthly)")
            clock.advance(timedelta(days=27))  # a Sunday: January's first Monday is 4 January 2027
            await asyncio.gather(first.scheduled_starts.start_due(), second.scheduled_starts.start_due())
            assert len(await scheduled(first.store)) == 1
            clock.advance(timedelta(days=1))
            await asyncio.gather(first.scheduled_starts.start_due(), second.scheduled_starts.start_due())
            assert len(await scheduled(second.store)) == 2
        finally:
            await second.stop()
            await first.stop()


async def test_an_occurrence_missed_while_baton_was_down_starts_once_when_it_is_back_marked_late(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = copy_workflows(tmp_path / "workflows", **{"access-review": REVIEW})
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows)
    clock = OffsetClock(start=FIRST_MONDAY - timedelta(hours=1))
    before = Baton(settings, clock=clock)
    await before.start()  # Baton sees the schedule an hour before its first occurrence...
    await before.stop()
    clock.advance(timedelta(hours=3))  # ...and is down when it falls due
    for _restart in range(2):
        back = Baton(settings, clock=clock)
        await back.start()  # catches up at start, as with reminders
        try:
            await back.scheduled_starts.start_due()
            [(number, _requester, _form, trigger)] = await scheduled(back.store)
            assert trigger == "schedule-late"
            port = await back.serve("127.0.0.1", 0)
            async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:
                status = (await driver.send_command(HANNA, f"status {number}")).body
            assert "started late by its schedule (Baton was not running at its time)" in status
        finally:
            await back.stop()


async def test_a_new_schedule_does_not_start_an_occurrence_from_before_baton_first_saw_it(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = copy_workflows(tmp_path / "workflows", **{"access-review": REVIEW})
    clock = OffsetClock(start=FIRST_MONDAY + timedelta(hours=2))
    baton = Baton(baton_settings(tmp_path, slack, workflows_dir=workflows), clock=clock)
    await baton.start()
    try:
        assert await baton.scheduled_starts.start_due() == []
        assert await scheduled(baton.store) == []
    finally:
        await baton.stop()


async def test_two_real_processes_on_postgresql_start_an_occurrence_once(tmp_path: Path, slack: SlackEmulator) -> None:
    """Two `python -m bot serve` sweeping every 0.2 s race for the same occurrence: this minute's, by cron. The
    schedule is stored as first seen ten minutes ago, so its latest occurrence is due (and on time, not late) as
    soon as both are up, rather than after a wait of up to a minute for the next one."""
    schedule = "* * * * *"
    review = REVIEW.replace('"first monday of the month 09:00"', f'"{schedule}"')
    workflows = copy_workflows(tmp_path / "workflows", **{"access-review": review})
    async with fresh_postgres() as url:
        await migrate(url)
        store = store_for(url)
        await store.open()
        digest = hashlib.sha256(schedule.encode()).hexdigest()[:16]
        async with store.transaction() as work:
            since = datetime.now(UTC) - timedelta(minutes=10)
            await work.first_sighting(f"schedule-since:access-review:{digest}", since)
        processes = [BatonProcess(slack, url, workflows, tmp_path / f"baton-{n}.log") for n in range(2)]
        try:
            assert await scheduled(store) == []
            if (second := datetime.now(UTC).second) >= 48:  # keep the test within one minute: one occurrence
                await asyncio.sleep(60.5 - second)
            await asyncio.gather(*(process.start() for process in processes))
            await slack.wait_for(lambda: slack.dm_messages(HANNA) or None, 10, what="the scheduled task")
            await asyncio.sleep(1.0)  # both have swept several times since
            [(_id, requester, _form, trigger)] = await scheduled(store)
            assert (requester, trigger) == (HANNA, "schedule")
        finally:
            await store.close()
            for process in processes:
                process.stop()
