"""Approvals for other systems: a program asks over HTTP, a person answers in Slack, the program hears back."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.app import Baton
from bot.approvals import read_approval_body
from bot.catalog import load_catalog
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.blocks import find_action
from bot.settings import ApiTokenScope, SettingsError, load_settings

from .conftest import running_baton
from .processes import free_port
from .story import (
    commits_of_clicks,
    copy_workflows,
    dm_containing,
    served,
    task_message,
    text_of,
    while_the_store_is_busy,
)

ALICE, MARIA, BOB, DIRK, HANNA = "U0ALICE", "U0MARIA", "U0BOB", "U0DIRK", "U0HANNA"
AGENT_TOKEN = "agent-token-for-tests-51e0a3"
ERP_TOKEN = "erp-token-for-tests-9c2d17"
CALLBACK_SECRET = "callback-secret-for-tests-6f3b"
CALLBACK_SECRET_ENV = "BATON_TEST_AGENT_SECRET"
QUESTION = {
    "approvers": [MARIA],
    "text": "May the agent delete these 40 files?",
    "details": "build/cache/*.o, 40 files, 1.2 GB",
    "options": {"approve": "Delete them", "reject": "Keep them"},
    "due": "4h",
}


@dataclass
class Receiver:
    """A program's callback endpoint: it answers its first delivery with a 503, then takes them."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=503 if len(self.received) == 1 else 204)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    application = web.Application()
    application.router.add_post("/baton", found.handle)
    async with served(application) as url:
        found.url = f"{url}/baton"
        yield found


TOKENS = {  # `agent` asks approvals as Alice and signs callbacks; `erp` starts expenses as Alice and asks nothing
    "agent": ApiTokenScope(token=SecretStr(AGENT_TOKEN), approvals=True, requester=ALICE,
                           callback_secret_env=CALLBACK_SECRET_ENV),
    "erp": ApiTokenScope(token=SecretStr(ERP_TOKEN), workflows=("expense-approval",), requester=ALICE,
                         callback_secret_env=CALLBACK_SECRET_ENV),
}  # fmt: skip


@pytest.fixture
async def running(
    tmp_path: Path, slack: SlackEmulator, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Baton, SlackDriver]]:
    monkeypatch.setenv(CALLBACK_SECRET_ENV, CALLBACK_SECRET)
    # The receiver is on loopback, which callbacks reach only with this setting (as in tests and the sandbox).
    private = {"webhook_allow_private_addresses": True}
    async with running_baton(tmp_path, slack, database_url=database_url, api_tokens=TOKENS, **private) as pair:
        yield pair


@pytest.fixture
def baton(running: tuple[Baton, SlackDriver]) -> Baton:
    return running[0]


@pytest.fixture
def driver(running: tuple[Baton, SlackDriver]) -> SlackDriver:
    return running[1]


def api(baton: Baton, path: str) -> str:
    return f"http://127.0.0.1:{baton.http.port}/api/{path}"


async def call(
    method: str, url: str, body: Any = None, *, token: str | None = AGENT_TOKEN, **headers: str
) -> tuple[int, dict[str, Any]]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else body if isinstance(body, str | bytes) else json.dumps(body)
    async with aiohttp.ClientSession() as session, session.request(method, url, data=data, headers=headers) as answer:
        return answer.status, await answer.json()


def verified(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """What a receiver does: check the signature over `<timestamp>.<body>` and the timestamp's age."""
    timestamp = headers["X-Baton-Timestamp"]
    assert abs(time.time() - int(timestamp)) < 300
    expected = hmac.new(CALLBACK_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Baton-Signature"], f"sha256={expected}")
    body: dict[str, Any] = json.loads(raw)
    assert headers["X-Baton-Delivery"] == body["delivery"]
    return body


async def test_an_agents_question_is_answered_in_slack_and_the_signed_outcome_reaches_its_callback(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, receiver: Receiver
) -> None:
    status, asked = await call("POST", api(baton, "approvals"), {**QUESTION, "callback_url": receiver.url},
                               **{"Idempotency-Key": "cleanup-2026-12-02"})  # fmt: skip
    assert status == 201, asked
    assert asked["status"] == "running" and asked["requester"] == ALICE and asked["decisions"] == []
    assert asked["form"] == {"question": QUESTION["text"], "details": QUESTION["details"]}
    assert [(step["status"], step["assignees"]) for step in asked["steps"]] == [("open", [MARIA])]
    due = datetime.fromisoformat(asked["steps"][0]["due_at"]) - datetime.fromisoformat(asked["created_at"])
    assert due == timedelta(hours=4)
    opened = datetime.fromisoformat(asked["created_at"])
    async with baton.store.transaction(read_only=True) as work:  # reminded when due, escalated after as long again
        timers = await work.pending_timers(asked["steps"][0]["task_id"])
    assert sorted((timer.kind, timer.due_at - opened) for timer in timers) == [
        ("escalate", timedelta(hours=8)), ("remind_due", timedelta(hours=4))
    ]  # fmt: skip
    dm = await task_message(slack, MARIA, "task_approve", containing="May the agent delete these 40 files?")
    buttons = [element["text"]["text"] for block in dm.blocks if block["type"] == "actions"
               for element in block["elements"] if element["type"] == "button"]  # fmt: skip
    assert buttons == ["Delete them", "Keep them…"]
    await driver.click_button_in(dm, MARIA, "task_approve")
    deliveries = await slack.wait_for(lambda: receiver.received if len(receiver.received) >= 2 else None, 15,
                                      what="the callback, retried after its 503")  # fmt: skip
    first, retried = (verified(headers, raw) for headers, raw in deliveries)
    assert first == retried  # the same delivery, signed again
    assert retried["event"] == "finished" and retried["outcome"] == "completed" and retried["by"] == MARIA
    request = retried["request"]
    assert request["id"] == asked["id"] and request["status"] == "completed"
    [decision] = request["decisions"]
    assert (decision["by"], decision["decision"], decision["label"]) == (MARIA, "approve", "Delete them")
    status, read = await call("GET", api(baton, f"requests/{asked['id']}"))
    assert status == 200 and read["decisions"] == request["decisions"] and read["status"] == "completed"
    async with baton.store.transaction(read_only=True) as work:
        history = [(entry.kind, entry.actor) for entry in await work.audit_trail(asked["id"])]
    assert ("task_approved", MARIA) in history and history[-1][0] == "instance_completed"
    await dm_containing(slack, ALICE, "was *completed*")  # the requester hears as for any request


async def test_questions_decided_at_the_same_moment_each_reach_their_own_callback(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, receiver: Receiver
) -> None:
    """Clicks committed together (group commit) still look up each request's own callback."""
    approvers = [MARIA, BOB, DIRK, HANNA]
    asked = {}
    for person in approvers:
        question = {**QUESTION, "approvers": [person], "text": f"May the agent delete {person}'s files?"}
        status, request = await call("POST", api(baton, "approvals"), {**question, "callback_url": receiver.url},
                                     **{"Idempotency-Key": f"cleanup-{person}"})  # fmt: skip
        assert status == 201, request
        asked[request["id"]] = person
    dms = [await task_message(slack, person, "task_approve") for person in approvers]
    clicks = [driver.click_button_in(dm, person, "task_approve") for dm, person in zip(dms, approvers, strict=True)]
    before = commits_of_clicks(baton)[0]
    answers = await while_the_store_is_busy(baton, list(asked), clicks)
    assert [answer.status for answer in answers] == [200] * len(approvers)
    assert commits_of_clicks(baton)[0] - before <= baton.store.writers_at_once + 1  # some committed together

    def finished() -> dict[int, str] | None:
        heard = {body["request"]["id"]: body["by"] for body in (json.loads(raw) for _h, raw in receiver.received)}
        return heard if len(heard) == len(asked) else None

    heard = await slack.wait_for(finished, 15, what="every request's callback")
    assert heard == asked  # each request's outcome went to its callback, naming its own approver
    assert all(verified(headers, raw)["event"] == "finished" for headers, raw in receiver.received)


async def test_a_retried_question_is_asked_once_and_a_reused_key_with_another_body_is_refused(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    key = {"Idempotency-Key": "agent-run-77"}
    first, same_moment = await asyncio.gather(  # two tries at once: one asks, the other gets its request
        call("POST", api(baton, "approvals"), QUESTION, **key), call("POST", api(baton, "approvals"), QUESTION, **key)
    )
    assert sorted([first[0], same_moment[0]]) == [200, 201] and first[1]["id"] == same_moment[1]["id"]
    again = await call("POST", api(baton, "approvals"), QUESTION, **key)
    assert again == (200, first[1])
    status, refused = await call("POST", api(baton, "approvals"), {**QUESTION, "text": "Delete 41 files?"}, **key)
    assert status == 409 and "another body" in refused["error"]
    await task_message(slack, MARIA, "task_approve")
    asked = [m for m in slack.dm_messages(MARIA) if find_action(m.blocks, "task_approve")]
    assert len(asked) == 1  # one DM: one request
    other = await call("POST", api(baton, "approvals"), QUESTION, **{"Idempotency-Key": "agent-run-78"})
    assert other[0] == 201 and other[1]["id"] != first[1]["id"]


async def test_a_token_reads_only_what_it_started_and_its_workflows_requests(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    status, asked = await call("POST", api(baton, "approvals"), QUESTION)
    assert status == 201
    expense = {"form": {"amount": 120, "currency": "EUR", "reason": "Team lunch"}}
    status, started = await call("POST", api(baton, "workflows/expense-approval/start"), expense, token=ERP_TOKEN)
    assert status == 201
    assert (await call("GET", api(baton, f"requests/{asked['id']}"), token=ERP_TOKEN))[0] == 404
    status, hidden = await call("GET", api(baton, f"requests/{started['instance']}"))
    assert status == 404 and hidden == {"error": f"there is no request '{started['instance']}'"}
    status, mine = await call("GET", api(baton, f"requests/{started['instance']}"), token=ERP_TOKEN)
    assert status == 200 and mine["workflow"] == "expense-approval" and mine["form"]["reason"] == "Team lunch"
    assert (await call("GET", api(baton, f"requests/{asked['id']}"), token=None))[0] == 401
    assert (await call("GET", api(baton, "requests/999"))) == (404, {"error": "there is no request '999'"})
    assert (await call("GET", api(baton, "requests/abc")))[0] == 404
    assert (await call("POST", api(baton, "approvals"), QUESTION, token=ERP_TOKEN))[0] == 403  # may not ask


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_bad_questions_get_a_4xx_that_says_what_is_wrong_and_ask_nobody(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, caplog: pytest.LogCaptureFixture
) -> None:
    url = api(baton, "approvals")
    cases: list[tuple[Any, str]] = [
        ("not json", "the body must be a JSON object"),
        ("[" * 20_000 + "]" * 20_000, "the body must be a JSON object"),  # deeper than any parser should go
        ({**QUESTION, "details": "x" * 70_000}, "larger than 64 KiB"),
        ({**QUESTION, "text": "delete\x00 it"}, "control characters"),
        ([QUESTION], "the body must be a JSON object"),
        ({**QUESTION, "approvers": []}, "approvers"),
        ({**QUESTION, "approvers": ["U0NOBODY"]}, "U0NOBODY is not a person in org.yaml"),
        ({**QUESTION, "approvers": ["group:nope"]}, "group:nope is not a group in org.yaml"),
        ({**QUESTION, "approvers": [ALICE]}, "U0ALICE asks this question and may not approve it"),
        ({**QUESTION, "text": ""}, "text"),
        ({**QUESTION, "text": "x" * 151}, "at most 150"),
        ({**QUESTION, "options": {"approve": "y" * 31}}, "options.approve"),
        ({**QUESTION, "options": ["yes", "no"]}, "buttons' words"),
        ({**QUESTION, "due": "soon"}, "is not a duration"),
        ({**QUESTION, "due": "2020-01-01T00:00:00Z"}, "due is in the past"),
        ({**QUESTION, "due": "2030-01-01T00:00:00"}, "with its offset"),
        ({**QUESTION, "rule": "most"}, "rule"),
        ({**QUESTION, "requester": BOB}, "may not name requesters"),
        ({**QUESTION, "callback_url": "http://example.com/hook"}, "must use https"),
        ({**QUESTION, "callback_url": "https://user:pw@example.com/hook"}, "user name or password"),
        ({**QUESTION, "callback_url": "ftp://example.com"}, "must be an https:// URL"),
        ({**QUESTION, "callback_url": 7}, "callback_url"),
        ({**QUESTION, "colour": "red"}, "unknown keys: colour"),
    ]
    for body, says in cases:
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bot"):
            status, answer = await call("POST", url, body)
        assert 400 <= status < 500, (body, status, answer)
        assert says in json.dumps(answer), (says, answer)
        lines = [record.getMessage() for record in caplog.records if record.name.startswith("bot")]
        assert len(lines) == 1 and len(lines[0]) < 500 and "\n" not in lines[0], lines  # one bounded line each
    status, answer = await call("POST", url, QUESTION, **{"Idempotency-Key": "no spaces allowed"})
    assert status == 422 and "Idempotency-Key" in answer["error"]
    assert not [m for m in slack.dm_messages(MARIA) if find_action(m.blocks, "task_approve")]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_started_workflow_with_a_callback_url_hears_its_rejection_with_the_reason(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, receiver: Receiver
) -> None:
    expense = {"form": {"amount": 120, "currency": "EUR", "reason": "Team lunch"}, "callback_url": receiver.url}
    status, started = await call("POST", api(baton, "workflows/expense-approval/start"), expense, token=ERP_TOKEN)
    assert status == 201, started
    approval = await task_message(slack, MARIA, "task_reject")
    await driver.click_button_in(approval, MARIA, "task_reject")
    modal = await slack.wait_for(lambda: (slack.open_views(MARIA) or [None])[-1], what="reject modal")
    reason = {"comment": {"value": {"type": "plain_text_input", "value": "Lunch is on the team budget"}}}
    assert (await driver.submit_view(MARIA, modal, reason)).status == 200
    deliveries = await slack.wait_for(lambda: receiver.received if len(receiver.received) >= 2 else None, 15)
    outcome = verified(*deliveries[-1])
    assert outcome["outcome"] == "rejected" and outcome["request"]["reason"] == "Lunch is on the team budget"
    [decision] = outcome["request"]["decisions"]
    assert (decision["by"], decision["decision"], decision["comment"]) == (
        MARIA, "reject", "Lunch is on the team budget"
    )  # fmt: skip
    assert "Lunch is on the team budget" in text_of(await dm_containing(slack, ALICE, "was *rejected*"))


def test_a_workflow_file_may_not_take_the_name_of_the_apis_one_off_approvals(tmp_path: Path) -> None:
    directory = copy_workflows(tmp_path / "workflows", **{"api-approval": """name: api-approval
title: Mine
steps:
  - {id: ok, type: approval, title: "Approve", assignee: requester.manager, approve_label: Ship it}
"""})
    errors = [str(error) for error in load_catalog(directory).errors]
    assert len(errors) == 1 and "api-approval.yaml:1: name: 'api-approval' is the name of the API's" in errors[0]


def test_button_words_belong_to_approval_steps_in_workflow_files(tmp_path: Path) -> None:
    directory = copy_workflows(tmp_path / "workflows", chores="""name: chores
title: Chores
steps:
  - {id: sweep, title: "Sweep", assignee: requester, reject_label: Nope}
""")
    errors = [str(error) for error in load_catalog(directory).errors]
    assert len(errors) == 1 and "chores.yaml:4" in errors[0] and "apply to approval steps" in errors[0], errors


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["approvers", "text", "details", "options", "rule", "due", "escalate_to", "requester",
                        "callback_url", "other"])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSON | st.text(max_size=200), max_size=9))
def test_any_approval_body_reads_as_a_question_or_problems_never_an_exception(body: dict[str, Any]) -> None:
    ask = read_approval_body(body, datetime(2026, 12, 2, 12, 0, tzinfo=UTC))
    assert ask.errors or (ask.approvers and ask.text)
    assert all(isinstance(message, str) and len(message) < 300 for message in ask.errors.values())


def test_a_token_may_not_sign_callbacks_with_one_of_batons_own_secrets_and_must_be_able_to_do_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = json.dumps({"agent": {"token": AGENT_TOKEN, "approvals": True, "requester": ALICE,
                                "callback_secret_env": "SLACK_SIGNING_SECRET"}})  # fmt: skip
    monkeypatch.setenv("API_TOKENS", own)
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is one of Baton's own secrets"):
        load_settings(_env_file=None)
    idle = json.dumps({"idle": {"token": AGENT_TOKEN, "requester": ALICE}})
    monkeypatch.setenv("API_TOKENS", idle)
    with pytest.raises(SettingsError, match="or give it approvals: true"):
        load_settings(_env_file=None)


def readme_program(directory: Path) -> Path:
    """The README's program that waits for a person, as written there."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("A program that waits for a person")
    code = readme[readme.index("```python\n", start) + len("```python\n") : readme.index("\n```\n", start)]
    program = directory / "wait.py"
    program.write_text(code + "\n")
    return program


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("mode", ["poll", "callback"])
async def test_the_readme_program_waits_for_a_person_by_polling_or_by_its_callback(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, tmp_path: Path, mode: str
) -> None:
    port = free_port()
    env = {**os.environ, "BATON_URL": api(baton, "").removesuffix("/api/"), "BATON_AGENT_TOKEN": AGENT_TOKEN,
           "AGENT_CALLBACK_SECRET": CALLBACK_SECRET, "AGENT_CALLBACK_PORT": str(port)}  # fmt: skip
    if mode == "callback":
        env["AGENT_CALLBACK_URL"] = f"http://127.0.0.1:{port}/baton"
    program = await asyncio.create_subprocess_exec(
        sys.executable, str(readme_program(tmp_path)), *(["callback"] if mode == "callback" else []),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert program.stdout is not None
    try:
        asked = (await asyncio.wait_for(program.stdout.readline(), 15)).decode()
        assert asked.startswith("asked "), asked
        dm = await task_message(slack, MARIA, "task_approve", containing="May the agent delete these 40 files?")
        await driver.click_button_in(dm, MARIA, "task_approve")
        heard = (await asyncio.wait_for(program.stdout.readline(), 20)).decode()
        assert heard.startswith("completed "), heard  # the callback's line comes only after its signature checked
        assert '"label": "Delete them"' in heard and MARIA in heard
    finally:
        if program.returncode is None:
            program.kill()
        await program.wait()
