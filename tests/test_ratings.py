"""Satisfaction end to end: the requester rates from the outcome DM through signed requests and the emulator,
someone else's click is refused, the rating shows in the report and the export, and a workflow can turn it off."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import Baton
from bot.catalog import load_catalog
from bot.emulator import Message, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import plain_text_value
from bot.engine import Instance, InstanceStatus, Rating, Refusal, RefusalReason, Transition
from bot.engine.satisfaction import RateRequest, RatingComment, comment_rating, rate
from bot.reporting.audit_export import read_csv

from .conftest import ADMIN
from .story import copy_workflows, dm_containing, start_expense, start_with_form, task_message, text_of, updated

ALICE, BOB, MARIA, FIONA = "U0ALICE", "U0BOB", "U0MARIA", "U0FIONA"

QUIET = """
name: quiet
title: Quiet request
owners: [U0FIONA]
satisfaction: false
form:
  - {id: item, label: Item}
steps:
  - {id: manager_ok, type: approval, title: "Approve {form.item}", assignee: requester.manager}
"""


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(tmp_path / "workflows", quiet=QUIET)


async def approved_expense(driver: SlackDriver, slack: SlackEmulator) -> Message:
    """Alice asks for an expense, Maria approves it in her DM; return Alice's outcome DM with its 1 to 5."""
    await start_expense(driver, slack, ALICE, 120, "Taxi to the airport")
    task = await task_message(slack, MARIA, "task_approve", containing="Taxi to the airport")
    assert (await driver.click_button_in(task, MARIA, "task_approve")).status == 200
    return await task_message(slack, ALICE, "request_rate_4", containing="was *completed*")


async def stored_rating(baton: Baton, instance_id: int) -> tuple[int, str | None] | None:
    async with baton.store.transaction(read_only=True) as work:
        instance = await work.instance(instance_id)
    assert instance is not None
    return (instance.rating.score, instance.rating.comment) if instance.rating else None


async def test_the_requester_rates_from_the_outcome_dm_and_comments_in_a_modal(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    outcome = await approved_expense(driver, slack)
    instance_id = int(find_action(outcome.blocks, "request_rate_4")[1]["value"])  # type: ignore[index]
    assert "How did this go for you?" in text_of(outcome)

    assert (await driver.click_button_in(outcome, ALICE, "request_rate_4")).status == 200
    rated = await updated(slack, outcome, "You rated this *4 of 5*")
    assert slack.message(outcome.channel, outcome.ts) is not None and rated.ts == outcome.ts  # in place
    assert await stored_rating(baton, instance_id) == (4, None)

    assert (await driver.click_button_in(rated, ALICE, "request_rating_comment")).status == 200
    modal = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1], what="the comment modal")
    assert modal["callback_id"] == "rating_comment"
    values = {"comment": {"value": plain_text_value("Quick, <b>thanks</b>!")}}
    submitted = await driver.submit_view(ALICE, modal, values)
    assert submitted.status == 200 and "errors" not in submitted.body, submitted.body
    commented = await updated(slack, outcome, "Quick, &lt;b&gt;thanks&lt;/b&gt;!")
    assert "Edit your comment…" in text_of(commented)

    current = slack.message(outcome.channel, outcome.ts)
    assert current is not None
    assert (await driver.click_button_in(current, ALICE, "request_rate_5")).status == 200  # a second rating
    await updated(slack, outcome, "You rated this *5 of 5*")
    assert await stored_rating(baton, instance_id) == (5, "Quick, <b>thanks</b>!")  # replaces, keeps the comment


async def test_someone_elses_click_is_refused_privately_and_changes_nothing(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    outcome = await approved_expense(driver, slack)
    instance_id = int(find_action(outcome.blocks, "request_rate_1")[1]["value"])  # type: ignore[index]
    # Bob replays Alice's button: in her DM, and again as if from his own with her request's number.
    assert (await driver.click_button_in(outcome, BOB, "request_rate_1")).status == 200
    answer = await driver.click(BOB, action_id="request_rate_1", value=str(instance_id), channel_id="C0GENERAL")
    assert answer.status == 200
    await slack.wait_for(
        lambda: [e for e in slack.ephemerals(BOB) if "Only the person who made this request can rate it." in e.text]
        or None,
        what="Bob's ephemeral refusal",
    )
    comment = await driver.click(
        BOB, action_id="request_rating_comment", value=str(instance_id), channel_id="C0GENERAL"
    )
    assert comment.status == 200
    await asyncio.sleep(0.3)
    assert slack.open_views(BOB) == []
    assert await stored_rating(baton, instance_id) is None
    current = slack.message(outcome.channel, outcome.ts)
    assert current is not None and not current.updates and "You rated" not in text_of(current)
    async with baton.store.transaction(read_only=True) as work:
        refused = [e for e in await work.audit_trail(instance_id) if e.kind == "action_refused"]
    assert len(refused) >= 2 and all(entry.actor == BOB for entry in refused)


async def test_the_rating_shows_in_the_report_and_the_export(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    outcome = await approved_expense(driver, slack)
    assert (await driver.click_button_in(outcome, ALICE, "request_rate_2")).status == 200
    rated = await updated(slack, outcome, "You rated this *2 of 5*")
    assert (await driver.click_button_in(rated, ALICE, "request_rating_comment")).status == 200
    modal = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1], what="the comment modal")
    await driver.submit_view(ALICE, modal, {"comment": {"value": plain_text_value("Took three reminders")}})
    await updated(slack, outcome, "Took three reminders")

    assert (await driver.send_command(FIONA, "report expense-approval 30d")).status == 200
    summary = text_of(await dm_containing(slack, FIONA, "Report: Expense approval"))
    assert "Satisfaction *2.0 of 5* over 1 rating (1★ 0 · 2★ 1 · 3★ 0 · 4★ 0 · 5★ 0)" in summary
    assert "no ratings in the period before" in summary
    assert "2★ #1: Took three reminders" in summary
    assert "Flow efficiency *100%*" in summary  # the approval was open from start to finish

    assert (await driver.send_command(ADMIN, "export expense-approval 30d")).status == 200

    def csv_files() -> list[Any] | None:
        found = [f for f in slack.files if f.filename.endswith(".csv")]
        return found if len(found) == 2 else None

    files = await slack.wait_for(csv_files, what="the two CSV files")
    by_name = {f.filename.rsplit("-", 1)[-1]: (f.content or b"").decode() for f in files}
    instances, events = read_csv(by_name["instances.csv"]), read_csv(by_name["events.csv"])
    assert [(row["satisfaction"], row["satisfaction_comment"]) for row in instances] == [("2", "Took three reminders")]
    assert [row["kind"] for row in events].count("request_rated") == 2  # the score, then its comment


async def test_a_workflow_with_satisfaction_off_sends_no_buttons_and_refuses_a_forged_click(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_with_form(driver, slack, ALICE, "quiet", item="a chair")
    task = await task_message(slack, MARIA, "task_approve", containing="a chair")
    assert (await driver.click_button_in(task, MARIA, "task_approve")).status == 200
    outcome = await dm_containing(slack, ALICE, "Quiet request #1* was *completed*")
    assert "request_rate" not in text_of(outcome) and "How did this go" not in text_of(outcome)
    assert (await driver.click(ALICE, action_id="request_rate_5", value="1", message=outcome)).status == 200
    await slack.wait_for(
        lambda: [e for e in slack.ephemerals(ALICE) if "does not ask for ratings" in e.text] or None,
        what="Alice told the workflow takes no ratings",
    )
    assert await stored_rating(baton, 1) is None


async def test_a_cancelled_request_is_not_offered_a_rating_and_a_rejected_one_is(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await start_expense(driver, slack, ALICE, 80, "Team lunch")
    assert (await driver.send_command(ALICE, "cancel 1 not needed")).status == 200
    cancelled = await dm_containing(slack, ALICE, "was *cancelled*")
    assert "request_rate" not in text_of(cancelled)
    await start_expense(driver, slack, BOB, 90, "Train ticket")
    task = await task_message(slack, MARIA, "task_reject", containing="Train ticket")
    assert (await driver.click_button_in(task, MARIA, "task_reject")).status == 200
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1], what="the reject modal")
    await driver.submit_view(MARIA, modal, {"comment": {"value": plain_text_value("Use the travel budget")}})
    rejected = await task_message(slack, BOB, "request_rate_1", containing="was *rejected*")
    assert (await driver.click_button_in(rejected, BOB, "request_rate_1")).status == 200
    await updated(slack, rejected, "You rated this *1 of 5*")


def test_satisfaction_must_be_true_or_false_and_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = QUIET.replace("satisfaction: false", "satisfaction: sometimes")
    catalog = load_catalog(copy_workflows(tmp_path / "workflows", quiet=bad))
    problems = [str(error) for error in catalog.errors]
    assert any("quiet.yaml:5: satisfaction:" in problem for problem in problems), problems
    org = tmp_path / "workflows" / "org.yaml"
    org.write_text(org.read_text().replace("\ngroups:\n", "\ncost_per_hour: {finanse: 90}\ngroups:\n", 1))
    problems = [str(error) for error in load_catalog(tmp_path / "workflows").errors]
    assert any("org.yaml:" in p and "cost_per_hour" in p and "finanse" in p for p in problems), problems


# ---- the engine's rule, table-driven ---------------------------------------------------------------


def _finished(status: str, *, rated: int | None = None) -> Instance:
    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    rating = Rating(score=rated, comment="kept", at=now) if rated else None
    return Instance(
        id=7, workflow="quiet", definition_version="v", title="Quiet request #7", requester=ALICE, form={},
        status=InstanceStatus(status), created_at=now, updated_at=now, finished_at=now, rating=rating,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "actor", "score", "satisfaction", "refused"),
    [
        ("completed", ALICE, 4, True, None),
        ("rejected", ALICE, 1, True, None),
        ("completed", BOB, 4, True, RefusalReason.NOT_REQUESTER_TO_RATE),
        ("completed", ADMIN, 4, True, RefusalReason.NOT_REQUESTER_TO_RATE),  # admins neither
        ("cancelled", ALICE, 4, True, RefusalReason.NOT_RATEABLE),
        ("failed", ALICE, 4, True, RefusalReason.NOT_RATEABLE),
        ("running", ALICE, 4, True, RefusalReason.NOT_RATEABLE),
        ("completed", ALICE, 4, False, RefusalReason.NO_RATINGS_HERE),
        ("completed", ALICE, 0, True, RefusalReason.UNKNOWN_SCORE),
        ("completed", ALICE, 6, True, RefusalReason.UNKNOWN_SCORE),
    ],
)
def test_only_the_requester_rates_a_completed_or_rejected_request_from_1_to_5(
    tmp_path: Path, status: str, actor: str, score: int, satisfaction: bool, refused: RefusalReason | None
) -> None:
    text = QUIET if not satisfaction else QUIET.replace("satisfaction: false", "satisfaction: true")
    definition = load_catalog(copy_workflows(tmp_path / "workflows", quiet=text)).workflows["quiet"]
    now = datetime(2026, 11, 3, tzinfo=UTC)
    outcome = rate(definition, _finished(status), RateRequest(actor, score), now)
    if refused is None:
        assert isinstance(outcome, Transition)
        assert outcome.instance.rating == Rating(score=score, comment=None, at=now)
        assert [(e.kind, e.actor, e.data) for e in outcome.events] == [
            ("request_rated", ALICE, {"score": score, "comment": None})
        ]
    else:
        assert isinstance(outcome, Refusal) and outcome.why.reason is refused
        assert outcome.event.kind == "action_refused"


def test_a_second_rating_replaces_the_first_and_keeps_its_comment_and_a_comment_needs_a_rating(
    tmp_path: Path,
) -> None:
    text = QUIET.replace("satisfaction: false", "satisfaction: true")
    definition = load_catalog(copy_workflows(tmp_path / "workflows", quiet=text)).workflows["quiet"]
    now = datetime(2026, 11, 3, tzinfo=UTC)
    again = rate(definition, _finished("completed", rated=2), RateRequest(ALICE, 5), now)
    assert isinstance(again, Transition) and again.instance.rating == Rating(score=5, comment="kept", at=now)
    assert again.events[0].data == {"score": 5, "comment": "kept", "replaces": 2}
    early = comment_rating(definition, _finished("completed"), RatingComment(ALICE, "hi"), now)
    assert isinstance(early, Refusal) and early.why.reason is RefusalReason.RATE_FIRST
    cleared = comment_rating(definition, _finished("completed", rated=3), RatingComment(ALICE, "  "), now)
    assert isinstance(cleared, Transition) and cleared.instance.rating == Rating(score=3, comment=None, at=now)


async def test_the_status_view_does_not_show_the_rating_to_the_approvers(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    outcome = await approved_expense(driver, slack)
    assert (await driver.click_button_in(outcome, ALICE, "request_rate_1")).status == 200
    rated = await updated(slack, outcome, "You rated this *1 of 5*")
    assert (await driver.click_button_in(rated, ALICE, "request_rating_comment")).status == 200
    modal = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1], what="the comment modal")
    await driver.submit_view(ALICE, modal, {"comment": {"value": plain_text_value("Maria took ages")}})
    await updated(slack, outcome, "Maria took ages")
    answer = await driver.send_command(MARIA, "status 1")
    assert answer.status == 200
    shown = answer.body + "".join(e.text + str(e.blocks) for e in slack.ephemerals(MARIA))
    assert "approved" in shown and "Maria took ages" not in shown and "rated" not in shown
