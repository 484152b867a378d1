"""Baton's place in the workspace: its token, its channels, its people, as Slack's events and errors report them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, payloads
from bot.emulator.payloads import tokens_revoked_event

from .conftest import ADMIN, running_baton
from .story import copy_workflows, dm_containing, start_expense, task_message, text_of

ALICE, MARIA = "U0ALICE", "U0MARIA"


async def health(driver: SlackDriver) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(
        driver.baton_url.replace("/slack/events", "/healthz")
    ) as answer:
        assert answer.status == 200  # the process is fine: a restart would not bring the token back
        details: dict[str, Any] = await answer.json()
        return details


async def paused_reason(baton: Baton) -> str | None:
    async with baton.store.transaction(read_only=True) as work:
        pause = await work.sending_pause()
    return pause.reason if pause is not None else None


async def history(baton: Baton, instance_id: int) -> list[str]:
    async with baton.store.transaction(read_only=True) as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


async def lose_token(driver: SlackDriver, slack: SlackEmulator, how: str) -> str:
    """Take Baton's token away the way `how` says; the reason the pause records."""
    if how == "tokens_revoked":
        assert (await driver.revoke_tokens()).status == 200
    elif how == "app_uninstalled":
        assert (await driver.uninstall_app()).status == 200
    else:  # no event at all: the next send is refused
        slack.revoke_bot_token(how)
    return how


@pytest.mark.parametrize("how", ["tokens_revoked", "app_uninstalled", "invalid_auth", "account_inactive"])
async def test_a_lost_token_pauses_sending_keeps_every_message_and_resumes_once_it_works(
    tmp_path: Path, slack: SlackEmulator, how: str
) -> None:
    async with running_baton(tmp_path, slack, slack_retry_max_seconds=0.3) as (baton, driver):
        await start_expense(driver, slack, ALICE, 5, "Train ticket")
        approval = await task_message(slack, MARIA, "task_approve")
        reason = await lose_token(driver, slack, how)
        if how in ("tokens_revoked", "app_uninstalled"):
            assert await paused_reason(baton) == reason  # committed before the 200
        await driver.click_button_in(approval, MARIA, "task_approve")  # the decision is taken; its DMs wait
        await slack.wait_for(lambda: baton.sender.pause.paused, what="sending paused")
        assert await paused_reason(baton) == reason
        details = await health(driver)
        assert details["sending"]["paused"] is True and details["sending"]["reason"] == reason
        assert "SLACK_BOT_TOKEN" in details["sending"]["resume"]
        await asyncio.sleep(1.5)  # several probes fail meanwhile; nothing is sent, nothing given up
        assert any(call.response.get("error") for call in slack.calls_to("auth.test"))
        assert not any("was *completed*" in text_of(m) for m in slack.dm_messages(ALICE))
        async with baton.store.transaction(read_only=True) as work:
            assert await work.outbox_depth() > 0

        slack.restore_bot_token()
        await dm_containing(slack, ALICE, "was *completed*")
        note = await dm_containing(slack, ADMIN, "could not send anything to Slack")
        assert f"`{reason}`" in text_of(note) and "Nothing was lost" in text_of(note)
        assert await paused_reason(baton) is None
        assert (await health(driver))["sending"] == {"paused": False}
        assert "delivery_failed" not in await history(baton, 1)  # no message was given up


async def test_a_pause_outlives_a_restart_and_the_next_baton_resumes_when_the_token_works(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack, slack_retry_max_seconds=0.3) as (baton, driver):
        await start_expense(driver, slack, ALICE, 5, "Train ticket")
        await task_message(slack, MARIA, "task_approve")
        await driver.revoke_tokens()
    slack.restore_bot_token()  # reinstalled while Baton was down
    async with running_baton(tmp_path, slack, slack_retry_max_seconds=0.3) as (baton, _driver):
        await dm_containing(slack, ADMIN, "`tokens_revoked`")
        assert await paused_reason(baton) is None


async def test_user_tokens_revoked_do_not_pause_baton_which_holds_only_its_bot_token(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        assert (await driver.send_event(tokens_revoked_event(oauth=[ALICE]))).status == 200
        assert await paused_reason(baton) is None


async def test_app_rate_limited_is_answered_200_counted_and_logged_once(
    tmp_path: Path, slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        assert (await driver.app_rate_limited()).status == 200
        assert b"baton_app_rate_limited_total 1.0" in baton.metrics.render()
    assert len([r for r in caplog.records if "app_rate_limited" in r.getMessage()]) == 1


DIRK = "U0DIRK"


async def maria_leaves_with_a_task(driver: SlackDriver, slack: SlackEmulator) -> int:
    """Alice asks for an expense, Maria has the approval, and Maria's Slack account is deactivated."""
    await start_expense(driver, slack, ALICE, 5, "Train ticket")
    await task_message(slack, MARIA, "task_approve")
    return (await driver.change_user(MARIA, deleted=True)).status


async def test_a_deactivated_approvers_open_task_goes_to_their_manager_with_a_history_line(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        assert await maria_leaves_with_a_task(driver, slack) == 200
        assert await baton.service.open_tasks_of(MARIA) == []  # committed before the 200
        handed = await baton.service.open_tasks_of(DIRK)
        assert [task.instance_id for task in handed] == [1]
        approval = await task_message(slack, DIRK, "task_approve")
        assert "task_reassigned" in await history(baton, 1)
        async with baton.store.transaction(read_only=True) as work:
            line = [e for e in await work.audit_trail(1) if e.kind == "task_reassigned"][-1]
        assert line.data["to"] == [DIRK] and "deactivated" in str(line.data["note"])
        await driver.click_button_in(approval, DIRK, "task_approve")
        await dm_containing(slack, ALICE, "was *completed*")


async def test_a_deactivated_person_without_a_manager_hands_their_tasks_to_an_admin(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        await maria_leaves_with_a_task(driver, slack)
        await task_message(slack, DIRK, "task_approve")
        await driver.change_user(DIRK, deleted=True)  # the top of the tree: nobody above
        assert [task.instance_id for task in await baton.service.open_tasks_of(ADMIN)] == [1]


async def test_a_new_time_zone_in_slack_holds_at_once(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        await driver.change_user(ADMIN, tz="Asia/Tokyo")  # org.yaml gives Ada no zone: Slack's is hers
        assert baton.service.directory.zone_of(ADMIN).key == "Asia/Tokyo"
        await driver.change_user(ADMIN, tz="America/Chicago")
        assert baton.service.directory.zone_of(ADMIN).key == "America/Chicago"


PAYOUT_NOTICE = """\
name: payout-notice
title: Payout notice
owners: [U0FIONA]
steps:
  - id: approve
    type: approval
    title: "Approve the payout"
    assignee: requester.manager
  - id: tell_finance
    type: notify
    to: "#finance"
    text: "Payout approved for {requester}."
"""
FIONA = "U0FIONA"


@pytest.mark.parametrize("lost", ["removed", "archived"])
async def test_owners_hear_which_step_posts_to_a_channel_baton_lost_before_its_next_post_fails(
    tmp_path: Path, slack: SlackEmulator, lost: str
) -> None:
    workflows = copy_workflows(tmp_path / "workflows", **{"payout-notice": PAYOUT_NOTICE})
    async with running_baton(tmp_path, slack, workflows_dir=workflows) as (baton, driver):
        if lost == "removed":
            answer = await driver.remove_bot_from("C0FINANCE")
        else:
            answer = await driver.archive_channel("C0FINANCE", MARIA)
        assert answer.status == 200
        note = await dm_containing(slack, FIONA, "Payout notice")
        text = text_of(note)
        assert "`tell_finance`" in text and "<#C0FINANCE>" in text and "will fail" in text
        assert ("/invite @baton" in text) == (lost == "removed")
        assert ("unarchive" in text) == (lost == "archived")
        await driver.send_event(payloads.member_left_channel_event(ALICE, "C0FINANCE"))  # someone else leaving
        await asyncio.sleep(0.3)
        assert len([m for m in slack.dm_messages(FIONA) if "Payout notice" in text_of(m)]) == 1
        assert not any("Payout notice" in text_of(m) for m in slack.dm_messages(ADMIN))  # the owner, not admins


async def test_a_channel_no_workflow_posts_to_tells_nobody(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        assert (await driver.archive_channel("C0GENERAL", MARIA)).status == 200
        await asyncio.sleep(0.3)
        assert not slack.calls_to("chat.postMessage")


async def test_a_deactivated_person_is_not_given_new_tasks_their_manager_is(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        await driver.change_user(MARIA, deleted=True)
        await driver.change_user(MARIA, deleted=True, tz="Europe/Paris")  # Slack sends user_change again
        await start_expense(driver, slack, ALICE, 5, "Taxi home")  # Alice's manager is Maria, who has left
        await task_message(slack, DIRK, "task_approve")
        assert await baton.service.open_tasks_of(MARIA) == []
        assert "task_delegated" in await history(baton, 1)


async def test_on_either_database_an_uninstall_holds_messages_until_the_first_probe_finds_the_token_back(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Train ticket")
    approval = await task_message(slack, MARIA, "task_approve")
    assert (await driver.uninstall_app()).status == 200
    assert await paused_reason(baton) == "app_uninstalled"
    await driver.click_button_in(approval, MARIA, "task_approve")
    slack.restore_bot_token()  # reinstalled: the first probe (after 5 s) finds it
    await dm_containing(slack, ALICE, "was *completed*", timeout=20)
    await dm_containing(slack, ADMIN, "`app_uninstalled`", timeout=5)
    assert await paused_reason(baton) is None


async def test_slacks_own_notice_of_an_uninstall_names_a_pause_that_a_refused_call_began(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # Slack revokes the token first and tells the app a moment later: a DM sent in between fails with
    # `invalid_auth` and pauses sending, then `app_uninstalled` arrives and says why.
    await start_expense(driver, slack, ALICE, 5, "Train ticket")
    approval = await task_message(slack, MARIA, "task_approve")
    slack.revoke_bot_token("invalid_auth")
    await driver.click_button_in(approval, MARIA, "task_approve")  # the DMs it updates are refused
    for _ in range(100):
        if await paused_reason(baton) is not None:
            break
        await asyncio.sleep(0.05)
    assert await paused_reason(baton) == "invalid_auth"
    assert (await driver.send_event(payloads.app_uninstalled_event())).status == 200
    assert await paused_reason(baton) == "app_uninstalled"
    # A later refusal changes nothing: the notice stays the reason, and the admins hear it when sending resumes.
    assert (await driver.send_event(tokens_revoked_event(bot=["U0BATON"]))).status == 200
    assert await paused_reason(baton) == "app_uninstalled"
    slack.restore_bot_token()
    await dm_containing(slack, ADMIN, "`app_uninstalled`", timeout=20)
