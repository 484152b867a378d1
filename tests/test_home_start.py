"""App Home that starts things: a button per workflow the person may start, each opening that workflow's form."""

from __future__ import annotations

from typing import Any

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator

from .story import dm_containing, field_values, start_with_form, task_message

ALICE, MARIA, FIONA = "U0ALICE", "U0MARIA", "U0FIONA"


def start_buttons(home: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The Home's start buttons: workflow name -> (action_id, block_id)."""
    found: dict[str, tuple[str, str]] = {}
    for block in home["blocks"]:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if str(element.get("action_id", "")).startswith("home_start:"):
                found[element["value"]] = (element["action_id"], block["block_id"])
    return found


async def test_a_home_start_button_opens_that_workflows_form_and_its_submission_starts_the_request(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await driver.open_home(ALICE)
    home = await slack.wait_for(lambda: (v := slack.home_view(ALICE)) and "Start something" in str(v) and v)
    buttons = start_buttons(home)
    startable = {definition.name for definition in baton.service.startable_by(ALICE)}
    assert set(buttons) == startable and "expense-approval" in buttons
    action_id, block_id = buttons["expense-approval"]
    before = len(slack.open_views(ALICE))
    response = await driver.click(ALICE, action_id=action_id, value="expense-approval", block_id=block_id, view=home)
    assert response.status == 200
    form = await slack.wait_for(lambda: (v := slack.open_views(ALICE)) and len(v) > before and v[-1], what="form")
    assert slack.calls_to("views.open")[-1].ok  # opened with the click's own trigger_id
    assert form["callback_id"] == "start_form" and "Expense" in str(form["title"])
    values = field_values(amount=42, currency=("select", "EUR"), reason="Conference ticket")
    submitted = await driver.submit_view(ALICE, form, values)
    assert submitted.status == 200 and "errors" not in submitted.body
    await task_message(slack, MARIA, "task_approve")  # the request started and its approver has the task
    await dm_containing(slack, ALICE, "under way")


async def test_a_start_button_for_a_workflow_one_may_not_start_opens_nothing_and_says_why(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await driver.open_home(ALICE)
    home = await slack.wait_for(lambda: (v := slack.home_view(ALICE)) and "Start something" in str(v) and v)
    action_id, block_id = next(iter(start_buttons(home).values()))
    await driver.click(ALICE, action_id=action_id, value="no-such-workflow", block_id=block_id, view=home)
    await dm_containing(slack, ALICE, "no longer exists")
    assert not slack.calls_to("views.open")


async def test_an_owners_home_counts_their_workflows_open_tasks_now(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "expense-approval", amount=9, currency=("select", "EUR"),
                          reason="Printer toner")
    await task_message(slack, MARIA, "task_approve")
    await driver.open_home(FIONA)  # Fiona owns expense-approval
    home = await slack.wait_for(lambda: (v := slack.home_view(FIONA)) and "Open tasks now" in str(v) and v)
    assert "Expense approval *1*" in str(home)
