"""What comes back from Slack is never trusted: forms open only for people who may act, and a modal's
private_metadata counts only when Baton sealed it for the person submitting."""

from __future__ import annotations

import json

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator

from .story import choose_in, field_values, start_expense, task_message, told

ALICE, BOB, MARIA = "U0ALICE", "U0BOB", "U0MARIA"


async def test_hand_over_and_comment_open_no_form_for_someone_with_nothing_to_do_with_the_task(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Secret offsite in Lisbon")
    approval = await task_message(slack, MARIA, "task_approve")
    opened_before = len(slack.calls_to("views.open"))
    await choose_in(driver, approval, BOB, "task_more", "hand_over")
    note = await told(slack, BOB, "Only the people holding this task")
    await choose_in(driver, approval, BOB, "task_more", "comment")
    note += await told(slack, BOB, "not yours to act on")
    assert len(slack.calls_to("views.open")) == opened_before and slack.open_views(BOB) == []
    assert "Lisbon" not in note and "Expense" not in note
    # the people who may still get their forms: Maria holds the task, Alice may comment on her own request
    await choose_in(driver, approval, MARIA, "task_more", "hand_over")
    await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1], what="Maria's hand-over form")
    await choose_in(driver, approval, ALICE, "task_more", "comment")
    await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1], what="Alice's comment form")


async def test_the_requester_cannot_even_open_the_hand_over_form_of_their_own_approval(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Parking")
    approval = await task_message(slack, MARIA, "task_approve")
    await choose_in(driver, approval, ALICE, "task_more", "hand_over")
    await told(slack, ALICE, "Only the people holding this task")
    assert slack.open_views(ALICE) == []


async def test_a_start_form_with_forged_private_metadata_posts_nowhere_and_says_why(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    assert (await driver.send_command(ALICE, "start support-ticket", channel_id="C0GENERAL")).status == 200
    form = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    sealed = str(form["private_metadata"])
    assert "C0GENERAL" in sealed
    values = field_values(customer="ACME", summary="The export is empty", severity=("select", "high"))
    forged_channel = json.dumps({"workflow": "support-ticket", "channel": "C0FINANCE"})
    forgeries = [
        forged_channel,  # plain metadata, as before sealing
        sealed.split(":", 1)[0] + ":" + forged_channel,  # Baton's seal on other text
        "0" * 32 + ":" + forged_channel,
        "",
    ]
    for number, metadata in enumerate(forgeries):
        forged = {**form, "id": f"V0FORGED{number}", "private_metadata": metadata}
        answer = await driver.submit_view(ALICE, forged, values)
        assert answer.status == 200 and "could not verify this form" in answer.body, answer.body
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None
    assert slack.messages("C0FINANCE") == [] and slack.messages("C0GENERAL") == []
    # Bob cannot use the seal of Alice's modal either
    answer = await driver.submit_view(BOB, {**form, "id": "V0BOBS"}, values)
    assert "could not verify this form" in answer.body
    # the genuine form still works, and posts where Alice started it
    assert "errors" not in (await driver.submit_view(ALICE, form, values)).body
    await slack.wait_for(lambda: next(iter(slack.messages("C0GENERAL")), None), what="the channel card")
    assert slack.messages("C0FINANCE") == []
