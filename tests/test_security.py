"""Every request Baton acts on must carry Slack's valid, fresh signature: replays and forgeries change nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, sign_request
from bot.emulator.payloads import (
    app_home_opened_event,
    block_actions,
    event_callback,
    global_shortcut,
    message_event,
    plain_text_value,
    slash_command,
    team_join_event,
    view_submission,
)

from .conftest import SIGNING_SECRET
from .story import field_values, start_expense, task_message

ALICE, BOB, MARIA = "U0ALICE", "U0BOB", "U0MARIA"


def forged_headers(body: str, *, age: int = 0, secret: str = "not-the-secret") -> dict[str, str]:
    timestamp = int(time.time()) - age
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": sign_request(secret, timestamp, body)}


@pytest.mark.parametrize(
    ("how", "age", "secret"),
    [("forged", 0, "not-the-secret"), ("stale", 6 * 60, SIGNING_SECRET)],
)
async def test_every_kind_of_request_needs_a_valid_fresh_signature(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, how: str, age: int, secret: str
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Parking")
    approval = await task_message(slack, MARIA, "task_approve")
    def interaction(payload: dict[str, object]) -> str:
        return urlencode({"payload": json.dumps(payload)})

    def command(user: str, text: str) -> str:
        return urlencode(slash_command(command="/workflow", text=text, user_id=user, channel_id="C0GENERAL",
                                       trigger_id="t"))

    reject_form = {"type": "modal", "id": "V0FORGED", "callback_id": "reject_reason", "private_metadata":
                   "1.manager_approval", "blocks": []}
    start_form = {"type": "modal", "id": "V0FORGED2", "callback_id": "start_form",
                  "private_metadata": json.dumps({"workflow": "expense-approval", "channel": None}), "blocks": []}
    form_values = field_values(amount=9, currency=("select", "EUR"), reason="Forged expense")
    requests = [
        # Maria's approval, replayed; her Reject reason modal and a Snooze choice, forged
        interaction(block_actions(user_id=MARIA, action_id="task_approve", value="1.manager_approval",
                                  trigger_id="t", channel_id=approval.channel)),
        interaction(view_submission(user_id=MARIA, view=reject_form, trigger_id="t",
                                    values={"reason": {"reason": plain_text_value("forged reason")}})),
        interaction(block_actions(user_id=MARIA, action_id="task_more", value="snooze:1h", trigger_id="t",
                                  channel_id=approval.channel)),
        # a start form submitted as Bob, a shortcut, Alice's cancel, a new start and a delegation, forged
        interaction(view_submission(user_id=BOB, view=start_form, trigger_id="t", values=form_values)),
        interaction(global_shortcut(user_id=BOB, callback_id="start_workflow", trigger_id="t")),
        command(ALICE, "cancel 1"),
        command(BOB, "start expense-approval"),
        command(MARIA, f"delegate <@{BOB}|bob> until 2026-12-24"),
    ]
    for body in requests:
        response = await driver.post_raw(body, "application/x-www-form-urlencoded",
                                         headers=forged_headers(body, age=age, secret=secret), sign=False)
        assert response.status == 401, (how, body[:80])
    events = [
        team_join_event({"id": "U0NEWBIE", "name": "new"}),
        app_home_opened_event(MARIA),
        message_event(user_id=MARIA, channel_id=approval.channel, text="lgtm", thread_ts=approval.ts),
    ]
    for number, inner in enumerate(events):
        event = json.dumps(event_callback(inner, event_id=f"Ev0FORGED{number}"))
        response = await driver.post_raw(event, "application/json",
                                         headers=forged_headers(event, age=age, secret=secret), sign=False)
        assert response.status == 401, (how, inner.get("type"))
    async with baton.store.transaction() as work:
        instance = await work.instance(1)
        assert instance is not None and instance.tasks[0].status.value == "open"
        assert await work.instance(2) is None
    assert slack.calls_to("views.open")[-1:] and len(slack.calls_to("views.open")) == 1  # only Alice's own form
    assert not slack.calls_to("views.publish") and not slack.ephemerals(MARIA)  # no Home, no "Record this?"
    async with baton.store.transaction() as work:
        assert await work.active_delegations(datetime.now(UTC)) == {}


async def test_text_people_type_is_shown_as_written_never_as_markup(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # A support ticket reported in #general gets a progress card there: a typed `<!channel>` must not ping the
    # channel, and a typed `<https://…|label>` must not become a disguised link.
    hostile = "<!channel> *ACME* <https://evil.example|click here> & co"
    assert (await driver.send_command(ALICE, "start support-ticket", channel_id="C0GENERAL")).status == 200
    form = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    values = field_values(customer=hostile, summary="The export is empty", severity=("select", "high"))
    assert "errors" not in (await driver.submit_view(ALICE, form, values)).body
    card = await slack.wait_for(lambda: next(iter(slack.messages("C0GENERAL")), None), what="the channel card")
    posted = json.dumps([card.text, card.blocks])
    assert "<!channel>" not in posted and "<https://evil.example|" not in posted
    assert "&lt;!channel&gt;" in posted and "&amp; co" in posted


async def test_an_outsider_cancelling_a_request_learns_no_more_than_for_one_that_does_not_exist(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Parking")
    await start_expense(driver, slack, ALICE, 7, "Tolls")
    approval = await task_message(slack, MARIA, "task_approve", containing="Tolls")
    await driver.click_button_in(approval, MARIA, "task_approve")  # request #2 finishes: completed
    async with baton.store.transaction(read_only=True) as work:
        finished = await work.instance(2)
    assert finished is not None and finished.status.value == "completed"
    nothing = (await driver.send_command(BOB, "cancel 99")).body
    assert "There is no request #99" in nothing
    for running_or_finished in (1, 2):
        answer = (await driver.send_command(BOB, f"cancel {running_or_finished}")).body
        assert answer == nothing.replace("99", str(running_or_finished))
        for leak in (ALICE, "Expense approval", "completed", "Parking", "Tolls"):
            assert leak not in answer
    async with baton.store.transaction(read_only=True) as work:
        running = await work.instance(1)
        trail = await work.audit_trail(1)
    assert running is not None and running.status.value == "running"
    assert any(entry.kind == "action_refused" and entry.actor == BOB for entry in trail)  # still in the history
    assert "Only <@U0ALICE>" in (await driver.send_command(MARIA, "cancel 1")).body  # she may see it: told why


DISGUISES = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # direction overrides and isolates
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"  # zero-width and invisible
    "\x00\x07\x1b"  # control characters
)


async def test_typed_text_reaches_the_approver_without_direction_overrides_zero_width_or_control_characters(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # Reads "Team lunch, invoice gpj.exe" to a person unless the override is removed.
    reason = "Team\u200b lunch\x00, invoice \u202eexe.jpg\u202c and \u2066<!channel>\u2069 \ufeffthanks\x1b[31m"
    await start_expense(driver, slack, ALICE, 20, reason)
    approval = await task_message(slack, MARIA, "task_approve")
    shown = approval.text + json.dumps(approval.blocks, ensure_ascii=False)
    assert not set(DISGUISES) & set(shown), [hex(ord(c)) for c in set(DISGUISES) & set(shown)]
    assert "Team lunch, invoice exe.jpg and &lt;!channel&gt; thanks[31m" in shown
