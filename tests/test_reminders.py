"""Reminders, escalations, snoozes and deadlines end to end: the real scheduler path on an adjustable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Baton
from bot.clock import OffsetClock
from bot.emulator import Message, SlackDriver, SlackEmulator
from bot.service import FormInvalid, Refused
from bot.store import OutboxMessage

from .conftest import baton_settings
from .story import choose_in, copy_workflows, dm_containing, start_with_form, task_message, text_of, told, updated

ALICE, BOB, MARIA, DIRK = "U0ALICE", "U0BOB", "U0MARIA", "U0DIRK"
FIONA, FRANK = "U0FIONA", "U0FRANK"
# Wednesday 2 December 2026, 10:00 in Berlin, where Maria (the approver) and Dirk (her manager) work.
BERLIN_MORNING = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

QUICK_CHECK = """
name: quick-check
title: Quick check
form:
  - {id: item, label: Item}
steps:
  - id: check
    type: approval
    title: Check {form.item}
    assignee: requester.manager
    due: 30s
    remind: {before: 10s, repeat: 30s}
    escalate: {after: 30s, to: [assignee.manager]}
"""

DEADLINE = """
name: deadline
title: Deadline
form:
  - {id: item, label: Item}
steps:
  - id: check
    type: approval
    title: Check {form.item}
    assignee: requester.manager
    due: 30s
    on_timeout: reject
"""

LAPSE = (  # the same step, cancelling the request at its deadline, its title naming the requester
    DEADLINE.replace("name: deadline\ntitle: Deadline", "name: lapse\ntitle: Lapse")
    .replace("title: Check {form.item}", "title: Check {form.item} for {requester}")
    .replace("on_timeout: reject", "on_timeout: cancel")
)


BOTH_FINANCE = """
name: both-finance
title: Both finance
form:
  - {id: item, label: Item}
steps:
  - id: check
    type: approval
    title: Check {form.item}
    assignee: group:finance
    rule: all
    due: 30s
    escalate: {after: 30s, to: [U0DIRK]}
"""


QUICK_TASK = """
name: quick-task
title: Quick task
form:
  - {id: who, label: Who, type: user}
steps:
  - id: job
    title: Do it
    assignee: form.who
    due: 30s
    remind: {at_due: true}
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(
        tmp_path / "workflows",
        **{"quick-check": QUICK_CHECK, "deadline": DEADLINE, "quick-task": QUICK_TASK, "both-finance": BOTH_FINANCE,
           "lapse": LAPSE},
    )


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock(start=BERLIN_MORNING)


async def later(baton: Baton, clock: OffsetClock, seconds: float) -> None:
    """Let time pass and run the scheduler's sweep, as its interval job would."""
    clock.advance(timedelta(seconds=seconds))
    await baton.tick()


async def kinds(baton: Baton, instance_id: int = 1) -> list[str]:
    async with baton.store.transaction() as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


def reminders_to(slack: SlackEmulator, user: str) -> list[str]:
    return [m.text for m in slack.dm_messages(user) if m.text.startswith("Reminder")]


def live_buttons(slack: SlackEmulator, *people: str) -> list[str]:
    """The DMs of these people that still offer to approve or reassign, as `person: text`."""
    return [
        f"{person}: {message.text}"
        for person in people
        for message in slack.dm_messages(person)
        if "task_approve" in text_of(message) or "task_reassign" in text_of(message)
    ]


async def test_reminders_then_an_escalation_whose_receiver_reassigns_and_the_new_assignee_finishes(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    await start_with_form(driver, slack, ALICE, "quick-check", item="the invoice")
    original = await task_message(slack, MARIA, "task_approve")
    await later(baton, clock, 21)  # 10 s before due
    before = await dm_containing(slack, MARIA, "is due")
    assert "task_snooze" in text_of(before) and "task_approve" in text_of(before)
    assert "/archives/" in text_of(before)  # the link to the original request, filled in at send time
    await later(baton, clock, 10)  # due
    await slack.wait_for(lambda: len(reminders_to(slack, MARIA)) == 2)
    await later(baton, clock, 30)  # overdue: the repeat, and the escalation to Maria's manager
    await dm_containing(slack, MARIA, "Overdue by")
    stuck = await dm_containing(slack, DIRK, "Stuck")
    assert f"<@{MARIA}>" in text_of(stuck) and "task_reassign" in text_of(stuck)
    await choose_in(driver, stuck, DIRK, "task_reassign", BOB)
    await told(slack, DIRK, "Reassigned to")
    handed = await task_message(slack, BOB, "task_approve")
    await updated(slack, original, "Reassigned")
    await driver.click_button_in(handed, BOB, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")
    # Every copy ends in its outcome: the reminders and the escalation too, not only the task DMs.
    await slack.wait_for(
        lambda: not live_buttons(slack, MARIA, DIRK, BOB), what="no Approve or Reassign left in any DM"
    )
    approved = [m for m in slack.dm_messages(MARIA) if m.text == "Check the invoice: approved"]
    assert len(approved) == 2  # her task copy and her live reminder (the earlier ones were superseded)
    log = await kinds(baton)
    assert log.count("reminder_sent") == 3
    assert log.count("escalated") == 1 and "task_reassigned" in log


async def test_an_escalation_receivers_reassignment_of_an_all_step_still_needs_two_approvals(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    """The attack of issue 12: two finance approvers must both approve; Fiona approves, the step escalates, and
    the receiver reassigns it. Bob takes Frank's open seat only: his approval alone must not complete it."""
    await start_with_form(driver, slack, ALICE, "both-finance", item="the budget")
    fionas = await task_message(slack, FIONA, "task_approve")
    await task_message(slack, FRANK, "task_approve")
    assert (await driver.click_button_in(fionas, FIONA, "task_approve")).status == 200
    await later(baton, clock, 31)  # due
    await later(baton, clock, 31)  # overdue past escalate.after: Dirk is told
    stuck = await dm_containing(slack, DIRK, "Stuck")
    await choose_in(driver, stuck, DIRK, "task_reassign", BOB)
    await told(slack, DIRK, "Reassigned to")
    bobs = await task_message(slack, BOB, "task_approve")
    assert (await driver.click_button_in(bobs, BOB, "task_approve")).status == 200
    await dm_containing(slack, ALICE, "was *completed*")  # two distinct approvals: Fiona's and Bob's
    async with baton.store.transaction(read_only=True) as work:
        trail = await work.audit_trail(1)
    reassigned = next(entry for entry in trail if entry.kind == "task_reassigned")
    assert reassigned.data["to"] == [FIONA, BOB]  # Fiona's approved seat stays; Bob takes Frank's open one
    decided_by = [entry.actor for entry in trail if entry.kind in ("vote_recorded", "task_approved")]
    assert decided_by == [FIONA, BOB]  # the rule still needed two different people


async def test_messages_queued_before_typed_outbox_rows_still_go_to_their_thread_with_their_link(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    await start_with_form(driver, slack, ALICE, "quick-check", item="the invoice")
    original = await task_message(slack, MARIA, "task_approve")
    key = f"task:1.check:{MARIA}"
    line = f"Quick check #1 from <@{ALICE}> · <{{{{permalink}}}}|Open the original request>"
    blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}]
    queued_by_the_previous_version = [
        OutboxMessage(MARIA, "chat.postMessage", {"channel": MARIA, "text": "an old reply", "_thread_of": key}),
        OutboxMessage(
            MARIA,
            "chat.postMessage",
            {"channel": MARIA, "text": "an old reminder", "blocks": blocks, "_permalink_of": key},
        ),
    ]
    async with baton.store.transaction() as work:
        await work.enqueue(queued_by_the_previous_version, clock.now())
    baton.sender.kick()
    reply = await dm_containing(slack, MARIA, "an old reply")
    assert reply.thread_ts == original.ts
    reminder = await dm_containing(slack, MARIA, "an old reminder")
    assert "/archives/" in text_of(reminder) and "permalink}}" not in text_of(reminder)


async def test_snooze_delays_the_next_reminder(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    await start_with_form(driver, slack, ALICE, "quick-check", item="a contract")
    await task_message(slack, MARIA, "task_approve")
    await later(baton, clock, 31)
    reminder = await dm_containing(slack, MARIA, "Reminder")
    await choose_in(driver, reminder, MARIA, "task_snooze", "1h")
    await told(slack, MARIA, "Snoozed until")
    count = len(reminders_to(slack, MARIA))
    await later(baton, clock, 65)  # the 30 s repeat would have fired twice by now
    assert len(reminders_to(slack, MARIA)) == count
    await later(baton, clock, 3600)
    await slack.wait_for(lambda: len(reminders_to(slack, MARIA)) == count + 1)
    assert "task_snoozed" in await kinds(baton)


async def past_the_deadline(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock, workflow: str, item: str, ended: str
) -> tuple[Message, Message]:
    """Alice asks, Maria does not act until the 30 s deadline has passed: Maria's task DM, and Alice's news."""
    await start_with_form(driver, slack, ALICE, workflow, item=item)
    approval = await task_message(slack, MARIA, "task_approve")
    await later(baton, clock, 31)
    return approval, await dm_containing(slack, ALICE, f"was *{ended}*")


async def test_a_deadline_with_on_timeout_reject_ends_the_request(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    approval, outcome = await past_the_deadline(driver, slack, baton, clock, "deadline", "a purchase order", "rejected")
    assert "No decision before the deadline" in text_of(outcome)
    await updated(slack, approval, "Rejected")
    assert "task_timed_out" in await kinds(baton)


async def test_a_deadline_with_on_timeout_cancel_tells_the_requester_which_task_lapsed_in_plain_words(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    approval, outcome = await past_the_deadline(driver, slack, baton, clock, "lapse", "a <b> & co", "cancelled")
    reason = next(line for line in text_of(outcome).split("\\n") if "passed its deadline" in line)
    # The reason names the task as text, never as escaped markup such as `&lt;@U0ALICE&gt;` or `&amp;lt;`.
    assert "“Check a &lt;b&gt; &amp; co for @U0ALICE” passed its deadline." in reason, reason
    await updated(slack, approval, "cancelled")
    async with baton.store.transaction(read_only=True) as work:
        finished = await work.instance(1)
    assert finished is not None and finished.outcome_reason == "“Check a <b> & co for @U0ALICE” passed its deadline."


async def test_reminders_wait_for_the_receivers_working_hours(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    clock.advance(timedelta(hours=-8))  # 02:00 in Berlin
    await start_with_form(driver, slack, ALICE, "quick-check", item="a night request")
    await task_message(slack, MARIA, "task_approve")
    await later(baton, clock, 31)  # due at 02:00: not a time to ping Maria
    assert reminders_to(slack, MARIA) == []
    await later(baton, clock, 7 * 3600)  # 09:00 in Berlin
    await slack.wait_for(lambda: reminders_to(slack, MARIA))
    async with baton.store.transaction() as work:
        sent = [e for e in await work.audit_trail(1) if e.kind == "reminder_sent"]
    assert sent and sent[0].at.astimezone(UTC).hour == 8  # 09:00 Berlin is 08:00 UTC


async def test_reminders_due_while_baton_was_stopped_go_out_once_at_start(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, clock: OffsetClock, database_url: str
) -> None:
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows_dir, database_url=database_url)
    first = Baton(settings, clock=clock)
    await first.start()
    started = await first.service.start("quick-check", ALICE, {"item": "the lease"})
    await slack.wait_for(lambda: slack.dm_messages(MARIA))
    await first.stop()
    clock.advance(timedelta(minutes=10))  # the due reminder, 19 repeats and the escalation fell due meanwhile
    second = Baton(settings, clock=clock)
    await second.start()
    try:
        await slack.wait_for(lambda: slack.dm_messages(DIRK))
        await slack.wait_for(lambda: reminders_to(slack, MARIA))
        assert not isinstance(started, Refused | FormInvalid)
        log = await kinds(second, started.instance.id)
        assert log.count("escalated") == 1
        # One reminder for all that was missed (the stale remind-before is dropped), not one per missed tick.
        assert log.count("reminder_sent") == 1, log
        async with second.store.transaction() as work:
            late = [e for e in await work.audit_trail(1) if e.kind == "reminder_sent"]
        assert late[0].data["late_by_seconds"] >= 500  # the lateness is on record
    finally:
        await second.stop()


async def test_the_morning_digest_lists_open_tasks_once_a_day_and_tells_managers_about_overdue_ones(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    await start_with_form(driver, slack, ALICE, "quick-check", item="first")
    await start_with_form(driver, slack, BOB, "quick-check", item="second")
    await task_message(slack, MARIA, "task_approve", containing="second")
    clock.advance(timedelta(hours=-1, minutes=-30))  # 08:30 in Berlin: too early for a digest
    await baton.tick()
    assert not [m for m in slack.dm_messages(MARIA) if m.text.startswith("Good morning")]
    clock.advance(timedelta(hours=1, minutes=31))  # 10:01: the tasks are overdue now
    await baton.tick()
    digest = await dm_containing(slack, MARIA, "Good morning")
    assert "Check first" in text_of(digest) and "Check second" in text_of(digest)
    assert text_of(digest).index("Check first") < text_of(digest).index("Check second")  # oldest first
    manager = await dm_containing(slack, DIRK, "Overdue in your team")
    assert f"<@{MARIA}>" in text_of(manager)
    await baton.tick()
    await later(baton, clock, 3600)
    assert len([m for m in slack.dm_messages(MARIA) if m.text.startswith("Good morning")]) == 1


async def test_someone_missing_from_org_yaml_is_reminded_in_their_slack_time_zone(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, clock: OffsetClock
) -> None:
    guest = "U0GUEST"
    slack.add_user(guest, name="guest", real_name="Guest in Tokyo", tz="Asia/Tokyo")  # 18:00 there now
    await start_with_form(driver, slack, ALICE, "quick-task", who=("user", guest))
    await task_message(slack, guest, "task_complete")
    await slack.wait_for(lambda: slack.calls_to("users.info"))  # Baton looked the newcomer up in Slack
    await baton.profiles.wait()
    await later(baton, clock, 31)
    assert reminders_to(slack, guest) == []  # evening in Tokyo: it waits
    clock.advance(timedelta(hours=15))  # 09:00 next morning in Tokyo
    await baton.tick()
    await slack.wait_for(lambda: reminders_to(slack, guest))
