"""The integration API, signed outgoing webhooks with retries, and logs that never carry a secret."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.api import StartApi
from bot.app import Baton
from bot.catalog import load_catalog
from bot.emulator import SlackDriver, SlackEmulator
from bot.logs import log_handler
from bot.service import Started
from bot.settings import load_settings
from bot.webhooks import post_webhook

from .conftest import ADMIN, BOT_TOKEN, SIGNING_SECRET, baton_settings, running_baton
from .story import copy_workflows, dm_containing, served, start_expense, task_message

ALICE, MARIA = "U0ALICE", "U0MARIA"
API_TOKEN = "api-token-for-tests-7d41c9"
HOOK_SECRET = "hook-secret-for-tests-2b8e55"
HOOK_SECRET_ENV = "BATON_TEST_HOOK_SECRET"


@dataclass
class HookServer:
    """A local receiver of Baton's webhooks: it fails the first delivery with a 500, and `/gone` answers 410."""

    url: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    failed_first: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        if request.path == "/gone":
            return web.Response(status=410)
        if request.path == "/moved":
            return web.Response(status=302, headers={"Location": "/hook"})
        if not self.failed_first:
            self.failed_first = True
            return web.Response(status=500, text="try again")
        return web.Response(status=204)

    def deliveries(self, path: str = "/hook") -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(headers, json.loads(body)) for p, headers, body in self.received if p == path]


@pytest.fixture
async def hooks() -> AsyncIterator[HookServer]:
    server = HookServer()
    application = web.Application()
    application.router.add_post("/hook", server.handle)
    application.router.add_post("/gone", server.handle)
    application.router.add_post("/moved", server.handle)
    async with served(application) as url:
        server.url = url
        yield server


@pytest.fixture
def workflows_dir(tmp_path: Path, hooks: HookServer) -> Path:
    purchase = f"""
name: purchase
title: Purchase
owners: [U0FIONA]
form:
  - {{id: item, label: Item}}
  - {{id: cost, label: Cost, type: number, min: 1}}
webhooks:
  - {{url: "{hooks.url}/hook", events: [started, step_done, finished], secret_env: {HOOK_SECRET_ENV}}}
  - {{url: "{hooks.url}/gone", events: finished, secret_env: {HOOK_SECRET_ENV}}}
steps:
  - {{id: manager_ok, type: approval, title: "Approve {{form.item}}", assignee: requester.manager}}
  - {{id: order, type: task, title: "Order {{form.item}}", assignee: requester}}
"""
    return copy_workflows(tmp_path / "workflows", purchase=purchase)


@pytest.fixture
async def baton(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Baton]:
    monkeypatch.setenv(HOOK_SECRET_ENV, HOOK_SECRET)
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows_dir, database_url=database_url)
    # The receiver runs on 127.0.0.1, a private address webhooks may reach only with this setting.
    update = {"api_token": SecretStr(API_TOKEN), "webhook_allow_private_addresses": True}
    app = Baton(settings.model_copy(update=update))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def api_url(baton: Baton, workflow: str) -> str:
    return f"http://127.0.0.1:{baton.http.port}/api/workflows/{workflow}/start"


async def post(url: str, body: Any, *, token: str | None = API_TOKEN, **headers: str) -> tuple[int, dict[str, Any]]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, str) else json.dumps(body)
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as response:
        return response.status, await response.json()


EXPENSE = {"requester": ALICE, "form": {"amount": 250, "currency": "EUR", "reason": "Conference taxi"}}


# ---- the start API ---------------------------------------------------------------------------------


async def test_a_good_token_and_form_start_the_workflow_and_the_approver_gets_the_task(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    status, body = await post(api_url(baton, "expense-approval"), EXPENSE)
    assert status == 201, body
    assert body == {"instance": 1, "title": "Expense approval #1", "status": "running"}
    approval = await task_message(slack, MARIA, "task_approve", containing="250")
    assert "Conference taxi" in json.dumps(approval.blocks)
    await dm_containing(slack, ALICE, "has started")


async def test_a_bad_or_missing_token_is_refused_with_401(driver: SlackDriver, baton: Baton) -> None:
    url = api_url(baton, "expense-approval")
    assert (await post(url, EXPENSE, token="wrong-token"))[0] == 401
    assert (await post(url, EXPENSE, token=None))[0] == 401
    assert (await post(url, EXPENSE, token=None, Authorization=f"Basic {API_TOKEN}"))[0] == 401
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


async def test_a_bad_payload_is_refused_with_422_and_an_error_per_field(driver: SlackDriver, baton: Baton) -> None:
    url = api_url(baton, "expense-approval")
    bad = {"requester": "alice", "form": {"amount": "lots", "currency": "XXX", "colour": "red"}}
    status, body = await post(url, bad)
    assert status == 422
    assert set(body["errors"]) == {"requester", "form.amount", "form.currency", "form.reason", "form.colour"}
    assert "number" in body["errors"]["form.amount"]
    assert (await post(url, "not json"))[1]["errors"] == {"body": "not valid JSON"}
    assert (await post(url, [1, 2]))[0] == 422
    assert (await post(url, {**EXPENSE, "form": {"amount": {"nested": 1}}}))[1]["errors"]["form.amount"]
    assert (await post(api_url(baton, "no-such-workflow"), EXPENSE))[0] == 404
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


async def test_an_idempotency_key_starts_a_request_once(driver: SlackDriver, baton: Baton) -> None:
    url = api_url(baton, "expense-approval")
    assert (await post(url, EXPENSE, **{"Idempotency-Key": "ticket-42"}))[0] == 201
    assert (await post(url, EXPENSE, **{"Idempotency-Key": "ticket-42"}))[0] == 409
    assert (await post(url, EXPENSE, **{"Idempotency-Key": "ticket-43"}))[0] == 201


async def test_without_an_api_token_the_endpoint_is_not_there(baton: Baton) -> None:
    application = web.Application()
    application.router.add_post("/api/workflows/{name}/start", StartApi(baton.service, {}).start)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/workflows/expense-approval/start"
        status, body = await post(url, EXPENSE)
        assert status == 404 and "API_TOKEN" in body["error"]
    finally:
        await runner.cleanup()


ERP_TOKEN = "erp-token-for-tests-5f0a9e1c"
HR_TOKEN = "hr-token-for-tests-81c2d7aa"
HANNA, BOB = "U0HANNA", "U0BOB"
ONBOARDING = {"form": {"new_hire": "U0NEWBIE", "start_date": "2026-05-04", "role": "Backend Engineer"}}


@pytest.fixture
async def scoped(
    tmp_path: Path, slack: SlackEmulator, workflows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Baton]:
    """A Baton with named tokens: `erp` starts expenses as Alice only; `hr` starts anything, naming requesters.
    Maria is one of its admins (BATON_ADMINS), which must count for nothing through the API."""
    monkeypatch.setenv("API_TOKENS", json.dumps({  # as an operator writes it: JSON in the environment
        "erp": {"token": ERP_TOKEN, "workflows": ["expense-approval"], "requester": ALICE},
        "hr": {"token": HR_TOKEN, "workflows": ["*"], "name_requesters": True},
    }))
    monkeypatch.setenv("BATON_ADMINS", MARIA)
    settings = load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        database_url=f"sqlite:///{tmp_path / 'scoped.db'}",
        workflows_dir=workflows_dir,
    )
    app = Baton(settings)
    await app.start()
    await app.serve("127.0.0.1", 0)
    try:
        yield app
    finally:
        await app.stop()


async def instances(baton: Baton) -> list[int]:
    async with baton.store.transaction(read_only=True) as work:
        return [instance.id for instance in await work.instances_requested_by(ALICE)] + [
            instance.id for instance in await work.instances_requested_by(HANNA)]


async def test_the_api_refuses_requesters_who_are_not_people_of_org_yaml_and_the_bot_itself(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    url = api_url(baton, "expense-approval")
    for stranger in ("U0NOBODY", slack.bot_user_id, ADMIN):
        status, body = await post(url, {**EXPENSE, "requester": stranger})
        assert status == 422, stranger
        assert body["errors"] == {"requester": f"{stranger} is not a person in org.yaml"}
    async with baton.store.transaction() as work:
        assert await work.instance(1) is None


async def test_naming_an_admin_through_the_api_does_not_skip_who_may_start_the_workflow(scoped: Baton) -> None:
    status, body = await post(api_url(scoped, "onboarding"), {**ONBOARDING, "requester": MARIA}, token=HR_TOKEN)
    assert status == 403 and "U0MARIA is not among the people who may start onboarding" in body["error"]
    assert (await post(api_url(scoped, "onboarding"), {**ONBOARDING, "requester": HANNA}, token=HR_TOKEN))[0] == 201


async def test_a_token_starts_only_its_workflows_and_only_as_its_requester(scoped: Baton) -> None:
    expense = api_url(scoped, "expense-approval")
    form = {"form": EXPENSE["form"]}
    assert (await post(api_url(scoped, "purchase"), {**form, "requester": ALICE}, token=ERP_TOKEN))[0] == 404
    status, body = await post(expense, {**form, "requester": BOB}, token=ERP_TOKEN)
    assert status == 403 and "may not name requesters" in body["error"]
    status, body = await post(expense, form, token=ERP_TOKEN)
    assert status == 201, body
    async with scoped.store.transaction(read_only=True) as work:
        started = await work.instance(body["instance"])
    assert started is not None and started.requester == ALICE
    assert (await post(expense, {**form, "requester": ALICE}, token=ERP_TOKEN))[0] == 201  # naming itself is fine
    assert (await post(expense, form, token=API_TOKEN))[0] == 401  # a token of another Baton


async def test_malformed_start_requests_get_a_4xx_and_one_short_log_line_each(
    scoped: Baton, caplog: pytest.LogCaptureFixture
) -> None:
    url = api_url(scoped, "expense-approval")
    auth = {"Authorization": f"Bearer {HR_TOKEN}"}
    bodies: list[tuple[bytes, dict[str, str]]] = [
        (b"[" * 100_000 + b"]" * 100_000, {}),  # deeper than any parser should go
        (json.dumps({**EXPENSE, "form": {"reason": "\x00nul"}}).encode(), {}),
        (b'{"requester": "U0ALICE", "form": {"amount": NaN}}', {}),
        (b'{"requester": "U0ALICE", "form": {"amount": 1e999}}', {}),
        (json.dumps({"requester": "U0ALICE\n", "form": {"x" * 50_000: 1}}).encode(), {}),
        ("{}".encode("utf-16"), {"Content-Type": "application/json; charset=utf-16"}),
        (b"{}", {"Content-Type": "application/json; charset=no-such-charset"}),
        (b"\xff\xfe\xfa", {}),
        (b"", {}),
    ]
    async with aiohttp.ClientSession() as session:
        for data, headers in bodies:
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="bot"):
                async with session.post(url, data=data, headers={**auth, **headers}) as response:
                    assert 400 <= response.status < 500, (data[:40], response.status)
            lines = [record.getMessage() for record in caplog.records if record.name.startswith("bot")]
            assert len(lines) == 1 and len(lines[0]) < 500 and "\n" not in lines[0], lines
    assert await instances(scoped) == []


# ---- outgoing webhooks ----------------------------------------------------------------------------


def verify(headers: dict[str, str], body: dict[str, Any], raw: bytes) -> None:
    timestamp = headers["X-Baton-Timestamp"]
    assert abs(time.time() - int(timestamp)) < 60
    expected = hmac.new(HOOK_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    assert headers["X-Baton-Signature"] == f"sha256={expected}"
    assert headers["X-Baton-Delivery"] == body["delivery"]


async def test_webhooks_arrive_signed_in_order_and_a_failed_attempt_is_retried(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, hooks: HookServer
) -> None:
    started = await baton.service.start("purchase", ALICE, {"item": "chairs", "cost": 120})
    assert isinstance(started, Started)
    approval = await task_message(slack, MARIA, "task_approve")
    await driver.click_button_in(approval, MARIA, "task_approve")
    order = await task_message(slack, ALICE, "task_complete")
    await driver.click_button_in(order, ALICE, "task_complete")
    await dm_containing(slack, ALICE, "was *completed*")
    received = await slack.wait_for(lambda: hooks.deliveries() if len(hooks.deliveries()) >= 5 else None, 10)
    raw_bodies = [raw for path, _headers, raw in hooks.received if path == "/hook"]
    for (headers, body), raw in zip(received, raw_bodies, strict=True):
        verify(headers, body, raw)
    first, retried = received[0][1], received[1][1]
    assert first == retried and first["event"] == "started"  # the 500 was retried with the same delivery
    assert [body["event"] for _h, body in received[1:]] == ["started", "step_done", "step_done", "finished"]
    approved = received[2][1]
    assert approved["step"] == {
        "id": "manager_ok", "task_id": approved["step"]["task_id"], "title": "Approve chairs",
        "outcome": "approved", "by": MARIA,
    }  # fmt: skip
    assert approved["instance"]["form"] == {"item": "chairs", "cost": 120}
    assert received[-1][1]["outcome"] == "completed"


async def test_a_webhook_refused_for_good_is_recorded_in_the_history(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, hooks: HookServer
) -> None:
    started = await baton.service.start("purchase", ALICE, {"item": "desk", "cost": 300})
    assert isinstance(started, Started)
    await baton.service.cancel(started.instance.id, ALICE, "not needed")

    async def failure_recorded() -> list[dict[str, Any]]:
        async with baton.store.transaction() as work:
            trail = await work.audit_trail(started.instance.id)
        return [entry.data for entry in trail if entry.kind == "delivery_failed"]

    deadline = asyncio.get_running_loop().time() + 10
    while not (failures := await failure_recorded()):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert failures == [{"method": "webhook", "conversation": f"{hooks.url}/gone", "error": "http_410"}]
    assert len(hooks.deliveries("/gone")) == 1  # a 410 is not retried


async def delivery_failures(baton: Baton, instance_id: int, count: int) -> list[dict[str, Any]]:
    """Wait until the request's history records `count` failed deliveries; return them."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with baton.store.transaction() as work:
            trail = await work.audit_trail(instance_id)
        failures = [entry.data for entry in trail if entry.kind == "delivery_failed"]
        if len(failures) >= count or asyncio.get_running_loop().time() > deadline:
            return failures
        await asyncio.sleep(0.05)


def hooked_workflow(directory: Path, *urls: str) -> Path:
    hooks = "\n".join(f'  - {{url: "{url}", events: started, secret_env: {HOOK_SECRET_ENV}}}' for url in urls)
    return copy_workflows(directory, hooked=f"""
name: hooked
title: Hooked
form: [{{id: item, label: Item}}]
webhooks:
{hooks}
steps:
  - {{id: manager_ok, type: approval, title: "Approve {{form.item}}", assignee: requester.manager}}
""")


async def test_webhooks_to_loopback_private_and_link_local_addresses_are_refused_and_never_called(
    tmp_path: Path, slack: SlackEmulator, hooks: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_SECRET_ENV, HOOK_SECRET)
    port = hooks.url.rsplit(":", 1)[1]
    urls = (
        f"{hooks.url}/hook",  # 127.0.0.1, where the receiver listens
        f"http://localhost:{port}/hook",  # a name that resolves to loopback: checked as resolved
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata address
        "http://10.11.12.13/internal",
    )
    async with running_baton(tmp_path, slack, workflows_dir=hooked_workflow(tmp_path / "workflows", *urls)) as (
        baton, _driver
    ):
        started = await baton.service.start("hooked", ALICE, {"item": "chairs"})
        assert isinstance(started, Started)
        failures = await delivery_failures(baton, started.instance.id, len(urls))
    assert sorted(failure["conversation"] for failure in failures) == sorted(urls)
    assert {failure["error"] for failure in failures} == {"private_address"}
    assert hooks.received == []


async def test_a_webhook_answered_with_a_redirect_fails_for_good_without_following_it(
    tmp_path: Path, slack: SlackEmulator, hooks: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOOK_SECRET_ENV, HOOK_SECRET)
    workflows = hooked_workflow(tmp_path / "workflows", f"{hooks.url}/moved")
    async with running_baton(tmp_path, slack, workflows_dir=workflows, webhook_allow_private_addresses=True) as (
        baton, _driver
    ):
        started = await baton.service.start("hooked", ALICE, {"item": "desk"})
        assert isinstance(started, Started)
        failures = await delivery_failures(baton, started.instance.id, 1)
        await asyncio.sleep(0.5)  # time for a retry, if there were one
    assert failures == [{"method": "webhook", "conversation": f"{hooks.url}/moved", "error": "http_302"}]
    assert [path for path, _headers, _body in hooks.received] == ["/moved"]


def test_a_webhook_signed_with_one_of_batons_own_secrets_is_refused_at_load_with_file_and_line(
    tmp_path: Path,
) -> None:
    for secret in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "API_TOKEN", "DATABASE_URL"):
        directory = copy_workflows(tmp_path / secret, hooked=f"""name: hooked
title: Hooked
webhooks:
  - {{url: "https://erp.example.com/hook", secret_env: {secret}}}
steps:
  - {{id: manager_ok, type: approval, title: "Approve", assignee: requester.manager}}
""")
        errors = [str(error) for error in load_catalog(directory).errors]
        assert len(errors) == 1, errors
        assert errors[0].endswith(f"hooked.yaml:4: webhooks[0].secret_env: {secret} is one of Baton's own secrets; "
                                  "sign webhooks with a secret of their own, e.g. ERP_HOOK_SECRET"), errors


async def test_a_queued_webhook_naming_one_of_batons_own_secrets_is_never_sent(
    hooks: HookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery queued before its workflow file was refused (or written into the outbox by hand) still
    never signs with Baton's own token: it fails for good at send time, and the receiver gets nothing."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    queued = {"url": f"{hooks.url}/hook", "body": json.dumps({"event": "completed"}), "secret_env": "SLACK_BOT_TOKEN"}
    outcome = await post_webhook(queued, datetime.now(UTC), allow_private=True)
    assert (outcome.ok, outcome.permanent, outcome.error) == (False, True, "secret_refused")
    assert hooks.deliveries() == []
    monkeypatch.setenv("ERP_HOOK_SECRET", "a-secret-of-its-own")
    outcome = await post_webhook({**queued, "secret_env": "ERP_HOOK_SECRET"}, datetime.now(UTC), allow_private=True)
    assert len(hooks.deliveries()) == 1 and not outcome.permanent  # with a secret of its own it is sent (this
    # receiver answers its first delivery 500, to be retried)


# ---- operations endpoints ------------------------------------------------------------------------

METRICS_TOKEN = "metrics-token-for-tests-0c4d"


async def test_with_a_metrics_token_metrics_need_it_and_health_says_only_ok_to_others(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    async with running_baton(tmp_path, slack, metrics_token=SecretStr(METRICS_TOKEN)) as (baton, driver):
        await start_expense(driver, slack, ALICE, 30, "Lunch with a client")
        await task_message(slack, MARIA, "task_approve")
        base = f"http://127.0.0.1:{baton.http.port}"
        operator = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        async with aiohttp.ClientSession() as session:
            for headers in ({}, {"Authorization": "Bearer guessed"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
                async with session.get(f"{base}/metrics", headers=headers) as response:
                    text = await response.text()
                    assert response.status == 401 and "expense-approval" not in text and "baton_" not in text
                async with session.get(f"{base}/healthz", headers=headers) as response:
                    assert response.status == 200 and await response.json() == {"ok": True}
            async with session.get(f"{base}/metrics", headers=operator) as response:
                assert response.status == 200
                assert 'baton_open_tasks{workflow="expense-approval"} 1.0' in await response.text()
            async with session.get(f"{base}/healthz", headers=operator) as response:
                assert {"ok", "store", "outbox_pending", "sender", "scheduler"} <= set(await response.json())


# ---- logs -----------------------------------------------------------------------------------------


async def test_json_logs_carry_context_and_never_a_secret(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, hooks: HookServer, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    handler = log_handler("json", baton.settings.secrets, stream=stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        lamp = {"requester": ALICE, "form": {"item": "lamp", "cost": 9}}
        assert (await post(api_url(baton, "purchase"), lamp))[0] == 201
        assert (await post(api_url(baton, "purchase"), {"requester": ALICE}, token="not-the-token"))[0] == 401
        await start_expense(driver, slack, ALICE, 30, "Lunch with a client")
        approval = await task_message(slack, MARIA, "task_approve", containing="30")
        await driver.click_button_in(approval, MARIA, "task_approve")
        await slack.wait_for(lambda: hooks.deliveries() or None, 10)
        await dm_containing(slack, ALICE, "was *completed*")
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    written = stream.getvalue()
    for secret in (SIGNING_SECRET, BOT_TOKEN, API_TOKEN, HOOK_SECRET):
        assert secret not in written, secret
        assert secret not in caplog.text, secret  # not even before redaction: Baton never logs them
    lines = [json.loads(line) for line in written.splitlines()]
    started = [line for line in lines if line["message"].startswith("started through the api")]
    assert started and started[0]["workflow"] == "purchase" and started[0]["instance"] == 1
    acted = next(line for line in lines if line["message"].startswith("task approve"))
    assert (acted["workflow"], acted["step"]) == ("expense-approval", "manager_approval")
    assert {"time", "level", "logger", "message"} <= set(lines[0])


def test_the_redactor_blanks_out_secrets_and_token_shaped_text() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    handler = log_handler("text", ["sekrit-value-123"], stream=stream)
    logger.addHandler(handler)
    try:
        logger.warning("oops %s %s %s", "sekrit-value-123", "xoxb-1234-5678-abcdef", "Authorization: Bearer a.b.cdef")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "sekrit" not in text and "xoxb-1234" not in text and "a.b.cdef" not in text
    assert text.count("[redacted]") == 3
