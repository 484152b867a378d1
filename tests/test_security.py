"""Every request Baton acts on must carry Slack's valid, fresh signature: replays and forgeries change nothing."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, sign_request
from bot.emulator.payloads import block_actions, event_callback, slash_command, team_join_event

from .conftest import SIGNING_SECRET
from .story import start_expense, task_message

ALICE, BOB, MARIA = "U0ALICE", "U0BOB", "U0MARIA"


def forged_headers(body: str, *, age: int = 0, secret: str = "not-the-secret") -> dict[str, str]:
    timestamp = int(time.time()) - age
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": sign_request(secret, timestamp, body)}


@pytest.mark.parametrize(
    ("how", "age", "secret"),
    [("forged", 0, "not-the-secret"), ("stale", 6 * 60, SIGNING_SECRET)],
)
async def test_approve_cancel_start_and_events_need_a_valid_fresh_signature(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, how: str, age: int, secret: str
) -> None:
    await start_expense(driver, slack, ALICE, 5, "Parking")
    approval = await task_message(slack, MARIA, "task_approve")
    requests = [
        # Maria's approval, replayed
        "payload=" + json.dumps(block_actions(user_id=MARIA, action_id="task_approve", value="1.manager_approval",
                                              trigger_id="t", channel_id=approval.channel)),
        # Alice's cancel and a new start, forged
        urlencode(slash_command(command="/workflow", text="cancel 1", user_id=ALICE, channel_id="C0GENERAL",
                                trigger_id="t")),
        urlencode(slash_command(command="/workflow", text="start expense-approval", user_id=BOB,
                                channel_id="C0GENERAL", trigger_id="t")),
    ]
    for body in requests:
        response = await driver.post_raw(body, "application/x-www-form-urlencoded",
                                         headers=forged_headers(body, age=age, secret=secret), sign=False)
        assert response.status == 401, (how, body[:60])
    event = json.dumps(event_callback(team_join_event({"id": "U0NEWBIE", "name": "new"}), event_id="Ev0FORGED"))
    response = await driver.post_raw(event, "application/json", headers=forged_headers(event, age=age, secret=secret),
                                     sign=False)
    assert response.status == 401
    async with baton.store.transaction() as work:
        instance = await work.instance(1)
        assert instance is not None and instance.tasks[0].status.value == "open"
        assert await work.instance(2) is None
    assert slack.calls_to("views.open")[-1:] and len(slack.calls_to("views.open")) == 1  # only Alice's own form
