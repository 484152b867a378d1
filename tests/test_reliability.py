"""Nothing lost, nobody let in: Slack faults, retries, bad input, edited workflows, broken databases."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.app import Baton
from bot.catalog import load_catalog
from bot.emulator import (
    Delay,
    Drop,
    HttpError,
    RateLimited,
    SlackDriver,
    SlackEmulator,
    SlackError,
    find_action,
    validate_blocks,
)
from bot.emulator.payloads import view_submission
from bot.engine import Instance, InstanceStatus, Task, TaskStatus, WorkflowDefinition
from bot.settings import SettingsError, load_settings
from bot.slack.command_text import VERBS, parse_command_text
from bot.slack.messages import open_task_blocks, status_blocks
from bot.store import AuditEntry, SQLiteStore, StoreError
from bot.store.schema import MIGRATIONS

from .conftest import ADMIN, SIGNING_SECRET, baton_settings, running_baton
from .story import (
    big_org,
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

ALICE, MARIA = "U0ALICE", "U0MARIA"
PROJECT = Path(__file__).resolve().parents[1]


async def trail(baton: Baton, instance_id: int) -> list[str]:
    async with baton.store.transaction() as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


# ---- outbound faults ------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_two_hundred_workflows_finish_while_slack_fails_thirty_percent_of_calls(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = copy_workflows(tmp_path / "workflows")
    pairs = big_org(workflows, teams=50, team_size=4)
    for employee, manager in pairs:
        for user in (employee, manager):
            if slack.user(user) is None:
                slack.add_user(user, name=user.lower())
    # 200 requests in a minute are far beyond Slack's tier for chat.update (50 a minute): this test is about
    # faults, not pacing, so the tier pacing is off here (the 1-per-second-per-conversation pacing stays on).
    # At 30% failures some message fails seven times running; with the production cap (300 s) its backoff alone
    # would outlast the test, so retries here wait at most 4 s (test_backoff_* covers the doubling and the cap).
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows).model_copy(
        update={"slack_tier_pacing": False, "slack_retry_max_seconds": 4.0}
    )
    baton = Baton(settings)
    await baton.start()
    port = await baton.serve("127.0.0.1", 0)
    slack.random_failures(
        0.3,
        seed=7,
        faults=[HttpError(500), HttpError(503), RateLimited(retry_after=1), Drop(), SlackError("internal_error")],
        methods=["chat.postMessage", "chat.update", "chat.getPermalink"],
    )
    try:
        async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:

            async def run(employee: str, manager: str, number: int) -> None:
                await driver.send_command(employee, "start expense-approval")
                view = await slack.wait_for(lambda: (slack.open_views(employee) or [None])[-1], 10)
                values = field_values(amount=10 + number, currency=("select", "EUR"), reason=f"Expense {number}")
                assert (await driver.submit_view(employee, view, values)).status == 200
                approval = await task_message(slack, manager, "task_approve", containing=f"Expense {number}",
                                              timeout=60)
                assert (await driver.click_button_in(approval, manager, "task_approve")).status == 200
                await updated(slack, approval, "Approved", timeout=60)
                await dm_containing(slack, employee, "was *completed*", timeout=60)

            await asyncio.gather(*(run(employee, manager, n) for n, (employee, manager) in enumerate(pairs)))
        assert sum(1 for call in slack.calls if call.faulted) > 50  # the chaos really happened
        for instance_id in range(1, len(pairs) + 1):
            kinds = await trail(baton, instance_id)
            assert kinds.count("task_approved") == 1, kinds  # exactly one decision each
            assert kinds[-1] == "instance_completed"
            async with baton.store.transaction() as work:
                instance = await work.instance(instance_id)
            assert instance is not None and instance.status is InstanceStatus.COMPLETED  # state matches the log
        def outbox() -> tuple[dict[str, int], set[str]]:
            with sqlite3.connect(tmp_path / "baton.db") as db:
                states = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
                pending = db.execute("SELECT DISTINCT conversation FROM outbox WHERE status = 'pending'").fetchall()
            return states, {row[0] for row in pending}

        # The backlog drains; what may still wait is finance's 200 "please reimburse" notes, paced at about
        # one per second into one DM.
        await slack.wait_for(lambda: outbox()[1] <= {"U0FIONA"}, 90, what="the outbox to drain")
        assert "failed" not in outbox()[0]  # nothing given up
    finally:
        slack.random_failures(0.0, seed=0, faults=[])
        await baton.stop()


async def test_a_rate_limit_is_waited_out_and_the_message_still_arrives(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    slack.inject("chat.postMessage", RateLimited(retry_after=1), times=2)
    await start_expense(driver, slack, ALICE, 5, "Parking ticket")
    await task_message(slack, MARIA, "task_approve", timeout=10)
    await dm_containing(slack, ALICE, "under way", timeout=10)
    calls = slack.calls_to("chat.postMessage")
    limited = [call for call in calls if call.status == 429]
    assert len(limited) == 2
    for refused in limited:  # each refused message is tried again only after Retry-After
        again = next(c for c in calls if c.at > refused.at and c.args["channel"] == refused.args["channel"])
        assert again.at - refused.at >= 0.99 and again.ok


async def test_a_rate_limited_post_holds_back_its_conversation_only(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # chat.postMessage is limited per channel: Slack's 429 in one DM must not stop Baton posting into others.
    slack.inject("chat.postMessage", RateLimited(retry_after=4), times=1)
    await start_expense(driver, slack, ALICE, 5, "Parking ticket")
    refused = await slack.wait_for(
        lambda: next((c for c in slack.calls_to("chat.postMessage") if c.status == 429), None), 10, what="a 429"
    )
    # Frank's manager is Fiona: two conversations that nobody limited
    await start_expense(driver, slack, "U0FRANK", 7, "Bus tickets")
    await task_message(slack, "U0FIONA", "task_approve", timeout=10)
    await dm_containing(slack, "U0FRANK", "under way", timeout=10)
    others = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] in ("U0FIONA", "U0FRANK")]
    assert others and all(c.ok and c.at - refused.at < 3.5 for c in others)  # not held back by the 429
    again = await slack.wait_for(
        lambda: next((c for c in slack.calls_to("chat.postMessage")
                      if c.at > refused.at and c.args["channel"] == refused.args["channel"]), None),
        15,
        what="the limited conversation's retry",
    )
    assert again.at - refused.at >= 3.99 and again.ok  # the limited conversation waited out Retry-After


async def _gaps_between_tries(tmp_path: Path, slack: SlackEmulator, *, failures: int, cap: float) -> list[float]:
    """Seconds between the first `failures` + 1 tries of one message while Slack answers every post with a 500."""

    def tries_by_channel() -> dict[str, list[float]]:
        tries: dict[str, list[float]] = {}
        for call in slack.calls_to("chat.postMessage"):
            tries.setdefault(str(call.args["channel"]), []).append(call.at)
        return tries

    async with running_baton(tmp_path, slack, slack_retry_max_seconds=cap) as (_baton, driver):
        slack.inject("chat.postMessage", HttpError(500), times=None)  # an outage of chat.postMessage
        await start_expense(driver, slack, ALICE, 5, "Taxi fare")
        await slack.wait_for(lambda: max(map(len, tries_by_channel().values()), default=0) > failures, 60,
                             what=f"{failures + 1} tries of one message")
        slack.clear_faults()  # Slack is back: the message goes out on its next try
        await task_message(slack, MARIA, "task_approve", timeout=30)
    times = max(tries_by_channel().values(), key=len)[: failures + 1]
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


async def test_backoff_doubles_between_tries_of_a_failing_call(tmp_path: Path, slack: SlackEmulator) -> None:
    gaps = await _gaps_between_tries(tmp_path, slack, failures=3, cap=300.0)
    # 0.5 s × 2^attempt, jittered down to half at most: at least 0.25 s, 0.5 s, 1 s
    assert gaps[0] >= 0.24 and gaps[1] >= 0.49 and gaps[2] >= 0.99, gaps


async def test_backoff_is_capped_by_slack_retry_max_seconds(tmp_path: Path, slack: SlackEmulator) -> None:
    gaps = await _gaps_between_tries(tmp_path, slack, failures=6, cap=0.5)
    # Uncapped, the six waits would add up to at least 15.75 s; capped at 0.5 s (plus the sender's 1 s idle poll)
    # each stays below 2 s.
    assert all(0.24 <= gap < 2.0 for gap in gaps), gaps


async def test_a_permanent_error_is_recorded_and_shown_to_admins_and_the_workflow_goes_on(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    slack.inject("chat.postMessage", SlackError("channel_not_found"), times=1, channel=ALICE)  # her receipt fails
    await start_expense(driver, slack, ALICE, 5, "Train ticket")
    await dm_containing(slack, ADMIN, "could not deliver")
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")
    assert "delivery_failed" in await trail(baton, 1)


async def test_an_error_slack_never_documented_is_given_up_after_eight_tries_and_the_dm_goes_on(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    # An error code Baton does not know (not transient, not an auth failure) must not hold up a person's DM for
    # ever: after eight tries the message is given up like a permanent error, and the next one goes out.
    async with running_baton(tmp_path, slack, slack_retry_max_seconds=0.3) as (baton, driver):
        slack.inject("chat.postMessage", SlackError("brand_new_error"), times=8, channel=ALICE)
        await start_expense(driver, slack, ALICE, 5, "Museum tickets")
        alert = await dm_containing(slack, ADMIN, "could not deliver", timeout=30)
        assert "brand_new_error" in text_of(alert)
        tries = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == ALICE]
        assert [c.error for c in tries] == ["brand_new_error"] * 8
        approval = await task_message(slack, MARIA, "task_approve")
        await driver.click_button_in(approval, MARIA, "task_approve")
        await dm_containing(slack, ALICE, "was *completed*", timeout=15)  # her DM is not blocked behind it
        assert "delivery_failed" in await trail(baton, 1)


async def test_a_slack_call_slower_than_the_timeout_is_tried_again_and_the_decision_stays_single(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    # Slack answers Maria's task DM only after Baton's client gave up (1 s): Slack did post it, Baton cannot know,
    # so it posts again. Delivery is at least once; the request and its decision are still exactly once.
    async with running_baton(tmp_path, slack, slack_api_timeout_seconds=1.0) as (baton, driver):
        slack.inject("chat.postMessage", Delay(2.0), times=1, channel=MARIA)
        await start_expense(driver, slack, ALICE, 5, "Late-night taxi")
        posts = await slack.wait_for(
            lambda: (found := [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == MARIA])
            and len(found) >= 2 and found,
            15,
            what="the task DM tried again after the timeout",
        )
        assert all(c.ok for c in posts) and [isinstance(c.fault, Delay) for c in posts].count(True) == 1
        approvals = await slack.wait_for(
            lambda: len(found := [m for m in slack.dm_messages(MARIA) if find_action(m.blocks, "task_approve")])
            == 2 and found,
            10,
            what="both copies of the task DM",
        )
        for copy in approvals:  # Maria clicks Approve on each copy: one decision, one refusal
            await driver.click_button_in(copy, MARIA, "task_approve")
        await dm_containing(slack, ALICE, "was *completed*")
        kinds = await trail(baton, 1)
        assert kinds.count("task_approved") == 1 and kinds.count("instance_completed") == 1


async def test_a_stop_that_outlasts_the_sender_wait_lets_the_call_under_way_finish_so_it_is_not_posted_twice(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    # SIGTERM while Slack takes 6.5 s to answer Maria's task DM: longer than the sender's 5 s at stop, shorter
    # than the HTTP timeout. Slack posts it either way; if Baton cut the call short, the row stayed pending and
    # the next start posted the DM a second time.
    settings = baton_settings(tmp_path, slack).model_copy(update={"slack_api_timeout_seconds": 9.0})
    baton = Baton(settings)
    await baton.start()
    port = await baton.serve("127.0.0.1", 0)
    slack.inject("chat.postMessage", Delay(6.5), times=1, channel=MARIA)
    async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:
        await start_expense(driver, slack, ALICE, 5, "Conference fee")
        await dm_containing(slack, ALICE, "Conference fee")  # sent with Maria's DM, which is now under way
        await asyncio.sleep(0.3)
        assert await baton.stop() is False  # cut short: the sender needed longer than its share
    posted = await slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == MARIA], 3
    )
    assert [c.ok for c in posted] == [True]
    restarted = Baton(settings)
    await restarted.start()
    try:
        await asyncio.sleep(1.5)  # the sender's first rounds: anything left pending goes out now
        task_dms = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == MARIA]
        assert len(task_dms) == 1, "the task DM was posted again after the restart"
    finally:
        assert await restarted.stop()


async def test_a_channel_baton_was_not_invited_to_is_reported_and_the_workflow_goes_on(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    # A notify step names a channel nobody ran `/invite @baton` in: Slack answers not_in_channel, no retry can
    # cure that, so the admins are told which channel, the request's history says so, and the request finishes.
    slack.add_channel("C0ANNOUNCE", "announcements", bot_is_member=False)
    workflows = copy_workflows(tmp_path / "workflows", **{"announce": """
name: announce
title: Announcement
form:
  - {id: news, label: News}
steps:
  - id: tell
    type: notify
    to: "#announcements"
    text: "{form.news}"
"""})
    async with running_baton(tmp_path, slack, workflows_dir=workflows) as (baton, driver):
        await start_with_form(driver, slack, ALICE, "announce", news="The canteen opens at noon")
        alert = await dm_containing(slack, ADMIN, "could not deliver")
        assert "not_in_channel" in text_of(alert) and "/invite @baton" in text_of(alert)
        await dm_containing(slack, ALICE, "was *completed*")
        assert "delivery_failed" in await trail(baton, 1)
        refused = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "#announcements"]
        assert [c.error for c in refused] == ["not_in_channel"]  # given up at once, not retried
        assert not slack.messages("C0ANNOUNCE")


# ---- inbound: unknown, oversized, malformed, hostile ----------------------------------------------------------


async def test_unknown_buttons_and_forms_are_answered_politely(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    response = await driver.click(ALICE, action_id="retired_button_v0", value="x", channel_id="C0GENERAL")
    assert response.status == 200
    await told(slack, ALICE, "older version of Baton")
    view = {"id": "V0OLD", "callback_id": "retired_form", "type": "modal", "private_metadata": "", "hash": "h",
            "state": {"values": {}}}
    answer = await driver.submit_view(ALICE, view, {})
    assert answer.status == 200 and answer.json()["response_action"] == "update"


async def test_an_oversized_body_is_refused_and_malformed_ones_change_nothing(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    huge = "payload=" + "x" * (600 * 1024)
    assert (await driver.post_raw(huge, "application/x-www-form-urlencoded")).status == 413
    for body in ("payload=%7Bnot-json", "payload=%5B%5D", "command=%2Fworkflow", "{}"):
        response = await driver.post_raw(body, "application/x-www-form-urlencoded")
        assert response.status < 500, (body, response.status)
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "status 99999999999999999999", "status #-1", "cancel", "start", "start ../../etc/passwd",
        "start <@U0BOB|bob>", "ünïcødé 🚀 status", "status 1 2 3", '"quoted" start', "x" * 10_000,
        "cancel 1 " + "y" * 5000,
    ],
)
async def test_slash_command_text_of_any_shape_gets_a_clear_answer(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, text: str
) -> None:
    response = await driver.send_command(ALICE, text)
    assert response.status == 200
    assert len(response.body) < 20_000 and "Traceback" not in response.body


@given(st.text(max_size=300))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_the_command_parser_never_raises(text: str) -> None:
    parsed = parse_command_text(text)
    assert parsed.verb in VERBS
    assert parse_command_text(f"delegate {text}").verb == "delegate"


@given(st.text(min_size=1, max_size=12_000), st.text(max_size=500))
@settings(max_examples=60, deadline=None)
def test_messages_respect_block_kit_limits_for_any_input(value: str, title: str) -> None:
    catalog = load_catalog(PROJECT / "workflows")
    definition = catalog.workflows["expense-approval"]
    from datetime import UTC, datetime

    now = datetime(2026, 12, 2, tzinfo=UTC)
    task = Task(id="1.manager_approval", instance_id=1, step_id="manager_approval", kind="approval",
                title=(title or "t") * 3, assignees=("U0MARIA",) * 30, created_at=now, status=TaskStatus.OPEN,
                comment=value)
    instance = Instance(id=1, workflow=definition.name, definition_version=definition.version, title="Expense #1",
                        requester="U0ALICE",
                        form={"amount": 1, "currency": "EUR", "reason": value, "receipt_url": value},
                        tasks=(task,), created_at=now, updated_at=now)
    assert validate_blocks(open_task_blocks(definition, instance, task)) == []
    assert validate_blocks(status_blocks(definition, instance, None)) == []


def test_a_long_form_shows_every_field_and_a_select_stays_within_slack_limits() -> None:
    from datetime import UTC, datetime

    steps = [{"id": "a", "type": "task", "title": "A", "assignee": "requester"}]
    definition = WorkflowDefinition.model_validate(
        {"name": "w", "title": "W", "form": [{"id": f"f{i}", "label": f"Field {i}"} for i in range(23)], "steps": steps}
    )
    now = datetime(2026, 12, 2, tzinfo=UTC)
    instance = Instance(id=1, workflow="w", definition_version=definition.version, title="W #1", requester="U0ALICE",
                        form={f"f{i}": f"value {i}" for i in range(23)}, tasks=(), created_at=now, updated_at=now)
    blocks = status_blocks(definition, instance, None)
    assert validate_blocks(blocks) == [] and all(f"value {i}" in str(blocks) for i in range(23))
    options = [{"value": f"o{i}", "label": f"Option {i}"} for i in range(101)]
    with pytest.raises(ValidationError, match="at most 100 options"):
        WorkflowDefinition.model_validate(
            {"name": "w", "title": "W", "form": [{"id": "s", "label": "S", "type": "select", "options": options}],
             "steps": steps}
        )


def test_a_whole_number_field_sends_whole_number_bounds() -> None:
    from bot.slack.views import start_form_view

    definition = WorkflowDefinition.model_validate({
        "name": "w", "title": "W",
        "form": [{"id": "n", "label": "Nights", "type": "number", "min": 1, "max": 14, "decimals": 0}],
        "steps": [{"id": "a", "type": "task", "title": "A", "assignee": "requester"}],
    })
    element = next(b["element"] for b in start_form_view(definition, origin_channel=None)["blocks"] if "element" in b)
    assert (element["min_value"], element["max_value"], element["is_decimal_allowed"]) == ("1", "14", False)


def test_a_very_long_history_shows_its_newest_lines() -> None:
    from datetime import UTC, datetime, timedelta

    definition = load_catalog(PROJECT / "workflows").workflows["expense-approval"]
    now = datetime(2026, 12, 2, tzinfo=UTC)
    instance = Instance(id=1, workflow=definition.name, definition_version=definition.version, title="Expense #1",
                        requester="U0ALICE", form={"amount": 1, "currency": "EUR", "reason": "x"}, tasks=(),
                        created_at=now, updated_at=now)
    trail = [AuditEntry(n, 1, "comment_added", now + timedelta(minutes=n), "U0BOB", None, {"comment": f"note {n}"})
             for n in range(6000)]
    blocks = status_blocks(definition, instance, trail)
    assert validate_blocks(blocks) == [] and len(blocks) <= 50
    shown = str(blocks)
    assert "note 5999" in shown and "note 0 " not in shown and "earlier part(s) of the history not shown" in shown


# ---- workflows edited while instances run ---------------------------------------------------------------------


async def test_a_form_that_changed_while_open_comes_back_current_with_what_was_typed(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    # Alice opened the expense form before `reason` was added to it (here: her modal lacks that block). Errors
    # for a block her modal does not have would be refused by Slack; Baton shows the current form instead.
    await driver.send_command(ALICE, "start expense-approval")
    opened = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    old_form = {**opened, "blocks": [b for b in opened["blocks"] if b.get("block_id") != "field:reason"]}
    values = field_values(amount=15, currency=("select", "EUR"))
    answer = await driver.send_interaction(view_submission(user_id=ALICE, view=old_form, values=values, trigger_id="t"))
    reply = answer.json()
    assert reply["response_action"] == "update", reply
    blocks = reply["view"]["blocks"]
    assert "changed while you had it open" in str(blocks[0])
    assert "field:reason" in {b.get("block_id") for b in blocks}
    assert '"initial_value": "15"' in json.dumps(blocks)  # what she typed is kept
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None  # nothing started


async def test_a_running_instance_keeps_the_workflow_version_it_started_with(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, tmp_path: Path
) -> None:
    await start_expense(driver, slack, ALICE, 5000, "Laptop")
    approval = await task_message(slack, MARIA, "task_approve")
    edited = copy_workflows(tmp_path / "edited")
    path = edited / "expense-approval.yaml"
    text = path.read_text().replace("form.amount > 1000", "form.amount > 1000000")
    path.write_text(text)
    (edited / "content-review.yaml").unlink()
    baton.service.use_catalog(load_catalog(edited))
    await driver.click_button_in(approval, MARIA, "task_approve")
    await task_message(slack, "U0FIONA", "task_approve")  # the old rule still applies to this request
    assert "no workflow called `content-review`" in (await driver.send_command(ALICE, "start content-review")).body


# ---- the database ---------------------------------------------------------------------------------------------


async def test_a_damaged_database_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    database = tmp_path / "baton.db"
    database.write_bytes(b"this is not a database" * 400)
    with pytest.raises(StoreError, match="baton.db"):
        await SQLiteStore(database).open()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=PROJECT,
        env={"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s",
             "DATABASE_URL": f"sqlite:///{database}", "SLACK_API_URL": "http://127.0.0.1:9/api/"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    assert "baton.db" in result.stderr and "Traceback" not in result.stderr


def test_the_event_log_is_append_only_in_the_code() -> None:
    store_sql = PROJECT / "bot" / "store" / "sql"
    # The two exceptions an operator asks for: the retention purge deletes whole finished requests, their events
    # with them (bot/store/sql/retention.py), and `forget` rewrites the lines that name a person (erasure.py).
    purge, erasure = store_sql / "retention.py", store_sql / "erasure.py"
    schema = PROJECT / "bot" / "store" / "schema.py"
    excepted = (schema, purge, erasure)
    sources = "\n".join(p.read_text() for p in (PROJECT / "bot").rglob("*.py") if p not in excepted).upper()
    assert "UPDATE EVENTS" not in sources and "DELETE FROM EVENTS" not in sources
    assert purge.read_text().upper().count("DELETE FROM EVENTS") == 1 and "UPDATE EVENTS" not in purge.read_text()
    assert '_Erasable("events"' in erasure.read_text() and "DELETE FROM EVENTS" not in erasure.read_text().upper()
    # The migrations write to existing events once: migration 6 fills the workflow column it adds.
    writes = [sql for step in MIGRATIONS for sql in step if sql.upper().startswith(("UPDATE EVENTS", "DELETE"))]
    assert writes == [
        "UPDATE events SET workflow = (SELECT i.workflow FROM instances i WHERE i.id = events.instance_id) "
        "WHERE workflow IS NULL"
    ]




def test_a_lease_shorter_than_twice_the_slowest_slack_call_is_refused_at_start() -> None:
    # A lease that could run out under a call in flight would let a second process send the same message.
    with pytest.raises(SettingsError, match="OUTBOX_LEASE_SECONDS \\(20\\) must be at least 42"):
        load_settings(_env_file=None, outbox_lease_seconds=20, slack_api_timeout_seconds=10)
    assert load_settings(_env_file=None, outbox_lease_seconds=42, slack_api_timeout_seconds=10)
