"""A Slack user group handle (`@legal`) names its members, read from Slack."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator

from .story import copy_workflows, start_with_form, task_message

LEGAL_REVIEW = """
name: legal-review
title: Legal review
form:
  - {id: contract, label: Contract}
steps:
  - id: review
    type: approval
    title: "Review {form.contract}"
    assignee: ["@legal", group:admins]
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(tmp_path / "workflows", **{"legal-review": LEGAL_REVIEW})


@pytest.fixture
async def slack(slack: SlackEmulator) -> SlackEmulator:
    slack.add_usergroup("S0LEGAL", "legal", ["U0OWEN", "U0SAM"], name="Legal")
    return slack


async def test_a_usergroup_handle_assigns_its_members(driver: SlackDriver, slack: SlackEmulator, baton: Baton) -> None:
    await start_with_form(driver, slack, "U0ALICE", "legal-review", contract="the office lease")
    for member in ("U0OWEN", "U0SAM"):
        message = await task_message(slack, member, "task_approve")
        assert "(any one of you)" in message.text or "any one of you" in str(message.blocks)
    assert slack.calls_to("usergroups.list")
