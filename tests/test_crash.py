"""A real Baton process killed with SIGKILL loses no reminder and doubles none."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.emulator import SlackDriver, SlackEmulator, find_action

from .conftest import SIGNING_SECRET
from .processes import BatonProcess
from .story import copy_workflows, field_values

ALICE, MARIA = "U0ALICE", "U0MARIA"
PROMPT = """
name: prompt
title: Prompt
form:
  - {id: item, label: Item}
steps:
  - id: check
    type: approval
    title: Check {form.item}
    assignee: requester.manager
    due: 3s
    remind: {at_due: true}
"""
ALWAYS_OPEN = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59:59"}

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
