"""The first hour of a new user: what `status` and `check` say, in plain words, with nothing left as a template."""

from __future__ import annotations

from pathlib import Path

from bot.app import Baton
from bot.catalog import format_report, load_catalog
from bot.emulator import SlackDriver
from bot.service import Started

from .story import copy_workflows

ALICE, MARIA = "U0ALICE", "U0MARIA"

MISSPELT = """
name: misspelt
title: Misspelt
form:
  - {id: amount, label: Amount, type: number}
steps:
  - id: first
    type: aproval
    title: "Approve {form.amout}"
    assignee: requester.manager
  - id: second
    type: approval
    title: "Check {form.amount}"
    assignee: requester.manger
    when: form.amout > 3
"""


async def test_the_status_of_a_rejected_request_fills_steps_never_reached_and_tells_its_history_plainly(
    driver: SlackDriver, baton: Baton
) -> None:
    started = await baton.service.start(
        "expense-approval", ALICE, {"amount": 2500, "currency": "EUR", "reason": "conference tickets"}
    )
    assert isinstance(started, Started), started
    await baton.service.act(started.instance.open_tasks()[0].id, MARIA, "reject", "not this year")
    status = (await driver.send_command(ALICE, f"status {started.instance.id}")).body
    assert r"Finance check: 2500 EUR for <@U0ALICE> \u2014 not reached" in status
    assert "{form." not in status and "{requester}" not in status
    assert "requested it" in status and "request rejected" in status
    assert "instance " not in status


def test_check_reports_field_and_reference_errors_in_one_pass_with_suggestions_for_values(tmp_path: Path) -> None:
    catalog = load_catalog(copy_workflows(tmp_path / "workflows", misspelt=MISSPELT))
    report = format_report(catalog)
    assert "steps[0].type: Input should be 'task', 'approval', 'notify' or 'wait' (did you mean 'approval'?)" in report
    assert "'requester.manger' does not name anyone (did you mean 'requester.manager'?)" in report
    assert "{form.amout} refers to a form field the form does not have (did you mean '{form.amount}'?)" in report
    assert "condition uses form.amout, which the form does not have (did you mean 'form.amount'?)" in report
    assert report.splitlines()[-1] == "7 workflows loaded, 4 errors"
