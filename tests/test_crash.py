"""A real Baton process killed with SIGKILL loses no reminder and doubles none."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.emulator import SlackDriver, SlackEmulator, find_action

from .conftest import SIGNING_SECRET
from .processes import BatonProcess
from .story import ALWAYS_OPEN, big_org, copy_workflows, dm_containing, field_values, manager_approval, task_message

ALICE, MARIA = "U0ALICE", "U0MARIA"
PROMPT = manager_approval("prompt", due="3s")

pytestmark = pytest.mark.slow


@pytest.fixture
async def process(tmp_path: Path, slack: SlackEmulator) -> AsyncIterator[BatonProcess]:
    workflows = copy_workflows(tmp_path / "workflows", prompt=PROMPT)
    org = workflows / "org.yaml"
    chart = yaml.safe_load(org.read_text())
    chart["calendar"] = ALWAYS_OPEN  # reminders may go out at any hour in this test
    org.write_text(yaml.safe_dump(chart))
    baton = BatonProcess(slack, tmp_path / "baton.db", workflows, tmp_path / "baton.log")
    try:
        yield baton
    finally:
        baton.stop()


def reminders(slack: SlackEmulator) -> Counter[str]:
    """Reminder messages to Maria, by the task they are about."""
    counts: Counter[str] = Counter()
    for message in slack.dm_messages(MARIA):
        found = find_action(message.blocks, "task_snooze")
        if message.text.startswith("Reminder") and found is not None:
            counts[found[0]] += 1
    return counts


async def test_reminders_pending_at_a_sigkill_go_out_exactly_once_after_restart(
    process: BatonProcess, slack: SlackEmulator
) -> None:
    await process.start()
    count = 6
    async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:
        for number in range(count):
            await driver.send_command(ALICE, "start prompt")
            view = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
            answer = await driver.submit_view(ALICE, view, field_values(item=f"item {number}"))
            assert answer.status == 200, answer.body
    await slack.wait_for(
        lambda: len([m for m in slack.dm_messages(MARIA) if m.text.startswith("New task")]) == count, 15
    )
    assert reminders(slack) == Counter()
    process.kill()  # every reminder is still pending, due within 3 s
    await asyncio.sleep(3.5)
    await process.start()
    await slack.wait_for(lambda: len(reminders(slack)) == count, 15, what="a reminder for every task")
    await asyncio.sleep(1.0)  # several scheduler passes later: still exactly one each
    assert set(reminders(slack).values()) == {1}


async def test_a_sigkill_in_the_middle_of_a_burst_of_clicks_loses_no_decision_and_doubles_none(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = copy_workflows(tmp_path / "workflows")
    pairs = big_org(workflows, teams=24, team_size=1)  # one approver each: no DM queue is paced for long
    for employee, manager in pairs:
        slack.add_user(employee, name=employee.lower())
        slack.add_user(manager, name=manager.lower())
    database = tmp_path / "baton.db"
    process = BatonProcess(slack, database, workflows, tmp_path / "baton.log")
    await process.start()
    try:
        async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:
            for number, (employee, _manager) in enumerate(pairs):
                await driver.send_command(employee, "start expense-approval")
                view = await slack.wait_for(lambda e=employee: (slack.open_views(e) or [None])[-1])
                values = field_values(amount=10 + number, currency=("select", "EUR"), reason=f"Item {number}")
                assert (await driver.submit_view(employee, view, values)).status == 200
            approvals = {
                manager: await task_message(slack, manager, "task_approve", timeout=20) for _e, manager in pairs
            }

            async def click(manager: str) -> None:
                # If the process dies under this click, Slack shows an error and the person clicks again.
                with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
                    await driver.click_button_in(approvals[manager], manager, "task_approve")

            burst = [asyncio.create_task(click(manager)) for _e, manager in pairs]
            while _decisions(database) == 0:  # kill as soon as the first decisions commit: the rest are in flight
                await asyncio.sleep(0.002)
            process.kill()
            await asyncio.gather(*burst)
            assert _decisions(database) < len(pairs)  # the kill really cut the burst short
            await process.start()
            for employee, manager in pairs:  # whoever got no answer clicks again, as people do
                if not _decided(database, employee):
                    await click(manager)
            for employee, _manager in pairs:
                await dm_containing(slack, employee, "was *completed*", timeout=30)
        with sqlite3.connect(database) as db:
            decisions = db.execute(
                "SELECT instance_id, COUNT(*) FROM events WHERE kind = 'task_approved' GROUP BY instance_id"
            ).fetchall()
            failed = db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'failed'").fetchone()[0]
        assert sorted(count for _instance, count in decisions) == [1] * len(pairs)  # exactly one each
        assert failed == 0
    finally:
        process.stop()


def _decided(database: Path, requester: str) -> bool:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM events e JOIN instances i ON i.id = e.instance_id "
            "WHERE i.requester = ? AND e.kind = 'task_approved'",
            (requester,),
        ).fetchone()
    return bool(row[0])


def _decisions(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT COUNT(*) FROM events WHERE kind = 'task_approved'").fetchone()[0])
