"""The sandbox, driven through the JSON API its page uses: Baton behind a fake Slack, one person at a time."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.sandbox import SANDBOX_DATABASE_URL, Sandbox, next_working_morning, sandbox_settings
from bot.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
ALICE, MARIA, DIRK = "U0ALICE", "U0MARIA", "U0DIRK"

State = dict[str, Any]


class Page:
    """What the sandbox page does: read the state, post what a person did."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def state(self) -> State:
        async with self.session.get(f"{self.url}sandbox/api/state") as response:
            assert response.status == 200
            result: State = await response.json()
            return result

    async def post(self, name: str, **body: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.url}sandbox/api/{name}", json=body) as response:
            answer: dict[str, Any] = await response.json()
            assert response.status == 200, answer
            return answer

    async def wait_for(self, find: Callable[[State], Any], what: str, timeout: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = find(await self.state())
            if found:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"the page never showed {what}")
            await asyncio.sleep(0.05)


def dm_of(state: State, user: str) -> str:
    return next(c["id"] for c in state["workspace"]["channels"] if c.get("is_im") and c.get("user") == user)


def dm_messages(state: State, user: str) -> list[dict[str, Any]]:
    return list(state["workspace"]["messages"].get(dm_of(state, user), []))


def button(message: dict[str, Any], action_id: str) -> str | None:
    """The block id of the block holding the button `action_id`, if the message has it."""
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(block["block_id"])
    return None


def top_view(state: State, user: str) -> dict[str, Any] | None:
    stack = state["workspace"]["open_views"].get(user) or []
    return stack[-1] if stack else None


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    copy = tmp_path / "workflows"
    shutil.copytree(PROJECT / "workflows", copy)
    return copy


@pytest.fixture
async def sandbox(tmp_path: Path, workflows: Path) -> AsyncIterator[Sandbox]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'sandbox.db'}",
        workflows_dir=workflows,
    )
    running = Sandbox(settings, watch_interval=0.05)
    await running.start("127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as session:
        yield Page(sandbox.url, session)


async def test_a_requester_and_her_manager_run_an_expense_approval_through_the_page(page: Page) -> None:
    state = await page.state()
    assert {p["id"] for p in state["people"]} >= {ALICE, MARIA, DIRK}
    assert await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow start expense-approval")
    form = await page.wait_for(lambda s: top_view(s, ALICE), "Alice's form")
    assert [b["block_id"] for b in form["blocks"] if b["type"] == "input"][:3] == [
        "field:amount", "field:currency", "field:reason",
    ]
    # A wrong amount: Baton's errors appear under the field and the modal stays open.
    entered = {"field:amount": "lots", "field:currency": "EUR", "field:reason": "Client lunch in Berlin"}
    answer = await page.post("submit", user=ALICE, view_id=form["id"], values=entered)
    assert answer["answer"]["response_action"] == "errors"
    state = await page.state()
    assert "field:amount" in state["view_errors"][form["id"]]
    await page.post("submit", user=ALICE, view_id=form["id"], values=entered | {"field:amount": "250"})
    await page.wait_for(lambda s: top_view(s, ALICE) is None, "the form closed")

    def approval(state: State) -> dict[str, Any] | None:
        return next((m for m in dm_messages(state, MARIA) if button(m, "task_approve")), None)

    task = await page.wait_for(approval, "Maria's approval task")
    channel = dm_of(await page.state(), MARIA)
    block_id = button(task, "task_approve")
    await page.post("click", user=MARIA, channel=channel, ts=task["ts"], block_id=block_id, action_id="task_approve")
    done = await page.wait_for(
        lambda s: next((m for m in dm_messages(s, ALICE) if "was completed" in m["text"]), None),
        "Alice's completion DM",
    )
    assert "Expense approval" in done["text"]
    # Updated in place: the outcome replaces the buttons. That update goes to another conversation than Alice's
    # DM, so it may land just after it.
    await page.wait_for(
        lambda s: next((m for m in dm_messages(s, MARIA) if m["ts"] == task["ts"] and not button(m, "task_approve")),
                       None),
        "Maria's task message without its buttons",
    )


async def test_a_slash_command_answer_is_a_private_note_in_that_conversation(page: Page) -> None:
    await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow help")
    note = await page.wait_for(lambda s: (s["workspace"]["ephemerals"].get(ALICE) or [None])[-1], "a private note")
    assert note["channel"] == "C0GENERAL" and "/workflow start" in note["text"]
    assert not (await page.state())["workspace"]["ephemerals"].get(MARIA)


async def test_typed_messages_appear_in_the_conversation(page: Page) -> None:
    state = await page.state()
    await page.post("send", user=ALICE, channel=dm_of(state, ALICE), text="hello Baton")
    state = await page.state()
    assert [m["text"] for m in dm_messages(state, ALICE)] == ["hello Baton"]


async def test_opening_app_home_makes_baton_publish_it(page: Page) -> None:
    await page.post("home", user=MARIA)
    home = await page.wait_for(lambda s: s["workspace"]["homes"].get(MARIA), "Maria's Home tab")
    assert "Your open tasks" in str(home["blocks"])


async def test_time_travel_moves_the_sandbox_clock_forward(page: Page, sandbox: Sandbox) -> None:
    before = datetime.fromisoformat((await page.state())["now"])
    await page.post("time", user=ALICE, by="hour")
    await page.post("time", user=ALICE, by="day")
    state = await page.state()
    assert state["offset_seconds"] == 25 * 3600
    assert datetime.fromisoformat(state["now"]) - before >= timedelta(hours=25)
    answer = await page.post("time", user=ALICE, by="morning")
    morning = datetime.fromisoformat(answer["now"]).astimezone(ZoneInfo("America/New_York"))
    assert morning.weekday() < 5 and (morning.hour, morning.minute) == (9, 0)
    async with page.session.post(f"{page.url}sandbox/api/time", json={"user": ALICE, "by": "week"}) as refused:
        assert refused.status == 400


async def test_moving_time_lets_baton_do_what_has_become_due(page: Page) -> None:
    await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow start expense-approval")
    form = await page.wait_for(lambda s: top_view(s, ALICE), "Alice's form")
    entered = {"field:amount": "80", "field:currency": "EUR", "field:reason": "Train to the customer"}
    await page.post("submit", user=ALICE, view_id=form["id"], values=entered)
    await page.wait_for(lambda s: len(dm_messages(s, MARIA)) == 1, "Maria's task")
    for step in ("day", "day", "morning"):  # the task is due in two days; reminders wait for working hours
        await page.post("time", user=MARIA, by=step)
    await page.wait_for(lambda s: len(dm_messages(s, MARIA)) > 1, "a reminder for Maria")


def test_the_next_working_morning_skips_the_weekend_and_respects_the_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    friday_noon = datetime(2026, 3, 27, 12, 0, tzinfo=berlin)
    assert next_working_morning(friday_noon, berlin) == datetime(2026, 3, 30, 9, 0, tzinfo=berlin)  # after DST
    early_tuesday = datetime(2026, 3, 31, 6, 30, tzinfo=berlin)
    assert next_working_morning(early_tuesday, berlin) == datetime(2026, 3, 31, 9, 0, tzinfo=berlin)
    assert next_working_morning(early_tuesday, berlin).tzinfo is UTC


async def test_editing_a_workflow_file_shows_its_error_and_fixing_it_clears_it(page: Page, workflows: Path) -> None:
    path = workflows / "expense-approval.yaml"
    original = path.read_text()
    assert (await page.state())["errors"] == []
    path.write_text(original.replace("type: approval", "type: aproval", 1))
    errors = await page.wait_for(lambda s: s["errors"], "the file error")
    assert any("expense-approval.yaml:" in error and "type" in error for error in errors), errors
    answer = await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow start expense-approval")
    assert answer["ok"]
    await page.wait_for(lambda s: "no workflow called" in str(s["workspace"]["ephemerals"].get(ALICE)), "a refusal")
    path.write_text(original)
    await page.wait_for(lambda s: s["errors"] == [], "the error cleared")


async def test_the_page_and_slack_s_request_url_share_one_port_and_baton_still_checks_signatures(page: Page) -> None:
    async with page.session.get(page.url) as index:
        assert index.status == 200 and "Baton sandbox" in await index.text()
    async with page.session.get(f"{page.url}healthz") as health:
        assert health.status == 200
    async with page.session.post(f"{page.url}slack/events", data={"command": "/workflow", "text": "help"}) as forged:
        assert forged.status == 401


def test_the_sandbox_uses_its_own_database_unless_one_is_given() -> None:
    def settings_for(**given: Any) -> Settings:
        base = Settings(_env_file=None, **given)  # type: ignore[call-arg]
        return sandbox_settings(base, slack_api_url="http://127.0.0.1:1/api/", bot_token="xoxb-x",
                                signing_secret="s", admins=(DIRK,))

    default = settings_for()
    assert default.database_url == SANDBOX_DATABASE_URL and default.baton_admins == (DIRK,)
    assert default.has_slack_credentials
    assert settings_for(database_url="sqlite:///elsewhere.db").database_url == "sqlite:///elsewhere.db"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_make_run_without_credentials_starts_the_sandbox(tmp_path: Path, workflows: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"}
    env |= {"PORT": str(port), "WORKFLOWS_DIR": str(workflows), "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "starting the local sandbox at" in first and f"http://127.0.0.1:{port}/" in first
        assert "Install in Slack" in first
        announced = ""
        while "Baton sandbox: open" not in announced:
            announced = process.stdout.readline()
            assert announced, "the sandbox never said where it is"
        assert f"http://127.0.0.1:{port}/" in announced
        assert (tmp_path / "data" / "sandbox.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
        if process.stdout is not None:
            process.stdout.close()
