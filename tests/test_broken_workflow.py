"""A broken workflow file is reported with file and line, and never stops the others."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator

from .story import start_expense, task_message

ALICE, MARIA = "U0ALICE", "U0MARIA"


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    """The shipped workflows plus one broken file."""
    directory = tmp_path / "workflows"
    shutil.copytree(Path(__file__).resolve().parents[1] / "workflows", directory)
    (directory / "broken.yaml").write_text(
        "name: broken\ntitle: Broken\nsteps:\n  - id: a\n    title: A\n    assignee: form.nobody\n"
    )
    return directory


async def test_a_broken_workflow_file_is_reported_with_file_and_line_and_the_others_still_work(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, workflows_dir: Path
) -> None:
    errors = [str(error) for error in baton.service.catalog.errors]
    assert len(errors) == 1 and "broken.yaml:6" in errors[0], errors
    assert "no workflow called `broken`" in (await driver.send_command(ALICE, "start broken")).body
    await start_expense(driver, slack, ALICE, 10, "Stamps and envelopes")
    await task_message(slack, MARIA, "task_approve")
