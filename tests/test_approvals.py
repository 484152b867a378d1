"""Approvals the way teams decide: quorum, changes requested, delegation, typed decisions, App Home, shortcuts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.app import Baton
from bot.clock import OffsetClock
from bot.emulator import Message, RateLimited, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import user_value

from .conftest import ADMIN
from .story import (
    copy_workflows,
    dm_containing,
    field_values,
    start_expense,
    start_with_form,
    task_message,
    text_of,
    told,
    updated,
)

ALICE, BOB, MARIA, DIRK, HANNA = "U0ALICE", "U0BOB", "U0MARIA", "U0DIRK", "U0HANNA"
FIONA, FRANK = "U0FIONA", "U0FRANK"
BERLIN_MORNING = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

BOARD = """
name: board-decision
title: Board decision
form:
  - {id: topic, label: Topic}
steps:
  - id: vote
    type: approval
    title: "Decide: {form.topic}"
    assignee: group:board
    rule: quorum
    quorum: 2
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    directory = copy_workflows(tmp_path / "workflows", **{"board-decision": BOARD})
    org_path = directory / "org.yaml"
    org = yaml.safe_load(org_path.read_text())
    org["groups"]["board"] = [DIRK, MARIA, HANNA]
    org_path.write_text(yaml.safe_dump(org))
    return directory


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock(start=BERLIN_MORNING)


async def trail(baton: Baton, instance_id: int = 1) -> list[str]:
    async with baton.store.transaction() as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


async def test_quorum_two_of_three_with_a_simultaneous_third_click(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "board-decision", topic="the office move")
    copies = {person: await task_message(slack, person, "task_approve") for person in (DIRK, MARIA, HANNA)}
    assert "2 approvals needed" in text_of(copies[DIRK])
    await driver.click_button_in(copies[DIRK], DIRK, "task_approve")
    # Everyone sees Dirk's vote; Dirk no longer has buttons, the others still do.
    maria_now = await updated(slack, copies[MARIA], f"<@{DIRK}> approved")
    assert "task_approve" in text_of(maria_now)
    dirk_now = await updated(slack, copies[DIRK], "waiting for the others")
    assert "task_approve" not in text_of(dirk_now)
    # His task list no longer offers it; Maria's still does.
    assert "the office move" not in (await driver.send_command(DIRK, "tasks")).body
    assert "the office move" in (await driver.send_command(MARIA, "tasks")).body
    await told_or_refused_twice(driver, slack, maria_now, copies[HANNA])
    hanna_now = await updated(slack, copies[HANNA], "Approved")
    assert "task_approve" not in text_of(hanna_now)  # the rule is met: the buttons are replaced by the outcome
    kinds = await trail(baton)
    assert kinds.count("vote_recorded") == 1 and kinds.count("task_approved") == 1
    assert kinds.count("instance_completed") == 1 and kinds.count("action_refused") == 1


async def test_handing_over_one_seat_sends_no_second_dm_and_every_copy_ends_in_the_outcome(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "board-decision", topic="the canteen menu")
    board = (DIRK, MARIA, HANNA)
    copies = {person: await task_message(slack, person, "task_approve") for person in board}
    await choose(driver, copies[MARIA], MARIA, "task_more", "hand_over")
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1])
    assert (await driver.submit_view(MARIA, modal, {"person": {"value": user_value(BOB)}})).status == 200
    copies[BOB] = await task_message(slack, BOB, "task_approve", containing="Task handed to you")
    await updated(slack, copies[MARIA], "Reassigned")
    for person in (DIRK, HANNA):  # they keep their seat and their one copy, which now names Bob
        await updated(slack, copies[person], f"<@{BOB}>")
    await driver.click_button_in(copies[DIRK], DIRK, "task_approve")
    await updated(slack, copies[BOB], f"<@{DIRK}> approved")
    await driver.click_button_in(copies[BOB], BOB, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")

    def task_dms(person: str) -> list[Message]:
        return [m for m in slack.dm_messages(person) if "the canteen menu" in text_of(m) and m.thread_ts is None]

    def all_show_the_outcome() -> bool:
        return all(
            "Approved" in text_of(m) and "task_approve" not in text_of(m) for p in copies for m in task_dms(p)
        )

    await slack.wait_for(all_show_the_outcome, what="every copy of the task showing its outcome, without buttons")
    assert {person: len(task_dms(person)) for person in copies} == {person: 1 for person in copies}


async def told_or_refused_twice(driver: SlackDriver, slack: SlackEmulator, maria: object, hanna: object) -> None:
    """Maria and Hanna click at the same moment: one completes the quorum, the other is told who decided."""
    await asyncio.gather(
        driver.click_button_in(maria, MARIA, "task_approve"),  # type: ignore[arg-type]
        driver.click_button_in(hanna, HANNA, "task_approve"),  # type: ignore[arg-type]
    )
    await slack.wait_for(
        lambda: any("already approved" in e.text for person in (MARIA, HANNA) for e in slack.ephemerals(person))
    )


async def test_one_rejection_rejects_under_a_quorum_rule(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "board-decision", topic="a pool table")
    copies = {person: await task_message(slack, person, "task_reject") for person in (DIRK, MARIA)}
    await driver.click_button_in(copies[DIRK], DIRK, "task_approve")
    await updated(slack, copies[MARIA], "approved")
    await driver.click_button_in(copies[MARIA], MARIA, "task_reject")
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1])
    await driver.submit_view(MARIA, modal, {"comment": {"value": {"type": "plain_text_input", "value": "No budget"}}})
    outcome = await dm_containing(slack, ALICE, "was *rejected*")
    assert "No budget" in text_of(outcome)


async def test_a_requester_never_approves_their_own_request_not_as_a_board_member_nor_as_an_admin(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # Maria sits on the board: her own proposal goes to the other two members only.
    await start_with_form(driver, slack, MARIA, "board-decision", topic="A bigger budget for my team")
    dirk_copy = await task_message(slack, DIRK, "task_approve", containing="bigger budget")
    await task_message(slack, HANNA, "task_approve", containing="bigger budget")
    assert not [m for m in slack.dm_messages(MARIA) if "bigger budget" in text_of(m) and find_action(m.blocks,
                                                                                                     "task_approve")]
    await driver.click_button_in(dirk_copy, MARIA, "task_approve")  # forged from Dirk's copy: not hers to act on
    await told(slack, MARIA, f"Only <@{DIRK}>, <@{HANNA}> can act")
    # An admin may act for anyone, but not on a request the admin raised.
    await start_with_form(driver, slack, ADMIN, "board-decision", topic="New office chairs")
    chairs = await task_message(slack, HANNA, "task_approve", containing="office chairs")
    await driver.click_button_in(chairs, ADMIN, "task_approve")
    await told(slack, ADMIN, "raised this request")
    for instance_id in (1, 2):
        kinds = await trail(baton, instance_id)
        assert "task_approved" not in kinds and "vote_recorded" not in kinds and "action_refused" in kinds


async def test_changes_requested_then_an_edited_amount_moves_the_expense_over_the_finance_threshold(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 500, "Flights to the offsite")
    first = await task_message(slack, MARIA, "task_approve")
    await choose(driver, first, MARIA, "task_more", "request_changes")
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1])
    note = {"comment": {"value": {"type": "plain_text_input", "value": "Add the hotel, please"}}}
    assert (await driver.submit_view(MARIA, modal, note)).status == 200
    await updated(slack, first, "Changes requested")
    revision = await task_message(slack, ALICE, "request_edit")
    assert "Add the hotel" in text_of(revision)
    await driver.click_button_in(revision, ALICE, "request_edit")
    form = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    assert '"initial_value": "500"' in str(form).replace("'", '"')  # the form comes back filled in
    edited = field_values(amount=5000, currency=("select", "EUR"), reason="Flights and hotel for the offsite")
    assert (await driver.submit_view(ALICE, form, edited)).status == 200
    again = await task_message(slack, MARIA, "task_approve", containing="Changed in round 2")
    assert "~500~ → 5000" in text_of(again)
    status = (await driver.send_command(ALICE, "status 1")).body
    assert f"waiting for <@{MARIA}>" in status  # the round now under way, not the one sent back
    await driver.click_button_in(again, MARIA, "task_approve")
    await task_message(slack, FIONA, "task_approve")  # 5000 is over the threshold: finance decides too
    kinds = await trail(baton)
    assert kinds.count("changes_requested") == 1 and "form_resubmitted" in kinds


async def test_a_delegation_window_sends_new_tasks_to_the_delegate_until_it_ends(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    answer = await driver.send_command(MARIA, f"delegate <@{BOB}|bob> until 2026-12-24")
    assert "your new tasks go to" in answer.body
    await start_expense(driver, slack, ALICE, 80, "Client lunch")
    covered = await task_message(slack, BOB, "task_approve")
    assert f"covers for <@{MARIA}>" in text_of(covered)
    await dm_containing(slack, MARIA, "went to your delegate")
    # Bob's own request is not his to approve, even while he covers for Maria: it stays with her.
    await start_expense(driver, slack, BOB, 30, "Train to the client")
    await task_message(slack, MARIA, "task_approve", containing="Train to the client")
    assert "Delegation ended" in (await driver.send_command(MARIA, "delegate off")).body
    await start_expense(driver, slack, ALICE, 20, "Taxi after the delegation")
    await task_message(slack, MARIA, "task_approve", containing="Taxi after the delegation")
    kinds = await trail(baton, 1)
    assert "task_delegated" in kinds


async def test_a_thread_reply_that_reads_like_a_decision_is_recorded_only_after_the_confirm_click(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 42, "Whiteboard markers")
    approval = await task_message(slack, MARIA, "task_approve")

    async def recorded() -> bool:  # Baton notes a message's ts just after Slack answers; a person replies later
        async with baton.store.transaction() as work:
            return await work.message_key_at(approval.channel, approval.ts) is not None

    for _ in range(100):
        if await recorded():
            break
        await asyncio.sleep(0.05)
    await driver.send_message(MARIA, approval.channel, "lgtm, thanks!", thread_ts=approval.ts)
    question = await slack.wait_for(
        lambda: next((e for e in slack.ephemerals(MARIA) if "Record this as" in e.text), None)
    )
    await asyncio.sleep(0.2)
    assert "task_approved" not in await trail(baton)  # free text alone never decides
    await driver.click_button_in(question, MARIA, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")
    # Chatter that is not a decision gets no question.
    before = len(slack.ephemerals(MARIA))
    await driver.send_message(MARIA, approval.channel, "what is this for?", thread_ts=approval.ts)
    await asyncio.sleep(0.2)
    assert len(slack.ephemerals(MARIA)) == before


async def test_a_reply_that_says_the_opposite_of_a_decision_gets_no_question(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 42, "Conference ticket")
    approval = await task_message(slack, MARIA, "task_approve")
    for _ in range(100):  # as a person would, reply once Baton has recorded the message
        async with baton.store.transaction() as work:
            if await work.message_key_at(approval.channel, approval.ts):
                break
        await asyncio.sleep(0.05)
    await driver.send_message(MARIA, approval.channel, "I can't approve this yet, sorry", thread_ts=approval.ts)
    await asyncio.sleep(0.3)
    assert not slack.ephemerals(MARIA)  # no "Record this as Approve?" for a "can't approve"
    await driver.send_message(MARIA, approval.channel, "ok now it looks good", thread_ts=approval.ts)
    await slack.wait_for(lambda: any("Record this as" in e.text for e in slack.ephemerals(MARIA)))


async def test_app_home_for_an_employee_and_for_a_manager(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    await start_expense(driver, slack, ALICE, 64, "Team books")
    await start_with_form(driver, slack, ALICE, "content-review", draft_url="https://example.com/draft",
                          reviewer=("user", BOB))
    await task_message(slack, BOB, "task_approve")
    await driver.open_home(ALICE)
    alice = await slack.wait_for(lambda: (v := slack.home_view(ALICE)) and "Expense approval #1" in str(v) and v)
    assert "Expense approval #1" in str(alice) and "Your requests" in str(alice)
    await driver.open_home(MARIA)
    maria = await slack.wait_for(lambda: (view := slack.home_view(MARIA)) and "Your team" in str(view) and view)
    blocks = maria["blocks"]
    assert find_action(blocks, "task_approve") is not None  # her own task, with its buttons
    assert "Your team: 1 open" in str(maria) and f"<@{BOB}>" in str(maria)  # Bob reports to Maria
    publishes = len(slack.calls_to("views.publish"))
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    await slack.wait_for(lambda: "completed" in str(slack.home_view(ALICE)))  # refreshed after the decision
    assert len(slack.calls_to("views.publish")) > publishes
    review = await task_message(slack, BOB, "task_approve")
    await driver.click_button_in(review, BOB, "task_approve")  # Bob's team item is done: Maria's Home follows
    await slack.wait_for(
        lambda: "Review the draft" not in str(slack.home_view(MARIA)), what="Maria's Home without Bob's review"
    )


def publishes_to(slack: SlackEmulator, user: str) -> int:
    return sum(1 for call in slack.calls_to("views.publish") if call.ok and call.args.get("user_id") == user)


async def test_a_home_tab_is_kept_current_only_once_opened_and_a_burst_of_changes_is_one_publish(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 12, "Printer paper")
    await task_message(slack, MARIA, "task_approve")
    await dm_containing(slack, ALICE, "under way")
    assert publishes_to(slack, MARIA) == publishes_to(slack, ALICE) == 0  # nobody has opened Baton's Home yet
    await driver.open_home(MARIA)
    await slack.wait_for(lambda: "Printer paper" in str(slack.home_view(MARIA)), what="Maria's Home")
    assert publishes_to(slack, MARIA) == 1  # opening it: one publish
    # Slack holds views.publish back for 3 s; meanwhile three more requests reach Maria. Each queues a refresh
    # of her tab, and the one publish after the wait shows all three.
    slack.inject("views.publish", RateLimited(retry_after=3), times=1)
    for reason in ("Toner cartridges", "Desk lamp bulbs", "Whiteboard pens"):
        await start_expense(driver, slack, ALICE, 9, reason)
        await task_message(slack, MARIA, "task_approve", containing=reason)
    home = await slack.wait_for(
        lambda: (view := slack.home_view(MARIA)) and "Whiteboard pens" in str(view) and view, 10, what="the refresh"
    )
    assert "Toner cartridges" in str(home) and "Desk lamp bulbs" in str(home)
    await asyncio.sleep(1.5)  # anything still queued would go out now
    assert publishes_to(slack, MARIA) == 2, [c.summary() for c in slack.calls_to("views.publish")]
    assert publishes_to(slack, ALICE) == 0  # Alice never opened her Home tab


async def test_shortcuts_open_the_right_modal(driver: SlackDriver, slack: SlackEmulator, baton: Baton) -> None:
    assert (await driver.shortcut(ALICE, "start_workflow")).status == 200
    picker = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    assert picker["callback_id"] == "pick_workflow" and "expense-approval" in str(picker)
    choice = {"workflow": {"value": {"type": "static_select", "selected_option": {"value": "expense-approval"}}}}
    answer = await driver.submit_view(ALICE, picker, choice)
    assert answer.json()["response_action"] == "update"
    assert answer.json()["view"]["callback_id"] == "start_form"
    posted = slack.add_message(
        "C0GENERAL", BOB, f"<@{MARIA}|maria>, can we buy a second coffee machine &amp; mugs for the 3rd floor?"
    )
    assert (await driver.message_shortcut(ALICE, "request_approval", posted)).status == 200
    form = await slack.wait_for(
        lambda: next((v for v in slack.open_views(ALICE) if "second coffee machine" in str(v)), None)
    )
    assert "/archives/" in str(form)  # the message's link is filled in
    assert "@maria, can we buy a second coffee machine & mugs" in str(form)  # as a person reads it, not encoded


async def choose(driver: SlackDriver, message: object, user: str, action_id: str, value: str) -> None:
    from .story import choose_in

    await choose_in(driver, message, user, action_id, value)  # type: ignore[arg-type]


async def test_a_process_owners_home_shows_the_figures_of_their_workflows(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 12, "Stamps")
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")
    await driver.open_home(FIONA)  # Fiona owns expense-approval
    home = await slack.wait_for(lambda: (v := slack.home_view(FIONA)) and "Your workflows" in str(v) and v)
    text = str(home)
    assert "Expense approval" in text and "completed *1*" in text
    await driver.open_home(BOB)  # Bob owns nothing: no figures
    bob = await slack.wait_for(lambda: slack.home_view(BOB))
    assert "Your workflows" not in str(bob)
