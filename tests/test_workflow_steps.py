"""Baton's Workflow Builder steps end to end: signed function_executed events in, functions.complete* out."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.faults import SlackError
from bot.emulator.methods.functions import FunctionExecution

from .conftest import ADMIN, PROJECT, SIGNING_SECRET, WORKFLOWS, running_baton
from .processes import BatonProcess
from .story import (
    ALWAYS_OPEN,
    commits_of_clicks,
    copy_workflows,
    dm_containing,
    task_message,
    text_of,
    while_the_store_is_busy,
)

ALICE, MARIA, DIRK = "U0ALICE", "U0MARIA", "U0DIRK"


@pytest.fixture(autouse=True)
def baton_steps(slack: SlackEmulator) -> None:
    """The emulated Slack knows Baton's steps as manifest.yml declares them (and checks outputs against them)."""
    slack.define_functions(yaml.safe_load((PROJECT / "manifest.yml").read_text())["functions"])


def approval_inputs(**changes: Any) -> dict[str, Any]:
    return {
        "requester": ALICE,
        "approvers": [MARIA],
        "title": "A new laptop for Alice",
        "details": "The old one is from 2019",
        "due": int(time.time()) + 2 * 86400,
    } | changes


async def finished(slack: SlackEmulator, execution_id: str, *, timeout: float = 10.0) -> FunctionExecution:
    """Wait until Slack's execution is no longer running (completed or failed)."""
    execution = slack.function_execution(execution_id)
    return await slack.wait_for(lambda: execution if execution.state != "running" else None, timeout,
                                what=f"execution {execution_id} completed")


async def trail(driver_baton: Any, instance_id: int) -> list[str]:
    async with driver_baton.store.transaction(read_only=True) as work:
        return [entry.kind for entry in await work.audit_trail(instance_id)]


async def test_an_approval_step_waits_through_a_restart_and_completes_with_the_decision(
    tmp_path: Path, slack: SlackEmulator, database_url: str
) -> None:
    async with running_baton(tmp_path, slack, database_url=database_url) as (_baton, driver):
        answer, execution_id = await driver.run_step("request_approval", approval_inputs())
        assert answer.status == 200
        approval = await task_message(slack, MARIA, "task_approve", containing="A new laptop for Alice")
    assert slack.function_execution(execution_id).state == "running"  # the step waits for Maria, not for Baton
    assert not slack.calls_to("functions.completeSuccess")

    async with running_baton(tmp_path, slack, database_url=database_url) as (baton, driver):  # the same database
        await driver.click_button_in(approval, MARIA, "task_approve")
        execution = await finished(slack, execution_id)
        assert execution.state == "completed"
        assert execution.outputs is not None
        decided_at = execution.outputs.pop("decided_at")
        assert execution.outputs == {"decision": "approved", "decided_by": MARIA, "request_id": 1}
        assert abs(decided_at - time.time()) < 60
        assert "instance_completed" in await trail(baton, 1)
    assert [call.response.get("ok") for call in slack.calls_to("functions.completeSuccess")] == [True]


async def test_steps_decided_at_the_same_moment_each_complete_their_own_execution(
    tmp_path: Path, slack: SlackEmulator, database_url: str
) -> None:
    """Clicks committed together (group commit) still complete each request's own Workflow Builder step."""
    approvers = [MARIA, DIRK, "U0BOB", "U0HANNA"]
    async with running_baton(tmp_path, slack, database_url=database_url) as (baton, driver):
        executions = []
        for person in approvers:
            answer, execution_id = await driver.run_step(
                "request_approval", approval_inputs(approvers=[person], title=f"A new laptop, asked of {person}")
            )
            assert answer.status == 200
            executions.append(execution_id)
        dms = [await task_message(slack, person, "task_approve", containing="A new laptop") for person in approvers]
        clicks = [driver.click_button_in(dm, person, "task_approve") for dm, person in zip(dms, approvers, strict=True)]
        async with baton.store.transaction(read_only=True) as work:
            requests = [instance.id for instance in await work.instances_requested_by(ALICE)]
        assert len(requests) == len(approvers)
        before = commits_of_clicks(baton)[0]
        answers = await while_the_store_is_busy(baton, requests, clicks)
        assert [answer.status for answer in answers] == [200] * len(approvers)
        assert commits_of_clicks(baton)[0] - before <= baton.store.writers_at_once + 1  # some committed together
        for person, execution_id in zip(approvers, executions, strict=True):
            execution = await finished(slack, execution_id)
            assert execution.state == "completed" and execution.outputs is not None
            assert (execution.outputs["decision"], execution.outputs["decided_by"]) == ("approved", person)


async def test_a_rejected_approval_completes_the_step_with_the_rejection_and_its_reason(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs(approvers=[DIRK, MARIA],
                                                                                          rule="all"))
        copy = await task_message(slack, MARIA, "task_reject")
        status = await driver.send_command(ALICE, "status 1")  # an ordinary request for the requester too
        assert "Workflow Builder #1" in status.body and "A new laptop for Alice" in status.body
        await driver.click_button_in(copy, MARIA, "task_reject")
        modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1])
        await driver.submit_view(MARIA, modal, {"comment": {"value": {"type": "plain_text_input",
                                                                      "value": "Not this quarter"}}})
        execution = await finished(slack, execution_id)
    assert execution.state == "completed" and execution.outputs is not None
    assert execution.outputs["decision"] == "rejected"
    assert execution.outputs["decided_by"] == MARIA
    assert execution.outputs["comment"] == "Not this quarter"


async def test_a_completion_slack_refuses_at_first_is_retried_by_the_outbox(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack, slack_retry_max_seconds=0.3) as (_baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs())
        approval = await task_message(slack, MARIA, "task_approve")
        slack.inject("functions.completeSuccess", SlackError("internal_error"), times=2)
        await driver.click_button_in(approval, MARIA, "task_approve")
        execution = await finished(slack, execution_id, timeout=20)
    assert execution.state == "completed"
    answers = [call.response.get("error", "ok") for call in slack.calls_to("functions.completeSuccess")]
    assert answers == ["internal_error", "internal_error", "ok"]


async def test_a_step_naming_an_unknown_workflow_fails_in_workflow_builder_with_the_workflows_there_are(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        answer, execution_id = await driver.run_step("start_workflow", {"workflow": "expenses", "requester": ALICE})
        assert answer.status == 200
        execution = await finished(slack, execution_id)
    assert execution.state == "failed" and execution.error is not None
    assert "no Baton workflow called `expenses`" in execution.error
    assert "expense-approval" in execution.error  # what the author may have meant is listed


async def test_a_started_workflow_completes_the_step_with_its_request_outcome_and_form(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    form = {"amount": 42, "currency": "EUR", "reason": "Team lunch in Lyon"}
    async with running_baton(tmp_path, slack) as (_baton, driver):
        inputs = {"workflow": "expense-approval", "requester": ALICE, "form_values": json.dumps(form)}
        _answer, execution_id = await driver.run_step("start_workflow", inputs)
        approval = await task_message(slack, MARIA, "task_approve", containing="Team lunch")
        await driver.click_button_in(approval, MARIA, "task_approve")
        execution = await finished(slack, execution_id)
    assert execution.state == "completed" and execution.outputs is not None
    assert execution.outputs["request_id"] == 1 and execution.outputs["outcome"] == "completed"
    assert json.loads(execution.outputs["form_values"]) == form | {"receipt": None, "receipt_url": None}


async def test_form_values_a_workflow_refuses_fail_the_step_with_the_field_and_why(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        inputs = {"workflow": "expense-approval", "requester": ALICE, "form_values": '{"amount": -3}'}
        _answer, execution_id = await driver.run_step("start_workflow", inputs)
        execution = await finished(slack, execution_id)
    assert execution.state == "failed" and execution.error is not None
    assert "amount: The smallest allowed value is 0.01" in execution.error


async def test_slack_sending_an_execution_again_starts_one_request(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        event = slack.execute_function("request_approval", approval_inputs())
        assert (await driver.send_event(event)).status == 200
        assert (await driver.send_event(event)).status == 200  # a new event_id, the same execution
        await task_message(slack, MARIA, "task_approve")
        async with baton.store.transaction(read_only=True) as work:
            assert await work.instance(2) is None


async def test_a_request_cancelled_before_anyone_decided_fails_the_step_saying_so(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs())
        await task_message(slack, MARIA, "task_approve")
        await driver.send_command(ALICE, "cancel 1 plans changed")
        execution = await finished(slack, execution_id)
    assert execution.state == "failed" and execution.error is not None
    assert "was cancelled by <@U0ALICE> before anyone decided" in execution.error


async def test_an_approval_for_a_user_group_goes_to_its_members(tmp_path: Path, slack: SlackEmulator) -> None:
    slack.add_usergroup("S0BOARD", "board", [DIRK, MARIA])
    async with running_baton(tmp_path, slack) as (_baton, driver):
        inputs = approval_inputs(approvers=[], approver_group="S0BOARD", rule="quorum", quorum=2)
        _answer, execution_id = await driver.run_step("request_approval", inputs)
        for person in (DIRK, MARIA):
            copy = await task_message(slack, person, "task_approve")
            await driver.click_button_in(copy, person, "task_approve")
        execution = await finished(slack, execution_id)
    assert execution.outputs is not None and execution.outputs["decision"] == "approved"


async def test_a_step_without_approvers_fails_with_what_to_fill_in(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs(approvers=[]))
        execution = await finished(slack, execution_id)
    assert execution.error is not None and "Name at least one approver" in execution.error


async def test_slack_refusing_a_completion_for_good_is_in_the_history_and_told_to_the_admins(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack) as (baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs())
        approval = await task_message(slack, MARIA, "task_approve")
        slack.inject("functions.completeSuccess", SlackError("function_execution_not_found"), times=1)
        await driver.click_button_in(approval, MARIA, "task_approve")
        alert = await dm_containing(slack, ADMIN, "function_execution_not_found")
        assert "could not complete the Workflow Builder step of request #1" in text_of(alert)
        assert "Workflow Builder run" in text_of(alert)  # what it means
        assert "delivery_failed" in await trail(baton, 1)
    assert slack.function_execution(execution_id).state == "running"  # Slack never heard back: as it answered


@pytest.mark.slow
async def test_sigkills_while_a_step_waits_and_while_its_completion_is_queued_change_nothing(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    process = BatonProcess(slack, tmp_path / "baton.db", WORKFLOWS, tmp_path / "baton.log",
                           slack_retry_max_seconds="0.3")
    try:
        await process.start()
        async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:
            answer, execution_id = await driver.run_step("request_approval", approval_inputs())
            assert answer.status == 200
        process.kill()  # right after the answer: the request and the execution were committed before it
        await process.start()
        approval = await task_message(slack, MARIA, "task_approve", timeout=15)
        slack.inject("functions.completeSuccess", SlackError("internal_error"), times=None)  # Slack has trouble
        async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:
            assert (await driver.click_button_in(approval, MARIA, "task_approve")).status == 200
        await slack.wait_for(lambda: slack.calls_to("functions.completeSuccess"), 15, what="a first try")
        process.kill()  # the completion is queued, not yet accepted by Slack
        slack.clear_faults()
        await process.start()
        execution = await finished(slack, execution_id, timeout=20)
        await asyncio.sleep(1.0)  # several sender passes later: still completed once
    finally:
        process.stop()
    assert execution.outputs is not None and execution.outputs["decision"] == "approved"
    answers = [call.response.get("error", "ok") for call in slack.calls_to("functions.completeSuccess")]
    assert answers.count("ok") == 1 and set(answers) == {"internal_error", "ok"}


async def test_an_admin_gets_the_report_of_workflow_builder_approvals(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        _answer, execution_id = await driver.run_step("request_approval", approval_inputs())
        approval = await task_message(slack, MARIA, "task_approve")
        await driver.click_button_in(approval, MARIA, "task_approve")
        await finished(slack, execution_id)
        answer = await driver.send_command(ADMIN, "report workflow-builder-approval 30d")
        assert "Preparing the report" in answer.body
        summary = await dm_containing(slack, ADMIN, "Report: Workflow Builder")
    assert "Started *1*" in text_of(summary) and "completed *1*" in text_of(summary)


QUICK_DEADLINE = yaml.safe_dump(  # the manager has two seconds; then the request is rejected
    {
        "name": "quick-deadline",
        "title": "Quick deadline",
        "form": [{"id": "item", "label": "Item"}],
        "steps": [
            {"id": "check", "type": "approval", "title": "Check {form.item}", "assignee": "requester.manager",
             "due": "2s", "on_timeout": "reject"},
        ],
    }
)


async def test_a_request_the_scheduler_ends_completes_its_step_too(tmp_path: Path, slack: SlackEmulator) -> None:
    workflows = copy_workflows(tmp_path / "workflows", **{"quick-deadline": QUICK_DEADLINE})
    org = yaml.safe_load((workflows / "org.yaml").read_text())
    (workflows / "org.yaml").write_text(yaml.safe_dump(org | {"calendar": ALWAYS_OPEN}))
    async with running_baton(tmp_path, slack, workflows_dir=workflows, scheduler_interval_seconds=0.2) as (
        _baton,
        driver,
    ):
        inputs = {"workflow": "quick-deadline", "requester": ALICE, "form_values": {"item": "a desk"}}
        _answer, execution_id = await driver.run_step("start_workflow", inputs)
        execution = await finished(slack, execution_id, timeout=15)  # nobody decides: the timeout rejects it
    assert execution.outputs is not None and execution.outputs["outcome"] == "rejected"
    assert json.loads(execution.outputs["form_values"]) == {"item": "a desk"}


async def test_a_step_baton_does_not_have_is_failed_not_left_waiting(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack) as (_baton, driver):
        _answer, execution_id = await driver.run_step("send_flowers", {"requester": ALICE})
        execution = await finished(slack, execution_id)
    assert execution.error == "Baton has no Workflow Builder step called `send_flowers`; update the workflow's steps."
