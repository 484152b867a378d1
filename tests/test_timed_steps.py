"""Timed steps end to end: a `wait` step, and access that lapses after the granted days (with a reminder to the
requester, an *Extend…* that goes back through approval, then a revoke task and a webhook), across a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import Baton
from bot.catalog import load_catalog
from bot.clock import OffsetClock
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.payloads import number_value, plain_text_value

from .conftest import running_baton
from .story import copy_workflows, dm_containing, served, start_with_form, task_message, text_of, told

ALICE, BOB, MARIA, IVAN = "U0ALICE", "U0BOB", "U0MARIA", "U0IVAN"
# Wednesday 2 December 2026, 10:00 in New York (Alice's zone), 16:00 in Berlin.
WEDNESDAY = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
HOOK_SECRET_ENV = "BATON_TEST_ACCESS_HOOK_SECRET"

ACCESS = """
name: timed-access
title: Timed access
form:
  - {id: system, label: System}
  - {id: days, label: Days, type: number}
steps:
  - id: approve
    type: approval
    title: Approve {form.system}
    assignee: requester.manager
  - id: grant
    type: task
    title: Grant {form.system}
    assignee: group:it
    expires:
      after: form.days days
      remind_before: 1d
      extend: {approver: requester.manager, most_days: 14}
      revoke: {title: "Revoke {form.system} for {requester}"}
webhooks:
  - {url: "HOOK_URL", events: [step_done], secret_env: BATON_TEST_ACCESS_HOOK_SECRET}
"""

COOL_OFF = """
name: cool-off
title: Cool off
form:
  - {id: item, label: Item}
  - {id: start, label: Start, type: date}
steps:
  - id: settle
    type: wait
    for: 2 business days
  - id: buy
    type: task
    title: Buy {form.item}
    assignee: requester
  - id: first_day
    type: wait
    until: form.start
  - id: welcome
    type: task
    title: Welcome on {form.start}
    assignee: requester
"""


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    application = web.Application()
    application.router.add_post("/hook", handle)
    async with served(application) as url:
        yield f"{url}/hook", received


def baton_on(
    tmp_path: Path, slack: SlackEmulator, clock: OffsetClock
) -> AbstractAsyncContextManager[tuple[Baton, SlackDriver]]:
    """A Baton on the test's database and clock; a second one after a first has stopped is a restart."""
    return running_baton(
        tmp_path, slack, workflows_dir=tmp_path / "workflows", clock=clock, webhook_allow_private_addresses=True
    )


async def later(baton: Baton, clock: OffsetClock, by: timedelta) -> None:
    clock.advance(by)
    await baton.tick()


async def history(baton: Baton, instance_id: int = 1) -> list[str]:
    async with baton.store.transaction(read_only=True) as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


def extension_values(days: int, why: str) -> dict[str, dict[str, dict[str, Any]]]:
    return {"days": {"value": number_value(days)}, "comment": {"value": plain_text_value(why)}}


async def test_access_lapses_after_the_granted_days_with_a_reminder_an_extension_and_a_revoke_across_a_restart(
    tmp_path: Path, slack: SlackEmulator, hook: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook_url, deliveries = hook
    monkeypatch.setenv(HOOK_SECRET_ENV, "a-secret-of-the-access-hook")
    copy_workflows(tmp_path / "workflows", **{"timed-access": ACCESS.replace("HOOK_URL", hook_url)})
    clock = OffsetClock(start=WEDNESDAY)
    async with baton_on(tmp_path, slack, clock) as (baton, driver):
        await start_with_form(driver, slack, ALICE, "timed-access", system="VPN", days=3)
        await driver.click_button_in(await task_message(slack, MARIA, "task_approve"), MARIA, "task_approve")
        await driver.click_button_in(await task_message(slack, IVAN, "task_complete"), IVAN, "task_complete")
        access = await dm_containing(slack, ALICE, "Access from")
        assert "wait_extend" in text_of(access) and "task_complete" not in text_of(access)
        forged = await driver.click_button_in(access, BOB, "wait_extend")  # Bob clicks Alice's button
        assert forged.status == 200
        await told(slack, BOB, f"Only <@{ALICE}>, who asked for it, may ask to extend")
        assert "wait_started" in await history(baton) and "instance_completed" not in await history(baton)

    async with baton_on(tmp_path, slack, clock) as (baton, driver):  # a restart: the wait and its timers hold
        await later(baton, clock, timedelta(days=2, minutes=1))  # Friday 10:01 in New York: a day before
        reminder = await dm_containing(slack, ALICE, ":hourglass: *Access from")
        assert "ends" in text_of(reminder) and "wait_extend" in text_of(reminder)
        await driver.click_button_in(reminder, ALICE, "wait_extend")
        form = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1], what="the extension form")
        too_long = await driver.submit_view(ALICE, form, extension_values(30, "the project slipped"))
        assert too_long.status == 200 and json.loads(too_long.body)["errors"] == {"days": "Ask for 1 to 14 days."}
        asked = await driver.submit_view(ALICE, form, extension_values(2, "the project slipped"))
        assert asked.status == 200 and "errors" not in asked.body, asked.body
        extension = await task_message(slack, MARIA, "task_approve", containing="Extend")
        assert "asks for 2 more days" in text_of(extension) and "the project slipped" in text_of(extension)
        await driver.click_button_in(extension, MARIA, "task_approve")
        extended = await dm_containing(slack, ALICE, "extended *Access from")
        assert "by 2 days" in text_of(extended)

        await later(baton, clock, timedelta(days=1))  # Saturday: the first end has passed, but it was extended
        assert not any("Revoke VPN" in m.text for m in slack.dm_messages(IVAN))
        await later(baton, clock, timedelta(days=2))  # Monday, past the new end: access lapses
        revoke = await task_message(slack, IVAN, "task_complete", containing="Revoke VPN")
        assert f"<@{ALICE}>" in text_of(revoke)
        lapsed = await slack.wait_for(
            lambda: next((d for d in deliveries if d["step"]["id"] == "grant_expiry"), None), what="the webhook"
        )
        assert lapsed["event"] == "step_done" and lapsed["step"]["outcome"] == "elapsed"
        await driver.click_button_in(revoke, IVAN, "task_complete")
        await dm_containing(slack, ALICE, "was *completed*", timeout=20)  # after a burst of DMs to her: 1 a second
        log = await history(baton)
    assert log.count("wait_started") == 1 and log.count("wait_over") == 1
    assert log.index("extension_requested") < log.index("wait_extended") < log.index("wait_over")
    assert log.count("reminder_sent") == 1


async def test_a_wait_for_business_days_then_until_a_form_date(tmp_path: Path, slack: SlackEmulator) -> None:
    copy_workflows(tmp_path / "workflows", **{"cool-off": COOL_OFF})
    clock = OffsetClock(start=WEDNESDAY)
    async with baton_on(tmp_path, slack, clock) as (baton, driver):
        await start_with_form(driver, slack, ALICE, "cool-off", item="a chair", start=("date", "2026-12-10"))
        await later(baton, clock, timedelta(days=1))  # Thursday: one business day has passed
        assert not any("Buy a chair" in m.text for m in slack.dm_messages(ALICE))
        assert "wait_started" in await history(baton)
        await later(baton, clock, timedelta(days=1, minutes=1))  # Friday, two business days later
        buy = await task_message(slack, ALICE, "task_complete", containing="Buy a chair")
        await driver.click_button_in(buy, ALICE, "task_complete")
        await later(baton, clock, timedelta(days=5))  # Wednesday 9 December: the start date is tomorrow
        assert not any("Welcome" in m.text for m in slack.dm_messages(ALICE))
        await later(baton, clock, timedelta(days=1))  # Thursday 10 December, past 09:00 in New York
        await task_message(slack, ALICE, "task_complete", containing="Welcome on 2026-12-10")
        assert (await history(baton)).count("wait_over") == 2


def test_check_reports_wait_mistakes_by_line_with_suggestions(tmp_path: Path) -> None:
    misspelt = COOL_OFF.replace("type: wait\n    for", "type: wiat\n    for", 1)
    both = COOL_OFF.replace("    for: 2 business days", "    for: 2 business days\n    until: form.start")
    wrong_field = COOL_OFF.replace("    until: form.start\n", "    until: form.strat\n")
    no_number = COOL_OFF.replace("for: 2 business days", "for: form.item days")
    workflows = copy_workflows(tmp_path / "workflows", a=misspelt, b=both, c=wrong_field, d=no_number)
    errors = sorted(str(error).split("/workflows/")[1] for error in load_catalog(workflows).errors)
    assert errors == [
        "a.yaml:9: steps[0].type: Input should be 'task', 'approval', 'notify' or 'wait' (did you mean 'wait'?)",
        "b.yaml:11: steps[0].until: a wait step needs either `until: form.<date field>` or `for:` a duration (3 days)",
        "c.yaml:17: steps[2].until: 'form.strat' is not a field of the form (did you mean 'form.start'?)",
        "d.yaml:10: steps[0].for: 'form.item days' counts with form.item, which must be a number",
    ], errors


async def test_the_shipped_access_request_lapses_only_when_days_were_asked_for(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    copy_workflows(tmp_path / "workflows")
    clock = OffsetClock(start=WEDNESDAY)
    async with baton_on(tmp_path, slack, clock) as (baton, driver):
        for number, days in ((1, None), (2, 5)):
            fields: dict[str, Any] = {
                "system": ("select", "github"), "level": ("select", "read"),
                "justification": "to review pull requests",
            }  # fmt: skip
            if days is not None:
                fields["days"] = days
            await start_with_form(driver, slack, ALICE, "access-request", **fields)
            request = f"Access request #{number}"
            for approver in (MARIA, "U0OWEN"):
                approval = await task_message(slack, approver, "task_approve", containing=request)
                await driver.click_button_in(approval, approver, "task_approve")
            grant = await task_message(slack, IVAN, "task_complete", containing=request)
            await driver.click_button_in(grant, IVAN, "task_complete")
        assert "instance_completed" in await history(baton, 1)  # lasting access: done once granted
        access = await dm_containing(slack, ALICE, "Access from", timeout=30)  # DMs to one person: 1 a second
        assert "Access request #2" in text_of(access) and "wait_extend" in text_of(access)
        assert "instance_completed" not in await history(baton, 2)
        await later(baton, clock, timedelta(days=5, minutes=1))
        await task_message(slack, IVAN, "task_complete", containing="Remove <@U0ALICE>'s Read only access to GitHub")
