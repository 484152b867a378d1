"""Reports, exports and metrics end to end: slash commands through signed requests, files in the emulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import Baton
from bot.emulator import HttpError, SlackDriver, SlackEmulator
from bot.emulator.web_api import SlackError
from bot.reporting.audit_export import EVENT_COLUMNS, INSTANCE_COLUMNS, export_command, instances_csv, read_csv
from bot.service import Started
from bot.slack.outgoing import BlockKitRenderer
from bot.store import SQLiteStore
from bot.store.reporting import InstanceExport
from bot.workspace import Workspace

from .conftest import ADMIN
from .story import copy_workflows, dm_containing, start_expense, task_message, text_of, updated

ALICE, MARIA, FIONA = "U0ALICE", "U0MARIA", "U0FIONA"
BERLIN = ZoneInfo("Europe/Berlin")


def weekly_slot(moment: datetime) -> str:
    """A `weekly:` value that fell due one minute before `moment` (in the org calendar's zone)."""
    local = (moment - timedelta(minutes=1)).astimezone(BERLIN)
    return f"{('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')[local.weekday()]} {local:%H:%M}"


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    purchase = f"""
name: purchase
title: Purchase
owners: [U0FIONA]
report: {{channel: "#finance", weekly: "{weekly_slot(datetime.now(UTC))}"}}
form:
  - {{id: item, label: Item}}
steps:
  - {{id: manager_ok, type: approval, title: "Approve {{form.item}}", assignee: requester.manager}}
"""
    return copy_workflows(tmp_path / "workflows", purchase=purchase)


async def expense(baton: Baton, *, approve: bool = True) -> int:
    result = await baton.service.start(
        "expense-approval", ALICE, {"amount": 120, "currency": "EUR", "reason": "=HYPERLINK(evil) taxi"}
    )
    assert isinstance(result, Started), result
    task = result.instance.open_tasks()[0]
    if approve:
        await baton.service.act(task.id, MARIA, "approve")
    return result.instance.id


async def test_an_owner_gets_the_report_summary_and_a_chart_png_in_a_dm(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    await expense(baton)
    await expense(baton, approve=False)
    answer = await driver.send_command(FIONA, "report expense-approval 30d")
    assert answer.status == 200 and "Preparing the report (last 30 days)" in answer.body
    summary = await dm_containing(slack, FIONA, "Report: Expense approval")
    text = text_of(summary)
    assert "Started *2*" in text and "completed *1*" in text and "completion rate *100%*" in text
    assert "Bottleneck step: *manager_approval*" in text
    assert "Slowest queue: <@U0MARIA>" in text
    png = await slack.wait_for(lambda: next((f for f in slack.files if f.filename.endswith(".png")), None))
    assert png.content is not None and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.channels == (summary.channel,)
    assert [call.method for call in slack.calls_to("files.completeUploadExternal")] == ["files.completeUploadExternal"]


async def test_reports_are_refused_to_people_who_do_not_own_the_workflow(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    refused = await driver.send_command(ALICE, "report expense-approval")
    assert "Only the owners of *Expense approval*" in refused.body
    nothing_owned = await driver.send_command(ALICE, "export")
    assert "you own no workflow" in nothing_owned.body
    bad_period = await driver.send_command(FIONA, "report expense-approval 40x")
    assert "Usage: `/workflow report [workflow] [period]`" in bad_period.body
    await asyncio.sleep(0.2)
    assert slack.files == []


async def test_the_export_uploads_two_csv_files_that_round_trip_to_the_stored_rows(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    first, second = await expense(baton), await expense(baton, approve=False)
    answer = await driver.send_command(ADMIN, "export expense-approval 12w")
    assert answer.status == 200
    await dm_containing(slack, ADMIN, "2 requests")
    files = await slack.wait_for(lambda: slack.files if len(slack.files) == 2 else None)
    by_name = {f.filename.rsplit("-", 1)[-1]: (f.content or b"").decode() for f in files}
    instances, events = read_csv(by_name["instances.csv"]), read_csv(by_name["events.csv"])
    assert tuple(instances[0]) == INSTANCE_COLUMNS and tuple(events[0]) == EVENT_COLUMNS
    async with baton.store.transaction() as work:
        stored = [await work.instance(first), await work.instance(second)]
        trails = [*await work.audit_trail(first), *await work.audit_trail(second)]
    assert [int(row["id"]) for row in instances] == [first, second]
    for row, instance in zip(instances, stored, strict=True):
        assert instance is not None
        assert (row["workflow"], row["title"], row["requester"], row["status"]) == (
            instance.workflow, instance.title, instance.requester, instance.status.value,
        )  # fmt: skip
        assert datetime.fromisoformat(row["created_at"]) == instance.created_at
        assert (datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None) == instance.finished_at
        assert json.loads(row["form"]) == instance.form  # `=HYPERLINK(…)` came back as typed
    assert [(int(r["id"]), r["kind"], r["task_id"] or None, r["actor"] or None) for r in events] == [
        (entry.id, entry.kind, entry.task_id, entry.actor) for entry in trails
    ]
    assert [json.loads(r["data"]) for r in events] == [entry.data for entry in trails]
    assert [datetime.fromisoformat(r["at"]) for r in events] == [entry.at for entry in trails]


def test_a_form_value_that_looks_like_a_formula_is_kept_inert_in_the_file() -> None:
    row = InstanceExport(
        1, "w", "v", "=cmd|' /C calc'!A0", "U1", "running", datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC), None, None, "'quoted", {"a": 1},
    )  # fmt: skip
    text = instances_csv([row])
    cells = list(csv.reader(io.StringIO(text)))[1]
    assert cells[3].startswith("'=") and cells[10] == "''quoted"
    back = read_csv(text)[0]
    assert (back["title"], back["outcome_reason"]) == ("=cmd|' /C calc'!A0", "'quoted")


def test_the_command_line_writes_the_same_csv_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.catalog import load_catalog
    from bot.clock import SystemClock
    from bot.service import WorkflowService

    async def make_history() -> None:
        store = SQLiteStore(tmp_path / "cli.db")
        await store.open()
        try:
            catalog = load_catalog(copy_workflows(tmp_path / "wf"))
            workspace = Workspace(store, catalog, admins=(), clock=SystemClock())
            service = WorkflowService(workspace, renderer=BlockKitRenderer())
            for amount in (10, 20):
                form = {"amount": amount, "currency": "EUR", "reason": "A taxi ride"}
                assert isinstance(await service.start("expense-approval", ALICE, form), Started)
        finally:
            await store.close()

    asyncio.run(make_history())
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    out = tmp_path / "out"
    assert export_command(url, workflow="expense-approval", since="2020-01-01", out=out) == 0
    assert "2 requests" in capsys.readouterr().out
    rows = read_csv((out / "instances.csv").read_text())
    assert [json.loads(r["form"])["amount"] for r in rows] == [10, 20]
    assert len(read_csv((out / "events.csv").read_text())) >= 4
    assert export_command(url, workflow="nope", since=None, out=tmp_path / "none") == 0
    assert read_csv((tmp_path / "none" / "instances.csv").read_text()) == []
    assert export_command(url, workflow=None, since="yesterday", out=out) == 2
    assert export_command(f"sqlite:///{tmp_path / 'missing.db'}", workflow=None, since=None, out=out) == 2


async def test_the_weekly_report_goes_to_the_workflows_channel_once(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    result = await baton.service.start("purchase", ALICE, {"item": "chairs"})
    assert isinstance(result, Started)
    assert await baton.reports.send_weekly_reports(baton.client) == 1
    assert await baton.reports.send_weekly_reports(baton.client) == 0  # the same week's report is not sent twice
    posted = [m for m in slack.messages("C0FINANCE") if "Report: Purchase" in text_of(m)]
    assert len(posted) == 1 and "Started *1*" in text_of(posted[0])
    assert [f.channels for f in slack.files] == [("C0FINANCE",), ("C0FINANCE",)]  # the two charts


async def test_a_weekly_report_slack_refused_is_sent_at_the_next_sweep(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    slack.inject("chat.postMessage", HttpError(503), times=1, channel="#finance")
    assert await baton.reports.send_weekly_reports(baton.client) == 0  # Slack failed: nothing sent, nothing lost
    assert await baton.reports.send_weekly_reports(baton.client) == 1  # the next sweep sends it
    assert await baton.reports.send_weekly_reports(baton.client) == 0  # and only once
    assert len([m for m in slack.messages("C0FINANCE") if "Report: Purchase" in text_of(m)]) == 1


async def drained(baton: Baton, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with baton.store.transaction() as work:
            if await work.outbox_depth() == 0:
                return
        assert asyncio.get_running_loop().time() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.05)


def sample(families: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return families.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


async def scrape(baton: Baton) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    port = baton.http.port
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found


async def test_metrics_count_what_happened(driver: SlackDriver, slack: SlackEmulator, baton: Baton) -> None:
    slack.inject("chat.postMessage", SlackError("internal_error"), times=1)  # one failed call, then retried
    await start_expense(driver, slack, ALICE, 75, "Train to the office")
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    await updated(slack, approval, "Approved")
    await dm_containing(slack, ALICE, "was *completed*")
    await driver.send_command(ALICE, "start purchase")  # opens the form: a second command
    await drained(baton)
    metrics = await scrape(baton)
    assert sample(metrics, "baton_requests_total", type="command", outcome="ok") == 2
    assert sample(metrics, "baton_requests_total", type="view_submission", outcome="ok") == 1
    assert sample(metrics, "baton_requests_total", type="block_actions", outcome="ok") == 1
    assert sample(metrics, "baton_ack_seconds_count", type="command") == 2
    assert sample(metrics, "baton_ack_seconds_bucket", type="block_actions", le="+Inf") == 1
    # Every Web API method, the outbox's and the listeners' own (but Bolt's start-up auth.test, which is Bolt's)
    called = {c.method for c in slack.calls if "." in c.method} - {"auth.test"}
    assert {"chat.postMessage", "chat.update", "views.open"} <= called
    counted = {method: sample(metrics, "baton_slack_api_calls_total", method=method) for method in called}
    assert counted == {method: len(slack.calls_to(method)) for method in called}
    assert sample(metrics, "baton_slack_api_errors_total", method="chat.postMessage", error="internal_error") == 1
    assert sample(metrics, "baton_outbox_pending") == 0
    assert sample(metrics, "baton_outbox_oldest_pending_age_seconds") == 0
    assert sample(metrics, "baton_open_tasks", workflow="expense-approval") == 0
    await baton.service.start("purchase", ALICE, {"item": "desk"})
    assert sample(await scrape(baton), "baton_open_tasks", workflow="purchase") == 1


async def test_health_reports_the_scheduler_and_metrics_its_lag(tmp_path: Path, slack: SlackEmulator) -> None:
    from .conftest import baton_settings

    settings = baton_settings(tmp_path, slack).model_copy(update={"scheduler_interval_seconds": 0.2})
    baton = Baton(settings)
    await baton.start()
    try:
        port = await baton.serve("127.0.0.1", 0)
        await slack.wait_for(lambda: baton.scheduler.runs.get("timer-sweep"), what="a timer sweep")
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as response:
            health = await response.json()
        assert response.status == 200 and health["ok"] is True
        assert health["scheduler"]["running"] is True
        assert datetime.fromisoformat(health["scheduler"]["last_sweep"]) <= datetime.now(UTC)
        assert health["scheduler"]["lag_seconds"] < 5
        metrics = await scrape(baton)
        assert sample(metrics, "baton_scheduler_lag_seconds", job="timer-sweep") < 5
        assert sample(metrics, "baton_scheduler_last_run_timestamp_seconds", job="timer-sweep") > 0
    finally:
        await baton.stop()


async def test_two_batons_in_one_process_keep_separate_metrics(tmp_path: Path, slack: SlackEmulator) -> None:
    from .conftest import baton_settings

    first = Baton(baton_settings(tmp_path / "a", slack))
    second = Baton(baton_settings(tmp_path / "b", slack))
    first.metrics.observe_request("command", 200, 0.01)
    assert b'baton_requests_total{outcome="ok",type="command"} 1.0' in first.metrics.render()
    assert b"baton_requests_total{" not in second.metrics.render()
