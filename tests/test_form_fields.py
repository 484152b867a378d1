"""The richer form fields end to end: a real modal, a real view_submission, conditions that route on the values,
files attached to an expense and seen by its approvers, in the status, the history and the export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator, validate_view
from bot.reporting.audit_export import read_csv
from bot.store import AuditEntry

from .conftest import ADMIN
from .story import (
    choose_in,
    copy_workflows,
    dm_containing,
    field_values,
    start_with_form,
    task_message,
    text_of,
    updated,
)

ALICE, BOB, MARIA, FIONA, FRANK = "U0ALICE", "U0BOB", "U0MARIA", "U0FIONA", "U0FRANK"
DIRK, HANNA, IVAN, SUSI, SAM = "U0DIRK", "U0HANNA", "U0IVAN", "U0SUSI", "U0SAM"
CHRISTMAS_EVE = int(datetime(2026, 12, 24, 15, 0, tzinfo=UTC).timestamp())

EQUIPMENT = """
name: equipment
title: Equipment
form:
  - id: categories
    label: Categories
    type: multi_select
    max_selected: 2
    options: [{value: hardware, label: Hardware}, {value: software, label: Software}, {value: network, label: Network}]
  - {id: watchers, label: Watchers, type: multi_user, max_selected: 3, required: false}
  - id: extras
    label: Extras
    type: checkboxes
    required: false
    max_selected: 2
    options: [{value: monitor, label: A second monitor}, {value: dock, label: Dock}, {value: bag, label: Bag}]
  - id: priority
    label: Priority
    type: radio
    options: [{value: low, label: Low}, {value: high, label: High}]
  - {id: needed_by, label: Needed by, type: datetime}
  - {id: contact, label: Contact, type: email}
  - {id: link, label: Product page, type: url}
  - {id: details, label: Details, type: rich_text, min_length: 5}
steps:
  - parallel:
      - {id: hardware, title: "Hardware: {form.categories}", assignee: U0IVAN, when: "'hardware' in form.categories"}
      - {id: software, title: "Software: {form.categories}", assignee: U0IVAN, when: "'software' in form.categories"}
      - {id: watched, title: "Watched by {form.watchers}", assignee: U0BOB, when: "'U0BOB' in form.watchers"}
      - {id: monitor, title: "Monitor: {form.extras}", assignee: U0SAM, when: "'monitor' in form.extras"}
      - id: urgent
        title: "Urgent, needed by {form.needed_by}"
        assignee: U0HANNA
        when: "form.priority == 'high' and form.needed_by < '2027-01-01T00:00:00Z'"
      - {id: vendor, title: "Ask {form.contact}", assignee: U0FIONA, when: "'@example.com' in form.contact"}
      - {id: shop, title: "Order from {form.link}", assignee: U0FRANK, when: "'shop.example.com' in form.link"}
      - {id: ergonomics, title: "Ergonomics: {form.details}", assignee: U0DIRK, when: "'ergonomic' in form.details"}
"""
STEPS = {"hardware", "software", "watched", "monitor", "urgent", "vendor", "shop", "ergonomics"}


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    return copy_workflows(tmp_path / "workflows", equipment=EQUIPMENT)


async def trail_of(baton: Baton, instance_id: int) -> list[AuditEntry]:
    async with baton.store.transaction() as work:
        return await work.audit_trail(instance_id)


async def skipped_steps(baton: Baton, instance_id: int) -> set[str]:
    return {str(entry.data.get("step")) for entry in await trail_of(baton, instance_id) if entry.kind == "step_skipped"}


async def open_form(driver: SlackDriver, slack: SlackEmulator, user: str, workflow: str) -> dict[str, Any]:
    assert (await driver.send_command(user, f"start {workflow}")).status == 200
    view: dict[str, Any] = await slack.wait_for(lambda: (slack.open_views(user) or [None])[-1], what="the form")
    return view


def elements_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"].removeprefix("field:"): b["element"] for b in view["blocks"] if b["type"] == "input"}


def equipment_values(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "categories": ("multi_select", ["network", "hardware"]),
        "watchers": ("multi_user", [BOB, MARIA]),
        "extras": ("checkboxes", ["monitor"]),
        "priority": ("radio", "high"),
        "needed_by": ("datetime", CHRISTMAS_EVE),
        "contact": ("email", "alice@example.com"),
        "link": ("url", "https://shop.example.com/chairs?id=7&colour=red"),
        "details": ("rich_text", "An ergonomic chair, please"),
    }
    return values | changes


async def test_each_new_field_type_is_asked_with_its_slack_element_and_routes_its_request(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    form = await open_form(driver, slack, ALICE, "equipment")
    assert validate_view(form) == []  # the emulator checks the view as views.open does, and accepted it
    kinds = {field: element["type"] for field, element in elements_of(form).items()}
    assert kinds == {
        "categories": "multi_static_select", "watchers": "multi_users_select", "extras": "checkboxes",
        "priority": "radio_buttons", "needed_by": "datetimepicker", "contact": "email_text_input",
        "link": "url_text_input", "details": "rich_text_input",
    }  # fmt: skip
    assert elements_of(form)["categories"]["max_selected_items"] == 2
    submitted = await driver.submit_view(ALICE, form, field_values(**equipment_values()))
    assert submitted.status == 200 and "errors" not in submitted.body, submitted.body

    hardware = await task_message(slack, IVAN, "task_complete", containing="Hardware: Hardware, Network")
    watched = await task_message(slack, BOB, "task_complete", containing=f"Watched by <@{BOB}>, <@{MARIA}>")
    await task_message(slack, SAM, "task_complete", containing="Monitor: A second monitor")
    await task_message(slack, HANNA, "task_complete", containing="Urgent, needed by 2026-12-24 15:00 UTC")
    await task_message(slack, FIONA, "task_complete", containing="Ask alice@example.com")
    await task_message(slack, FRANK, "task_complete", containing="Order from https://shop.example.com/chairs?id=7&amp;")
    await task_message(slack, DIRK, "task_complete", containing="Ergonomics: An ergonomic chair, please")
    assert await skipped_steps(baton, 1) == {"software"}
    shown = text_of(watched)  # the form in every task DM: people as mentions, the time in the reader's zone
    assert f"*Watchers*\\n<@{BOB}>, <@{MARIA}>" in shown and f"<!date^{CHRISTMAS_EVE}^" in shown
    assert "*Categories*\\nHardware, Network" in text_of(hardware)  # in the form's order, whatever the click order
    async with baton.store.transaction() as work:
        stored = await work.instance(1)
    assert stored is not None and stored.form["categories"] == ["hardware", "network"]
    assert stored.form["watchers"] == [BOB, MARIA] and stored.form["needed_by"] == "2026-12-24T15:00:00Z"

    other = equipment_values(
        categories=("multi_select", ["software"]), watchers=("multi_user", []), extras=("checkboxes", []),
        priority=("radio", "low"), contact=("email", "bob@other.org"), link=("url", "https://other.example.net/x"),
        details=("rich_text", "A plain chair"),
    )  # fmt: skip
    await start_with_form(driver, slack, ALICE, "equipment", **other)
    await task_message(slack, IVAN, "task_complete", containing="Software: Software")
    assert await skipped_steps(baton, 2) == STEPS - {"software"}


async def test_bad_values_are_refused_next_to_their_fields_and_nothing_starts(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    form = await open_form(driver, slack, ALICE, "equipment")
    bad = equipment_values(
        categories=("multi_select", ["hardware", "software", "network"]),
        watchers=("multi_user", [BOB, MARIA, DIRK, HANNA]),
        extras=("checkboxes", ["monitor", "dock", "bag"]),
        priority=("radio", "urgent"),
        needed_by=("datetime", None),
        contact=("email", "alice at example"),
        link=("url", "javascript:alert(1)"),
        details=("rich_text", "hi"),
    )
    answer = await driver.submit_view(ALICE, form, field_values(**bad))
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert body["errors"] == {
        "field:categories": "Pick at most 2 options.",
        "field:watchers": "Pick at most 3 people.",
        "field:extras": "Pick at most 2 options.",
        "field:priority": "Pick one of the options.",
        "field:needed_by": "This field is required.",
        "field:contact": "Enter an email address, such as name@example.com.",
        "field:link": "Enter a web address, such as https://example.com/page.",
        "field:details": "Write at least 5 characters.",
    }
    assert slack.view_errors(form["id"]) == body["errors"]  # the modal stays open and shows them
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


async def test_a_receipt_reaches_both_approvers_the_status_the_history_and_the_export_as_links(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    form = await open_form(driver, slack, ALICE, "expense-approval")
    receipt_input = elements_of(form)["receipt"]
    assert receipt_input == {"type": "file_input", "action_id": "value", "max_files": 3,
                             "filetypes": ["pdf", "png", "jpg", "jpeg"]}  # fmt: skip
    receipt = slack.attach_file(ALICE, "receipt.pdf")
    photo = slack.attach_file(ALICE, "taxi photo.png", b"\x89PNG")
    values = field_values(amount=1500, currency=("select", "EUR"), reason="Taxi to the airport",
                          receipt=("files", [receipt, photo]))  # fmt: skip
    submitted = await driver.submit_view(ALICE, form, values)
    assert submitted.status == 200 and "errors" not in submitted.body, submitted.body
    links = [f"<{receipt['permalink']}|receipt.pdf>", f"<{photo['permalink']}|taxi photo.png>"]

    manager = await task_message(slack, MARIA, "task_approve")
    assert ", ".join(links) in text_of(manager)
    await driver.click_button_in(manager, MARIA, "task_approve")
    finance = await task_message(slack, FIONA, "task_approve", containing="Finance check")
    assert ", ".join(links) in text_of(finance)
    assert ", ".join(links) in text_of(await task_message(slack, FRANK, "task_approve", containing="Finance check"))

    status = json.dumps((await driver.send_command(ALICE, "status 1")).json(), ensure_ascii=False)
    assert status.count(links[0]) == 2  # in the form and in the history
    assert "requested it · attached " + ", ".join(links) in status

    await driver.click_button_in(finance, FIONA, "task_approve")
    await dm_containing(slack, ALICE, "was *completed*")
    assert (await driver.send_command(ADMIN, "export expense-approval 12w")).status == 200
    csvs = await slack.wait_for(
        lambda: found if len(found := [f for f in slack.files if f.filename.endswith(".csv")]) == 2 else None
    )
    by_name = {f.filename.rsplit("-", 1)[-1]: (f.content or b"").decode() for f in csvs}
    [row] = read_csv(by_name["instances.csv"])
    attached = [{"id": f["id"], "name": f["name"], "permalink": f["permalink"]} for f in (receipt, photo)]
    assert json.loads(row["form"])["receipt"] == attached
    started = next(r for r in read_csv(by_name["events.csv"]) if r["kind"] == "instance_started")
    assert json.loads(started["data"])["files"] == attached


_REVISIONS_SEEN: set[str] = set()  # the revision DMs Alice already answered, in this test module's one story


async def send_back(driver: SlackDriver, slack: SlackEmulator, approval_ts: str) -> dict[str, Any]:
    """Maria asks for changes on her approval `approval_ts`; Alice opens the form again; return that form."""
    approval = next(m for m in slack.dm_messages(MARIA) if m.ts == approval_ts)
    await choose_in(driver, approval, MARIA, "task_more", "request_changes")
    note = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1])
    comment = {"comment": {"value": {"type": "plain_text_input", "value": "Which receipt?"}}}
    assert (await driver.submit_view(MARIA, note, comment)).status == 200
    await updated(slack, approval, "Changes requested")
    revision = await slack.wait_for(
        lambda: next((m for m in reversed(slack.dm_messages(ALICE))
                      if "request_edit" in text_of(m) and m.ts not in _REVISIONS_SEEN), None)
    )  # fmt: skip
    _REVISIONS_SEEN.add(revision.ts)
    await driver.click_button_in(revision, ALICE, "request_edit")
    form: dict[str, Any] = await slack.wait_for(lambda: (slack.open_views(ALICE) or [None])[-1])
    return form


async def newest_approval(slack: SlackEmulator, after: set[str]) -> Any:
    return await slack.wait_for(
        lambda: next((m for m in reversed(slack.dm_messages(MARIA))
                      if "task_approve" in text_of(m) and m.ts not in after), None),
        what="Maria's next approval",
    )  # fmt: skip


async def test_a_resubmission_replaces_the_receipt_or_keeps_it_when_left_empty(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    first_receipt = slack.attach_file(ALICE, "receipt.pdf")
    first_link = f"<{first_receipt['permalink']}|receipt.pdf>"
    await start_with_form(driver, slack, ALICE, "expense-approval", amount=80, currency=("select", "EUR"),
                          reason="Client lunch", receipt=("files", [first_receipt]))  # fmt: skip
    lunch = {"amount": 80, "currency": ("select", "EUR"), "reason": "Client lunch"}
    seen: set[str] = set()
    approval = await newest_approval(slack, seen)
    assert first_link in text_of(approval)

    seen.add(approval.ts)
    form = await send_back(driver, slack, approval.ts)
    receipt_block = next(b for b in form["blocks"] if b.get("block_id") == "field:receipt")
    assert receipt_block["optional"] is True and "Attached: receipt.pdf" in receipt_block["hint"]["text"]
    assert (await driver.submit_view(ALICE, form, field_values(**lunch, receipt=("files", [])))).status == 200
    kept = await newest_approval(slack, seen)
    assert first_link in text_of(kept)  # left empty: the receipt stays

    seen.add(kept.ts)
    better = slack.attach_file(ALICE, "better receipt.jpg", b"\xff\xd8")
    form = await send_back(driver, slack, kept.ts)
    answer = await driver.submit_view(ALICE, form, field_values(**lunch, receipt=("files", [better])))
    assert answer.status == 200 and "errors" not in answer.body, answer.body
    replaced = await newest_approval(slack, seen)
    summary, _, changes = text_of(replaced).partition("Changed in round")
    assert f"<{better['permalink']}|better receipt.jpg>" in summary and first_receipt["permalink"] not in summary
    assert f"~{first_link}~ → <{better['permalink']}|better receipt.jpg>" in changes
    async with baton.store.transaction() as work:
        stored = await work.instance(1)
    assert stored is not None and stored.form["receipt"] == [
        {"id": better["id"], "name": "better receipt.jpg", "permalink": better["permalink"]}
    ]
    resubmitted = [e for e in await trail_of(baton, 1) if e.kind == "form_resubmitted"]
    assert "files" not in resubmitted[0].data and resubmitted[1].data["files"][0]["name"] == "better receipt.jpg"


async def test_a_file_of_the_wrong_type_or_too_many_files_are_refused_in_the_modal(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    form = await open_form(driver, slack, ALICE, "expense-approval")
    for files, error in (
        ([slack.attach_file(ALICE, "receipt.exe", b"MZ")], "receipt.exe is not one of: pdf, png, jpg, jpeg."),
        ([slack.attach_file(ALICE, f"r{n}.pdf") for n in range(4)], "Attach at most 3 files (these are 4)."),
    ):
        values = field_values(amount=10, currency=("select", "EUR"), reason="Stamps for the office",
                              receipt=("files", files))  # fmt: skip
        answer = await driver.submit_view(ALICE, form, values)
        assert answer.json() == {"response_action": "errors", "errors": {"field:receipt": error}}
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None
