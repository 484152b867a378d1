"""End-to-end stories: signed Slack requests into the real Bolt app, Web API calls out to the emulator."""

from __future__ import annotations

import asyncio
import time

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.payloads import app_mention_event, team_join_event, url_verification
from bot.store import AuditEntry

from .story import dm_containing, start_expense, start_with_form, task_message, text_of, told, updated

ALICE, BOB, MARIA, FIONA, FRANK = "U0ALICE", "U0BOB", "U0MARIA", "U0FIONA", "U0FRANK"
HANNA, IVAN, NEWBIE = "U0HANNA", "U0IVAN", "U0NEWBIE"


async def trail_of(baton: Baton, instance_id: int) -> list[AuditEntry]:
    async with baton.store.transaction() as work:
        return await work.audit_trail(instance_id)


async def events_of(baton: Baton, instance_id: int) -> list[str]:
    async with baton.store.transaction() as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


async def test_onboarding_runs_from_start_to_finished_with_parallel_tasks(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(
        driver, slack, HANNA, "onboarding",
        new_hire=("user", NEWBIE), manager=("user", MARIA), start_date=("date", "2026-12-01"), role="Engineer",
    )
    # Three teams get their tasks at once.
    paperwork = await task_message(slack, HANNA, "task_complete")
    laptop = await task_message(slack, IVAN, "task_complete")
    welcome = await task_message(slack, MARIA, "task_complete")
    assert slack.dm_messages(BOB) == []  # the buddy comes later
    for person, message in ((IVAN, laptop), (MARIA, welcome), (HANNA, paperwork)):
        response = await driver.click_button_in(message, person, "task_complete")
        assert response.status == 200
        await updated(slack, message, "Done")
    buddy = await task_message(slack, BOB, "task_complete")
    await driver.click_button_in(buddy, BOB, "task_complete")
    await updated(slack, buddy, f"<@{BOB}>")
    await dm_containing(slack, HANNA, "was *completed*")
    await dm_containing(slack, NEWBIE, "Welcome")
    kinds = await events_of(baton, 1)
    assert kinds.count("task_completed") == 4 and kinds[-1] == "instance_completed"


async def test_clicks_on_one_request_that_wait_together_are_decided_in_the_order_they_came(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    """Clicks that queue while the store is busy are committed together, but never reordered within a request:
    a double click on one parallel task, then a click on another task of the same request, are decided (and
    kept in its history) in the order they arrived, whichever tasks they are on."""
    await start_with_form(
        driver, slack, HANNA, "onboarding",
        new_hire=("user", NEWBIE), manager=("user", MARIA), start_date=("date", "2026-12-01"), role="Engineer",
    )
    laptop = await task_message(slack, IVAN, "task_complete")
    welcome = await task_message(slack, MARIA, "task_complete")
    loop = asyncio.get_running_loop()
    sent = []
    async with baton.store.transaction() as work:  # busy: the clicks below queue up, one after another
        await work.instances([1])
        for person, message in ((IVAN, laptop), (IVAN, laptop), (MARIA, welcome)):
            sent.append(asyncio.ensure_future(driver.click_button_in(message, person, "task_complete")))
            deadline = loop.time() + 5
            while baton.service.commands_in_flight < len(sent) and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert baton.service.commands_in_flight == len(sent)
    assert [answer.status for answer in await asyncio.gather(*sent)] == [200] * 3
    decided = [(e.kind, e.actor) for e in await trail_of(baton, 1) if e.kind in ("task_completed", "action_refused")]
    assert decided == [("task_completed", IVAN), ("action_refused", IVAN), ("task_completed", MARIA)]


async def test_expense_under_the_threshold_needs_only_the_manager(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 1000, "Team dinner in Berlin")
    await dm_containing(slack, ALICE, "has started")
    approval = await task_message(slack, MARIA, "task_approve", containing="1000")
    await driver.click_button_in(approval, MARIA, "task_approve")
    done = await updated(slack, approval, "Approved")
    assert "task_approve" not in text_of(done)  # buttons replaced by the outcome
    await dm_containing(slack, ALICE, "was *completed*")
    for person in (FIONA, FRANK):  # finance is told to reimburse, but has nothing to approve
        assert not any("task_approve" in text_of(m) for m in slack.dm_messages(person))
    await dm_containing(slack, FIONA, "please reimburse")
    assert "step_skipped" in await events_of(baton, 1)


async def test_expense_over_the_threshold_goes_to_finance_who_rejects_with_a_reason(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "expense-approval", amount="1,000.01", currency=("select", "EUR"),
                          reason="Conference ticket")
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    fiona_copy = await task_message(slack, FIONA, "task_reject")
    frank_copy = await task_message(slack, FRANK, "task_reject")
    # Frank rejects: Baton asks for a reason in a modal first.
    await driver.click_button_in(frank_copy, FRANK, "task_reject")
    modal = await slack.wait_for(lambda: (slack.open_views(FRANK) or [None])[-1], what="reject modal")
    empty = await driver.submit_view(FRANK, modal, {"comment": {"value": {"type": "plain_text_input", "value": ""}}})
    assert empty.json()["response_action"] == "errors"
    reason = {"comment": {"value": {"type": "plain_text_input", "value": "Over the conference budget"}}}
    assert (await driver.submit_view(FRANK, modal, reason)).status == 200
    outcome = await dm_containing(slack, ALICE, "was *rejected*")
    assert "Over the conference budget" in text_of(outcome)
    # Fiona's copy of the same group task now shows Frank's decision.
    fiona_now = await updated(slack, fiona_copy, "Rejected")
    assert f"<@{FRANK}>" in text_of(fiona_now)
    await updated(slack, frank_copy, "Over the conference budget")


async def test_someone_who_is_not_the_assignee_is_refused_and_nothing_changes(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 50, "Taxi to client")
    approval = await task_message(slack, MARIA, "task_approve")
    # Bob replays Maria's button (same task id in the value) as himself.
    response = await driver.click_button_in(approval, BOB, "task_approve")
    assert response.status == 200
    refusal = await told(slack, BOB, "Only")
    assert f"<@{MARIA}>" in refusal
    assert slack.message(approval.channel, approval.ts).updates == 0  # type: ignore[union-attr]
    assert "task_approved" not in await events_of(baton, 1)
    assert "action_refused" in await events_of(baton, 1)
    # The requester cannot approve their own request either, even by forging the click.
    await driver.click(ALICE, action_id="task_approve", value="1.manager_approval", channel_id="C0GENERAL")
    await told(slack, ALICE, "Only")


async def test_a_double_click_records_one_decision(driver: SlackDriver, slack: SlackEmulator, baton: Baton) -> None:
    await start_expense(driver, slack, ALICE, 20, "Coffee beans")
    approval = await task_message(slack, MARIA, "task_approve")
    first, second = await asyncio.gather(
        driver.click_button_in(approval, MARIA, "task_approve"),
        driver.click_button_in(approval, MARIA, "task_approve"),
    )
    assert first.status == second.status == 200
    await told(slack, MARIA, "already approved")
    await dm_containing(slack, ALICE, "was *completed*")
    kinds = await events_of(baton, 1)
    assert kinds.count("task_approved") == 1
    assert kinds.count("instance_completed") == 1


async def test_form_errors_are_shown_in_the_modal_and_start_nothing(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    response = await driver.send_command(ALICE, "start expense-approval")
    assert response.status == 200
    view = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    from .story import field_values

    answer = await driver.submit_view(ALICE, view, field_values(amount="lots", currency=("select", "EUR"), reason="x"))
    errors = answer.json()["errors"]
    assert set(errors) == {"field:amount", "field:reason"}
    assert "number" in errors["field:amount"]
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


async def test_slash_commands_answer_status_tasks_list_help_and_cancel(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    assert "/workflow start" in (await driver.send_command(ALICE, "")).body
    assert "don't know `frobnicate`" in (await driver.send_command(ALICE, "frobnicate now")).body
    listing = (await driver.send_command(ALICE, "list")).body
    assert "expense-approval" in listing and "onboarding" not in listing  # onboarding is for HR
    await start_with_form(driver, slack, ALICE, "expense-approval", amount=99, currency=("select", "USD"),
                          reason="Books for the team")
    approval = await task_message(slack, MARIA, "task_approve")
    tasks = (await driver.send_command(MARIA, "tasks")).body
    assert "task_approve" in tasks and "Expense approval #1" in tasks
    status = (await driver.send_command(ALICE, "status 1")).body
    assert "waiting for <@U0MARIA>" in status and "task assigned" in status
    assert r"task assigned \u00b7 Approve 99 USD for" in status  # the history names steps by their tasks' titles
    assert "Only the people involved" in (await driver.send_command(FRANK, "status 1")).body
    await driver.click_button_in(approval, "U0BOB", "task_reject")  # opens the reason modal only for Maria
    await told(slack, "U0BOB", "Only")
    refused = [e for e in await trail_of(baton, 1) if e.kind == "action_refused"]
    assert {e.actor for e in refused} >= {FRANK, "U0BOB"}  # every refusal is in the request's history
    assert "is not a request number" in (await driver.send_command(ALICE, "status abc")).body
    assert (await driver.send_command(BOB, "cancel 1")).body == "There is no request #1."  # Bob may not see it
    assert "is cancelled" in (await driver.send_command(ALICE, "cancel #1 bought them myself")).body
    await updated(slack, approval, "No longer needed")
    await dm_containing(slack, ALICE, "was *cancelled*")
    mine = (await driver.send_command(ALICE, "status")).body
    assert "cancelled" in mine


async def test_a_new_member_gets_onboarding_once_even_when_slack_retries_the_event(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    event = team_join_event({"id": NEWBIE, "name": "newbie", "real_name": "New Hire"})
    first = await driver.send_event(event, event_id="Ev0JOIN1")
    retry = await driver.send_event(event, event_id="Ev0JOIN1", retry_num=1)
    assert first.status == retry.status == 200
    await task_message(slack, HANNA, "task_complete")
    # The manager's welcome falls back to the new hire's manager from org.yaml.
    await task_message(slack, MARIA, "task_complete")
    await asyncio.sleep(0.2)
    async with baton.store.transaction() as work:
        assert await work.instance(1) is not None
        assert await work.instance(2) is None


async def test_an_event_slack_delivers_again_is_handled_once(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    mention = app_mention_event(user_id=ALICE, channel_id="C0GENERAL", text="help", ts="1700000000.000100")
    first = await driver.send_event(mention, event_id="Ev0MENTION1")
    await slack.wait_for(lambda: slack.thread("C0GENERAL", "1700000000.000100") or None, what="the mention's answer")
    retry = await driver.send_event(mention, event_id="Ev0MENTION1", retry_num=1, retry_reason="http_timeout")
    assert first.status == retry.status == 200
    another = await driver.send_event(mention, event_id="Ev0MENTION2")  # a new delivery is answered as usual
    assert another.status == 200
    await slack.wait_for(
        lambda: len(slack.thread("C0GENERAL", "1700000000.000100")) >= 2 or None, what="the second mention's answer"
    )
    await asyncio.sleep(0.3)
    assert len(slack.thread("C0GENERAL", "1700000000.000100")) == 2  # Ev0MENTION1 once, Ev0MENTION2 once


async def test_url_verification_is_answered_and_forged_or_stale_requests_are_refused(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    challenge = await driver.post_raw(
        __import__("json").dumps(url_verification("c-123")), "application/json"
    )
    assert challenge.status == 200 and "c-123" in challenge.body
    body = "command=%2Fworkflow&text=list&user_id=U0ALICE"
    forged = await driver.post_raw(
        body, "application/x-www-form-urlencoded",
        headers={"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": str(int(time.time()))},
        sign=False,
    )
    assert forged.status == 401
    stale = await driver.post_raw(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 600)
    assert stale.status == 401
    unsigned = await driver.post_raw(body, "application/x-www-form-urlencoded", sign=False)
    assert unsigned.status == 401


async def test_only_the_people_a_workflow_names_may_start_it(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    answer = await driver.send_command(ALICE, "start onboarding")  # onboarding is for HR and admins
    assert "not among the people who may start" in answer.body
    assert slack.open_views(ALICE) == []
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None
