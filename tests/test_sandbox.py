"""The sandbox, driven through the JSON API its page uses: Baton behind a fake Slack, one person at a time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from bot.sandbox import SANDBOX_DATABASE_URL, SECRET_HEADER, Sandbox, next_working_morning, sandbox_settings
from bot.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
ALICE, MARIA, DIRK = "U0ALICE", "U0MARIA", "U0DIRK"

State = dict[str, Any]


class Page:
    """What the sandbox page does: read the state, post what a person did, with the secret its HTML carries."""

    def __init__(self, url: str, session: aiohttp.ClientSession, secret: str) -> None:
        self.url = url
        self.session = session
        self.headers = {"Origin": url.rstrip("/"), SECRET_HEADER: secret}

    @classmethod
    async def open(cls, url: str, session: aiohttp.ClientSession) -> Page:
        async with session.get(url) as index:
            html = await index.text()
        secret = html.split('name="sandbox-secret" content="', 1)[1].split('"', 1)[0]
        return cls(url, session, secret)

    async def state(self) -> State:
        async with self.session.get(f"{self.url}sandbox/api/state", headers=self.headers) as response:
            assert response.status == 200
            result: State = await response.json()
            return result

    async def post(self, name: str, **body: Any) -> dict[str, Any]:
        async with self.session.post(f"{self.url}sandbox/api/{name}", json=body, headers=self.headers) as response:
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
    settings = Settings(_env_file=None, workflows_dir=workflows)  # type: ignore[call-arg]
    running = Sandbox(settings, watch_interval=0.05, database=tmp_path / "sandbox.db")
    await running.start("127.0.0.1", 0)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as session:
        yield await Page.open(sandbox.url, session)


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


async def test_a_receipt_chosen_on_the_page_becomes_alices_upload_and_a_link_in_marias_task(page: Page) -> None:
    assert await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow start expense-approval")
    form = await page.wait_for(lambda s: top_view(s, ALICE), "Alice's form")
    entered = {"field:amount": "90", "field:currency": "EUR", "field:reason": "Train to Lyon",
               "field:receipt": ["ticket.pdf"]}  # fmt: skip
    answer = await page.post("submit", user=ALICE, view_id=form["id"], values=entered)
    assert "answer" not in answer or answer["answer"] is None, answer
    state = await page.state()
    [upload] = [f for f in state["workspace"]["files"] if f["name"] == "ticket.pdf"]
    assert upload["user"] == ALICE
    link = f"<{upload['permalink']}|ticket.pdf>"
    await page.wait_for(lambda s: any(link in json.dumps(m["blocks"]) for m in dm_messages(s, MARIA)), "the link")


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
    week = {"user": ALICE, "by": "week"}
    async with page.session.post(f"{page.url}sandbox/api/time", json=week, headers=page.headers) as refused:
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


def test_the_sandbox_uses_its_own_database_and_credentials_whatever_the_settings_say() -> None:
    def settings_for(**given: Any) -> Settings:
        base = Settings(_env_file=None, **given)  # type: ignore[call-arg]
        return sandbox_settings(base, slack_api_url="http://127.0.0.1:1/api/", bot_token="xoxb-x",
                                signing_secret="s", admins=(DIRK,))

    default = settings_for()
    assert default.database_url == SANDBOX_DATABASE_URL and default.baton_admins == (DIRK,)
    assert default.has_slack_credentials
    real = settings_for(database_url="postgresql://baton@db.example.com/baton", api_token="production-token",
                        slack_bot_token="xoxb-real", slack_app_token="xapp-real")
    assert real.database_url == SANDBOX_DATABASE_URL
    assert real.api_token is None and real.slack_app_token is None
    assert real.slack_bot_token is not None and real.slack_bot_token.get_secret_value() == "xoxb-x"


# ---- nobody but the page drives the sandbox ------------------------------------------------------------


async def start_an_expense(page: Page) -> None:
    await page.post("send", user=ALICE, channel="C0GENERAL", text="/workflow start expense-approval")
    form = await page.wait_for(lambda s: top_view(s, ALICE), "Alice's form")
    entered = {"field:amount": "80", "field:currency": "EUR", "field:reason": "Train to the customer"}
    await page.post("submit", user=ALICE, view_id=form["id"], values=entered)
    await page.wait_for(lambda s: len(dm_messages(s, MARIA)) == 1, "Maria's task")


async def status_of(sandbox: Sandbox, instance_id: int) -> str:
    async with sandbox.baton.store.transaction(read_only=True) as work:
        instance = await work.instance(instance_id)
    assert instance is not None
    return instance.status.value


async def test_cross_origin_rebound_and_secretless_posts_are_refused_and_cancel_nothing(
    page: Page, sandbox: Sandbox
) -> None:
    await start_an_expense(page)
    cancel = json.dumps({"user": DIRK, "channel": "C0GENERAL", "text": "/workflow cancel 1 forged"})
    own, port = page.headers["Origin"], page.url.rstrip("/").rsplit(":", 1)[1]
    secret = page.headers[SECRET_HEADER]
    json_type = {"Content-Type": "application/json"}
    attempts = {
        "a cross-origin text/plain post": {"Origin": "https://evil.example", "Content-Type": "text/plain"},
        "a cross-origin JSON post with the secret": {"Origin": "https://evil.example", SECRET_HEADER: secret,
                                                     **json_type},
        "a post without an Origin": {SECRET_HEADER: secret, **json_type},
        "a same-origin text/plain post": {"Origin": own, SECRET_HEADER: secret, "Content-Type": "text/plain"},
        "a DNS-rebinding post": {"Host": f"rebind.evil.example:{port}", "Origin": f"http://rebind.evil.example:{port}",
                                 SECRET_HEADER: secret, **json_type},
        "a post without the secret": {"Origin": own, **json_type},
        "a post with a wrong secret": {"Origin": own, SECRET_HEADER: "guessed", **json_type},
    }
    for attempt, headers in attempts.items():
        async with page.session.post(f"{page.url}sandbox/api/send", data=cancel, headers=headers) as response:
            assert response.status == 403, attempt
            assert (await response.json())["ok"] is False, attempt
    rebound = {"Host": f"rebind.evil.example:{port}", SECRET_HEADER: secret}
    async with page.session.get(f"{page.url}sandbox/api/state", headers=rebound) as response:
        assert response.status == 403  # nor can a rebinding page read what the sandbox holds
    async with page.session.get(page.url, headers={"Host": f"rebind.evil.example:{port}"}) as response:
        assert response.status == 403 and secret not in await response.text()
    await asyncio.sleep(0.2)
    assert await status_of(sandbox, 1) == "running"
    await page.post("send", user=DIRK, channel="C0GENERAL", text="/workflow cancel 1 from the page itself")
    assert await status_of(sandbox, 1) == "cancelled"  # the same command from the page does work


async def test_the_sandbox_never_opens_the_database_it_is_given_nor_accepts_the_real_api_token(
    tmp_path: Path, workflows: Path
) -> None:
    live = tmp_path / "live.db"
    live.write_bytes(b"a live database")
    for database_url in (f"sqlite:///{live}", "postgresql://baton:secret@127.0.0.1:1/live"):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, database_url=database_url, workflows_dir=workflows, api_token="the-production-token",
        )
        sandbox = Sandbox(settings, database=tmp_path / "own.db")
        await sandbox.start("127.0.0.1", 0)  # PostgreSQL at port 1 would not answer: it is never asked
        try:
            async with aiohttp.ClientSession() as session:
                page = await Page.open(sandbox.url, session)
                await start_an_expense(page)
                start = f"{sandbox.url}api/workflows/expense-approval/start"
                body = {"requester": ALICE, "form": {"amount": 5, "currency": "EUR", "reason": "Coffee"}}
                production = {"Authorization": "Bearer the-production-token"}
                async with session.post(start, json=body, headers=production) as response:
                    assert response.status == 404
        finally:
            await sandbox.stop()
        assert sandbox.baton.settings.database_url == f"sqlite:///{tmp_path / 'own.db'}"
        assert live.read_bytes() == b"a live database"
        assert not (tmp_path / "live.db-wal").exists()


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that counts what reaches it."""

    url: str = ""
    received: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.read())
        return web.Response(status=204)


async def test_webhooks_are_shown_on_the_page_and_never_sent_to_their_url(tmp_path: Path, workflows: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver()
    application = web.Application()
    application.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    monkeypatch.setenv("SANDBOX_TEST_HOOK_SECRET", "hook-secret")
    expense = workflows / "expense-approval.yaml"
    expense.write_text(expense.read_text().replace(
        "\nsteps:", f'\nwebhooks:\n  - {{url: "{receiver.url}", secret_env: SANDBOX_TEST_HOOK_SECRET}}\nsteps:', 1))
    settings = Settings(_env_file=None, workflows_dir=workflows)  # type: ignore[call-arg]
    sandbox = Sandbox(settings, database=tmp_path / "own.db")
    await sandbox.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            page = await Page.open(sandbox.url, session)
            assert (await page.state())["errors"] == []
            await start_an_expense(page)
            kept = await page.wait_for(lambda s: s["webhooks"], "the webhook on the page")
            assert kept[0]["url"] == receiver.url and kept[0]["body"]["event"] == "started"
            await asyncio.sleep(0.3)
    finally:
        await sandbox.stop()
        await runner.cleanup()
    assert receiver.received == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_ctrl_c_while_the_sandbox_starts_stops_it_even_when_started_in_the_background(
    tmp_path: Path, workflows: Path
) -> None:
    """A shell starts background jobs with SIGINT ignored, so until Baton catches it a Ctrl-C is lost: Baton
    catches it before it starts anything, and a Ctrl-C during start-up stops it right after."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"}
    env |= {"PORT": str(port), "WORKFLOWS_DIR": str(workflows), "PYTHONPATH": str(PROJECT), "API_TOKEN": "t"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert process.stdout is not None
        assert "starting the local sandbox at" in process.stdout.readline()
        assert "ignores API_TOKEN" in process.stdout.readline()  # printed once Baton catches Ctrl-C
        process.send_signal(signal.SIGINT)  # while the sandbox is still starting
        assert process.wait(timeout=40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_make_run_without_credentials_starts_the_sandbox_and_says_it_ignores_the_real_database_and_token(
    tmp_path: Path, workflows: Path
) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_") and k != "DATABASE_URL"}
    env |= {"PORT": str(port), "WORKFLOWS_DIR": str(workflows), "PYTHONPATH": str(PROJECT)}
    env |= {"DATABASE_URL": "sqlite:///live.db", "API_TOKEN": "the-production-token"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "starting the local sandbox at" in first and f"http://127.0.0.1:{port}/" in first
        assert "Install in Slack" in first
        ignoring = process.stdout.readline()
        assert "ignores DATABASE_URL, API_TOKEN" in ignoring and "data/sandbox.db" in ignoring
        announced = ""
        while "Baton sandbox: open" not in announced:
            announced = process.stdout.readline()
            assert announced, "the sandbox never said where it is"
        assert f"http://127.0.0.1:{port}/" in announced
        assert (tmp_path / "data" / "sandbox.db").exists()
        assert not (tmp_path / "live.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=40) == 0
        finally:
            if process.poll() is None:  # never leave a sandbox behind, whatever failed
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


async def test_the_process_map_is_an_svg_for_the_owner_behind_the_pages_checks(page: Page) -> None:
    await start_an_expense(page)
    url = f"{page.url}sandbox/api/map?workflow=expense-approval&user=U0FIONA&period=30d"
    async with page.session.get(url, headers=page.headers) as response:
        assert response.status == 200 and response.content_type == "image/svg+xml"
        svg = await response.text()
    assert "Manager approval" in svg and "Finance check" in svg and "1 waiting now" in svg
    port = page.url.rstrip("/").rsplit(":", 1)[1]
    refused = {
        "no secret": {"Origin": page.headers["Origin"]},
        "another site": {**page.headers, "Origin": "https://evil.example"},
        "a rebinding page": {**page.headers, "Host": f"rebind.evil.example:{port}"},
    }
    for attempt, headers in refused.items():
        async with page.session.get(url, headers=headers) as response:
            assert response.status == 403, attempt
            assert "Manager approval" not in await response.text(), attempt
    for query in ("workflow=expense-approval&user=U0ALICE", "workflow=no-such-thing&user=U0ALICE"):
        async with page.session.get(f"{page.url}sandbox/api/map?{query}", headers=page.headers) as response:
            assert response.status == 403
            assert (await response.json())["error"] == "Process maps are for a workflow's owners and Baton's admins."
    async with page.session.get(f"{url}&period=40x".replace("&period=30d", ""), headers=page.headers) as response:
        assert response.status == 400
