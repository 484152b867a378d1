"""Tests of the Slack emulator, payload builders, signing and driver, through the real slack_sdk client."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import (
    DEFAULT_REFERENCE_DIR,
    Delay,
    Drop,
    HttpError,
    RateLimited,
    RecordedCall,
    SlackDriver,
    SlackEmulator,
    SlackError,
    payloads,
    sign_request,
    validate_blocks,
    validate_view,
)

TOKEN = "xoxb-test-token"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")

needs_reference = pytest.mark.skipif(
    not (DEFAULT_REFERENCE_DIR / "methods").is_dir(),
    reason=f"Slack API reference not found at {DEFAULT_REFERENCE_DIR} (CI provides ../shared/slack-api-ref)",
)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def approve_blocks() -> list[dict[str, Any]]:
    return [
        section("Approve the deploy?"),
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": "run-42:approve",
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": "run-42:reject",
                },
            ],
        },
    ]


def modal(title: str = "Start workflow", *, with_input: bool = True) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [section("Fill in")]
    if with_input:
        blocks.append(
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "reason_input"},
            }
        )
    return {
        "type": "modal",
        "callback_id": "start",
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Start"},
        "blocks": blocks,
    }


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    emu = SlackEmulator(bot_token=TOKEN)
    emu.add_user("U1", name="alice", real_name="Alice Archer", tz="Europe/Berlin", email="alice@example.com")
    emu.add_user("U2", name="bob", real_name="Bob Baker", tz="America/New_York", email="bob@example.com")
    emu.add_channel("C0GENERAL", "general", ["U1", "U2"])
    emu.add_usergroup("S0ONCALL", "oncall", ["U1", "U2"])
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def client(emulator: SlackEmulator) -> AsyncIterator[AsyncWebClient]:
    web_client = AsyncWebClient(token=TOKEN, base_url=emulator.api_url)
    yield web_client
    if web_client.session is not None:
        await web_client.session.close()


async def post_json(url: str, body: dict[str, Any]) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as reply:
        return reply.status


async def slack_error(call: Awaitable[Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# --- Web API behaviour -----------------------------------------------------------------------------------


async def test_post_to_user_opens_dm_and_returns_increasing_ts(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(channel="U1", text="hello")
    second = await client.chat_postMessage(channel="U1", text="again")

    dm = emulator.dm_channel("U1")
    assert dm is not None and dm.startswith("D")
    assert first["channel"] == dm and second["channel"] == dm
    assert TS_PATTERN.match(first["ts"]) and TS_PATTERN.match(second["ts"])
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["text"] == "hello"
    assert first["message"]["bot_id"] == emulator.bot_id
    assert [m.text for m in emulator.dm_messages("U1")] == ["hello", "again"]
    opened = await client.conversations_open(users="U1")
    assert opened["channel"]["id"] == dm
    assert opened["already_open"] is True


async def test_thread_replies_and_permalink(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL", text="parent")
    reply = await client.chat_postMessage(channel="C0GENERAL", text="reply", thread_ts=parent["ts"])

    assert reply["message"]["thread_ts"] == parent["ts"]
    assert [m.text for m in emulator.thread("C0GENERAL", parent["ts"])] == ["reply"]
    message = emulator.message("C0GENERAL", parent["ts"])
    assert message is not None and message.reply_count == 1
    link = await client.chat_getPermalink(channel="C0GENERAL", message_ts=reply["ts"])
    assert link["permalink"].endswith(f"?thread_ts={parent['ts']}&cid=C0GENERAL")


async def test_chat_update_replaces_in_place_and_keeps_versions(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0GENERAL", text="Pending", blocks=approve_blocks())
    updated = await client.chat_update(
        channel="C0GENERAL", ts=posted["ts"], text="Approved", blocks=[section("Approved by <@U1>")]
    )

    assert updated["ts"] == posted["ts"]
    assert updated["message"]["edited"]["user"] == emulator.bot_user_id
    [message] = emulator.messages("C0GENERAL")
    assert message.text == "Approved"
    assert message.blocks[0]["text"]["text"] == "Approved by <@U1>"
    assert message.updates == 1 and message.edited
    assert [v.text for v in message.versions] == ["Pending", "Approved"]

    text_only = await client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="Approved!")
    assert text_only["message"]["blocks"][0]["text"]["text"] == "Approved by <@U1>"  # blocks retained

    missing = await slack_error(client.chat_update(channel="C0GENERAL", ts="1.000001", text="x"))
    assert missing.response["error"] == "message_not_found"


@needs_reference
async def test_missing_required_argument_answers_the_reference_error(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    assert emulator.reference is not None
    error = await slack_error(client.api_call("chat.postMessage", json={"text": "no channel"}))
    assert error.response["error"] == "channel_not_found"
    assert "channel_not_found" in emulator.reference.methods["chat.postMessage"].errors
    assert "missing required field: channel" in error.response["response_metadata"]["messages"][0]

    error = await slack_error(client.api_call("users.info", http_verb="GET", params={}))
    assert error.response["error"] == "user_not_found"

    error = await slack_error(
        client.api_call("chat.postEphemeral", json={"channel": "C0GENERAL", "text": "x"})
    )
    assert error.response["error"] == "invalid_arguments"  # postEphemeral lists no user_* error

    error = await slack_error(client.api_call("files.getUploadURLExternal", params={"filename": "a.txt"}))
    assert error.response["error"] == "missing_argument"
    assert emulator.calls[-1].args == {"filename": "a.txt"}


@needs_reference
async def test_tiers_come_from_the_reference(emulator: SlackEmulator) -> None:
    raw = json.loads((DEFAULT_REFERENCE_DIR / "methods" / "chat.update.json").read_text())
    assert emulator.tier_of("chat.update") == raw["rate_limits"]
    assert emulator.tier_of("no.such.method") is None
    assert emulator.reference_available


async def test_without_reference_runs_without_validation(tmp_path: Path) -> None:
    emu = SlackEmulator(reference_dir=tmp_path / "absent")
    assert not emu.reference_available
    assert emu.reference_problem is not None and "absent" in emu.reference_problem
    assert emu.tier_of("chat.postMessage") is None
    async with emu:
        web_client = AsyncWebClient(token=emu.bot_token, base_url=emu.api_url)
        error = await slack_error(web_client.api_call("chat.postMessage", json={"text": "x"}))
        assert error.response["error"] == "channel_not_found"  # from the handler itself


async def test_auth_errors_and_unknown_channel_or_method(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    auth = await client.auth_test()
    assert auth["user_id"] == emulator.bot_user_id and auth["team_id"] == emulator.team_id

    error = await slack_error(client.chat_postMessage(channel="C0NOPE", text="x"))
    assert error.response["error"] == "channel_not_found"
    assert error.response.status_code == 200
    assert emulator.messages("C0NOPE") == []

    error = await slack_error(client.api_call("chat.fly"))
    assert error.response["error"] == "unknown_method"

    wrong = AsyncWebClient(token="xoxb-wrong", base_url=emulator.api_url)
    assert (await slack_error(wrong.auth_test())).response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=emulator.api_url)
    assert (await slack_error(anonymous.auth_test())).response["error"] == "not_authed"

    error = await slack_error(client.api_call("chat.postMessage", json={"channel": "C0GENERAL"}))
    assert error.response["error"] == "no_text"


async def test_form_encoded_json_string_args_are_normalised(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    response = await client.api_call(
        "chat.postMessage",
        data={"channel": "C0GENERAL", "text": "form", "blocks": json.dumps([section("from a form")])},
    )
    assert response["ok"]
    assert emulator.calls_to("chat.postMessage")[-1].args["blocks"][0]["type"] == "section"
    assert emulator.messages("#general")[0].blocks[0]["text"]["text"] == "from a form"


async def test_block_kit_limits(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    too_many = [section(f"item {i}") for i in range(51)]
    error = await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=too_many))
    assert error.response["error"] == "invalid_blocks"
    assert emulator.messages("C0GENERAL") == []
    assert (await client.chat_postMessage(channel="C0GENERAL", text="x", blocks=too_many[:50]))["ok"]

    long_section = [section("x" * 3001)]
    error = await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=long_section))
    assert error.response["error"] == "invalid_blocks"

    button = approve_blocks()
    button[1]["elements"][0]["value"] = "v" * 2001
    assert validate_blocks(button)
    error = await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x", blocks=button))
    assert error.response["error"] == "invalid_blocks"

    error = await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x" * 40_001))
    assert error.response["error"] == "msg_too_long"

    home = {"type": "home", "blocks": [section(str(i)) for i in range(101)]}
    error = await slack_error(client.views_publish(user_id="U1", view=home))
    assert error.response["error"] == "invalid_arguments"
    assert emulator.home_view("U1") is None


async def test_ephemeral_delete_and_lookups(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    ephemeral = await client.chat_postEphemeral(channel="C0GENERAL", user="U2", text="only you")
    assert TS_PATTERN.match(ephemeral["message_ts"])
    assert [e.text for e in emulator.ephemerals("U2")] == ["only you"]
    assert emulator.ephemerals("U1") == [] and emulator.messages("C0GENERAL") == []
    emulator.add_channel("C0SECRET", "secret", ["U1"])
    error = await slack_error(client.chat_postEphemeral(channel="C0SECRET", user="U2", text="x"))
    assert error.response["error"] == "user_not_in_channel"
    emulator.add_channel("C0UNINVITED", "uninvited", bot_is_member=False)  # nobody ran /invite @baton there
    error = await slack_error(client.chat_postMessage(channel="#uninvited", text="x"))
    assert error.response["error"] == "not_in_channel" and emulator.messages("C0UNINVITED") == []

    posted = await client.chat_postMessage(channel="C0GENERAL", text="oops")
    await client.chat_delete(channel="C0GENERAL", ts=posted["ts"])
    assert emulator.messages("C0GENERAL") == []
    assert emulator.deleted_messages[0].text == "oops"

    info = await client.users_info(user="U1")
    assert info["user"]["tz"] == "Europe/Berlin"
    assert info["user"]["tz_offset"] in (3600, 7200)
    assert info["user"]["profile"]["email"] == "alice@example.com"
    assert (await slack_error(client.users_info(user="U404"))).response["error"] == "user_not_found"
    found = await client.users_lookupByEmail(email="BOB@example.com")
    assert found["user"]["id"] == "U2"
    error = await slack_error(client.users_lookupByEmail(email="nobody@example.com"))
    assert error.response["error"] == "users_not_found"
    assert (await client.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U1", "U2"]
    error = await slack_error(client.usergroups_users_list(usergroup="S0NOPE"))
    assert error.response["error"] == "no_such_subteam"
    info = await client.conversations_info(channel="C0GENERAL")
    assert info["channel"]["name"] == "general"


# --- views -----------------------------------------------------------------------------------------------


async def test_views_open_needs_a_fresh_unused_trigger() -> None:
    clock = FakeClock()
    async with SlackEmulator(bot_token=TOKEN, clock=clock) as emu:
        emu.add_user("U1", name="alice")
        web_client = AsyncWebClient(token=TOKEN, base_url=emu.api_url)

        trigger = emu.issue_trigger_id("U1")
        opened = await web_client.views_open(trigger_id=trigger, view=modal())
        view = opened["view"]
        assert view["id"].startswith("V") and view["hash"] and view["state"] == {"values": {}}
        assert view["root_view_id"] == view["id"]
        assert [v["id"] for v in emu.open_views("U1")] == [view["id"]]

        used = await slack_error(web_client.views_open(trigger_id=trigger, view=modal()))
        assert used.response["error"] == "exchanged_trigger_id"

        stale = emu.issue_trigger_id("U1")
        clock.now += 3.5
        expired = await slack_error(web_client.views_open(trigger_id=stale, view=modal()))
        assert expired.response["error"] == "expired_trigger_id"

        bogus = await slack_error(web_client.views_open(trigger_id="1.2.3", view=modal()))
        assert bogus.response["error"] == "invalid_trigger_id"

        no_submit = modal()
        del no_submit["submit"]
        error = await slack_error(
            web_client.views_open(trigger_id=emu.issue_trigger_id("U1"), view=no_submit)
        )
        assert error.response["error"] == "invalid_arguments"
        assert len(emu.open_views("U1")) == 1


async def test_views_push_update_and_publish(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    root = (await client.views_open(trigger_id=emulator.issue_trigger_id("U1"), view=modal()))["view"]
    pushed = (await client.views_push(trigger_id=emulator.issue_trigger_id("U1"), view=modal("Step 2")))[
        "view"
    ]
    assert pushed["previous_view_id"] == root["id"] and pushed["root_view_id"] == root["id"]
    assert [v["title"]["text"] for v in emulator.open_views("U1")] == ["Start workflow", "Step 2"]

    updated = await client.views_update(view_id=pushed["id"], hash=pushed["hash"], view=modal("Step 2b"))
    assert updated["view"]["id"] == pushed["id"] and updated["view"]["hash"] != pushed["hash"]
    stale = await slack_error(client.views_update(view_id=pushed["id"], hash=pushed["hash"], view=modal()))
    assert stale.response["error"] == "hash_conflict"
    missing = await slack_error(client.views_update(view_id="V404", view=modal()))
    assert missing.response["error"] == "not_found"

    with_external = modal() | {"external_id": "run-42"}
    third = await client.views_push(trigger_id=emulator.issue_trigger_id("U1"), view=with_external)
    by_external = await client.views_update(external_id="run-42", view=with_external | {"callback_id": "x"})
    assert by_external["view"]["id"] == third["view"]["id"]
    full = await slack_error(client.views_push(trigger_id=emulator.issue_trigger_id("U1"), view=modal()))
    assert full.response["error"] == "push_limit_reached"

    home = {"type": "home", "blocks": [section("Your tasks")]}
    published = await client.views_publish(user_id="U2", view=home)
    again = await client.views_publish(user_id="U2", view=home)
    assert again["view"]["id"] == published["view"]["id"]
    stored = emulator.home_view("U2")
    assert stored is not None and stored["blocks"][0]["text"]["text"] == "Your tasks"
    error = await slack_error(client.views_publish(user_id="U2", view=home, hash="stale"))
    assert error.response["error"] == "hash_conflict"


async def test_file_upload_v2_round_trip(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.files_upload_v2(
        channel="C0GENERAL", content="a,b\n1,2\n", filename="report.csv", title="Report"
    )
    [uploaded] = emulator.files
    assert result["file"]["id"] == uploaded.id
    assert uploaded.content == b"a,b\n1,2\n" and uploaded.title == "Report"
    assert uploaded.channels == ("C0GENERAL",)
    [message] = emulator.messages("C0GENERAL")
    assert message.files[0]["id"] == uploaded.id


# --- faults and recording --------------------------------------------------------------------------------


async def test_rate_limited_fault_surfaces_as_429_with_retry_after(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.inject("chat.postMessage", RateLimited(retry_after=7))
    error = await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x"))
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert emulator.messages("C0GENERAL") == []
    [call] = emulator.calls_to("chat.postMessage")
    assert call.faulted and call.status == 429

    assert (await client.chat_postMessage(channel="C0GENERAL", text="x"))["ok"]  # one-shot fault
    assert len(emulator.messages("C0GENERAL")) == 1


async def test_drop_raises_a_connection_error(emulator: SlackEmulator) -> None:
    no_retry = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[])
    emulator.inject("auth.test", Drop())
    with pytest.raises(aiohttp.ClientConnectionError):
        await no_retry.auth_test()
    [call] = emulator.calls_to("auth.test")
    assert call.faulted and call.status == 0

    fast_retry = AsyncConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0.01))
    retrying = AsyncWebClient(token=TOKEN, base_url=emulator.api_url, retry_handlers=[fast_retry])
    emulator.inject("auth.test", Drop())
    assert (await retrying.auth_test())["ok"]  # a single drop is survived by slack_sdk's retry
    assert [c.faulted for c in emulator.calls_to("auth.test")] == [True, True, False]


async def test_other_faults_and_star(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.inject("*", SlackError("fatal_error"))
    assert (await slack_error(client.users_info(user="U1"))).response["error"] == "fatal_error"
    emulator.inject("users.info", HttpError(503))
    assert (await slack_error(client.users_info(user="U1"))).response.status_code == 503
    emulator.inject("users.info", Delay(0.05))
    assert (await client.users_info(user="U1"))["ok"]
    assert emulator.calls[-1].fault == Delay(0.05) and not emulator.calls[-1].faulted

    emulator.random_failures(0.5, seed=7, faults=[SlackError("internal_error")])
    outcomes = []
    for _ in range(20):
        try:
            await client.auth_test()
            outcomes.append(True)
        except SlackApiError:
            outcomes.append(False)
    assert True in outcomes and False in outcomes
    emulator.random_failures(0.0, seed=0, faults=[])


async def test_enforced_rate_limits(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.enforce_rate_limits({"users.info": 2})
    await client.users_info(user="U1")
    await client.users_info(user="U1")
    error = await slack_error(client.users_info(user="U1"))
    assert error.response.status_code == 429 and int(error.response.headers["Retry-After"]) >= 1


async def test_wait_for_and_listeners(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    seen: list[RecordedCall] = []

    async def listener(call: RecordedCall) -> None:
        seen.append(call)

    unsubscribe = emulator.on_call(listener)
    await client.chat_postMessage(channel="U2", text="ping")
    message = await emulator.wait_for(lambda: next(iter(emulator.dm_messages("U2")), None), timeout=1)
    assert message.text == "ping"
    assert [c.method for c in seen] == ["chat.postMessage"]
    unsubscribe()
    await client.auth_test()
    assert len(seen) == 1

    with pytest.raises(TimeoutError, match="chat.postMessage"):
        await emulator.wait_for(lambda: emulator.dm_messages("U1"), timeout=0.1)


# --- signing and the driver ------------------------------------------------------------------------------


def test_sign_request_matches_slack_sdk() -> None:
    body = "token=x&command=%2Fworkflow&text=start+deploy"
    timestamp = 1_531_420_618
    signature = sign_request(SECRET, timestamp, body)
    verifier = SignatureVerifier(SECRET, clock=_FixedClock(timestamp))
    assert signature == verifier.generate_signature(timestamp=str(timestamp), body=body)
    assert verifier.is_valid(body=body, timestamp=str(timestamp), signature=signature)
    assert not verifier.is_valid(body=body + "x", timestamp=str(timestamp), signature=signature)


@dataclass
class _FixedClock:
    value: float

    def now(self) -> float:
        return self.value


@dataclass
class FakeBaton:
    """A tiny app that checks Slack's signature on every request and answers as told."""

    verifier: SignatureVerifier
    received: list[tuple[bool, dict[str, str], str]] = field(default_factory=list)
    answer: Callable[[str], web.StreamResponse] | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        valid = self.verifier.is_valid_request(body, dict(request.headers))
        self.received.append((valid, dict(request.headers), body))
        if not valid:
            return web.Response(status=401, text="invalid signature")
        if self.answer is not None:
            return self.answer(body)
        return web.Response(status=200)

    def payload(self, index: int = -1) -> dict[str, Any]:
        fields = dict(parse_qsl(self.received[index][2]))
        parsed: dict[str, Any] = json.loads(fields["payload"])
        return parsed


@pytest.fixture
async def baton() -> AsyncIterator[tuple[FakeBaton, str]]:
    fake = FakeBaton(SignatureVerifier(SECRET))
    app = web.Application()
    app.router.add_post("/slack/events", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield fake, f"http://127.0.0.1:{port}/slack/events"
    await runner.cleanup()


async def test_driver_requests_are_signed_and_slack_shaped(
    emulator: SlackEmulator, client: AsyncWebClient, baton: tuple[FakeBaton, str]
) -> None:
    fake, url = baton
    async with SlackDriver(url, SECRET, emulator) as driver:
        response = await driver.send_command("U1", "start deploy", channel_id="C0GENERAL")
        assert response.status == 200
        valid, headers, body = fake.received[-1]
        assert valid and headers["Content-Type"] == "application/x-www-form-urlencoded"
        fields = dict(parse_qsl(body))
        assert fields["command"] == "/workflow" and fields["text"] == "start deploy"
        assert fields["user_name"] == "alice" and fields["channel_name"] == "general"
        # The trigger id in the command is one the emulator accepts, once.
        opened = await client.views_open(trigger_id=fields["trigger_id"], view=modal())
        assert opened["ok"]

        # Baton answers through the response_url: it lands as an ephemeral for the user.
        assert await post_json(fields["response_url"], {"text": "Started run 42"}) == 200
        assert [e.text for e in emulator.ephemerals("U1")] == ["Started run 42"]
        assert emulator.response_url_posts[-1].outcome == "ephemeral"

        posted = await client.chat_postMessage(channel="C0GENERAL", text="Approve?", blocks=approve_blocks())
        message = emulator.message("C0GENERAL", posted["ts"])
        assert message is not None
        await driver.click_button_in(message, "U2", "approve")
        payload = fake.payload()
        assert payload["type"] == "block_actions"
        assert payload["user"] == {"id": "U2", "username": "bob", "name": "bob", "team_id": "T0BATON"}
        assert payload["container"] == {
            "type": "message",
            "message_ts": posted["ts"],
            "channel_id": "C0GENERAL",
            "is_ephemeral": False,
        }
        [action] = payload["actions"]
        assert action["action_id"] == "approve" and action["block_id"] == "decision"
        assert action["value"] == "run-42:approve" and action["type"] == "button"
        assert payload["message"]["ts"] == posted["ts"] and payload["channel"]["id"] == "C0GENERAL"

        replace = {"replace_original": True, "text": "Approved", "blocks": [section("Approved")]}
        assert await post_json(payload["response_url"], replace) == 200
        updated = emulator.message("C0GENERAL", posted["ts"])
        assert updated is not None and updated.text == "Approved"

        event_response = await driver.send_event(
            payloads.app_mention_event(user_id="U1", channel_id="C0GENERAL", text="status"),
            event_id="Ev0001",
            retry_num=1,
        )
        assert event_response.status == 200
        valid, headers, body = fake.received[-1]
        envelope = json.loads(body)
        assert valid and headers["X-Slack-Retry-Num"] == "1"
        assert envelope["type"] == "event_callback" and envelope["event_id"] == "Ev0001"
        assert envelope["event"]["text"] == f"<@{emulator.bot_user_id}> status"

        unsigned = await driver.post_raw("{}", "application/json", sign=False)
        assert unsigned.status == 401
        stale = await driver.post_raw("{}", "application/json", timestamp=1_000_000_000)
        assert stale.status == 401


async def test_driver_submit_view_follows_the_response_action(
    emulator: SlackEmulator, client: AsyncWebClient, baton: tuple[FakeBaton, str]
) -> None:
    fake, url = baton
    view = (await client.views_open(trigger_id=emulator.issue_trigger_id("U1"), view=modal()))["view"]
    values = {"reason": {"reason_input": payloads.plain_text_value("")}}

    fake.answer = lambda body: web.json_response(
        {"response_action": "errors", "errors": {"reason": "Please give a reason"}}
    )
    async with SlackDriver(url, SECRET, emulator) as driver:
        response = await driver.submit_view("U1", view, values)
        assert response.json()["response_action"] == "errors"
        payload = fake.payload()
        assert payload["type"] == "view_submission"
        assert payload["view"]["id"] == view["id"] and payload["view"]["hash"] == view["hash"]
        assert payload["view"]["state"]["values"] == {
            "reason": {"reason_input": {"type": "plain_text_input", "value": ""}}
        }
        assert emulator.view_errors(view["id"]) == {"reason": "Please give a reason"}
        assert len(emulator.open_views("U1")) == 1

        fake.answer = None  # empty 200: the modal closes
        values = {"reason": {"reason_input": payloads.plain_text_value("hotfix")}}
        assert (await driver.submit_view("U1", view["id"], values)).status == 200
        assert emulator.open_views("U1") == []


def test_payload_value_helpers_and_action_shapes() -> None:
    assert payloads.static_select_value("p1", "High") == {
        "type": "static_select",
        "selected_option": {"text": {"type": "plain_text", "text": "High", "emoji": True}, "value": "p1"},
    }
    assert payloads.date_value("2026-12-01") == {"type": "datepicker", "selected_date": "2026-12-01"}
    assert payloads.user_value("U1") == {"type": "users_select", "selected_user": "U1"}
    assert payloads.number_value(3) == {"type": "number_input", "value": "3"}

    select = {
        "type": "static_select",
        "action_id": "priority",
        "options": [
            {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
            {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
        ],
    }
    view = {
        "id": "V1",
        "type": "modal",
        "blocks": [{"type": "actions", "block_id": "b1", "elements": [select]}],
    }
    payload = payloads.block_actions(
        user_id="U1", action_id="priority", value="high", trigger_id="t", view=view
    )
    assert payload["container"] == {"type": "view", "view_id": "V1"}
    assert "response_url" not in payload and "message" not in payload
    [action] = payload["actions"]
    assert action["type"] == "static_select" and action["block_id"] == "b1"
    assert action["selected_option"]["value"] == "high"
    assert action["selected_option"]["text"]["text"] == "High"

    fields = payloads.slash_command(
        command="workflow", text="", user_id="U1", channel_id="D123", trigger_id="t"
    )
    assert fields["command"] == "/workflow" and fields["channel_name"] == "directmessage"
    assert payloads.url_verification("abc")["challenge"] == "abc"


# --- Workflow Builder steps (functions.*) ------------------------------------------------------------------

GREETING = {
    "title": "Greet",
    "input_parameters": {"properties": {"user_id": {"type": "slack#/types/user_id"}}, "required": ["user_id"]},
    "output_parameters": {
        "properties": {"greeted": {"type": "slack#/types/user_id"}, "at": {"type": "slack#/types/timestamp"}},
        "required": ["greeted"],
    },
}


async def test_function_executed_has_slacks_shape_from_the_manifest(emulator: SlackEmulator) -> None:
    emulator.define_functions({"greet": GREETING})
    event = emulator.execute_function("greet", {"user_id": "U1"})
    assert event["type"] == "function_executed" and event["function"]["callback_id"] == "greet"
    assert event["function"]["input_parameters"] == [
        {"type": "slack#/types/user_id", "name": "user_id", "title": "user_id", "description": "", "is_required": True}
    ]
    assert event["inputs"] == {"user_id": "U1"}
    assert event["function_execution_id"].startswith("Fx") and event["workflow_execution_id"].startswith("Wx")
    assert event["bot_access_token"].startswith("xwfp-")


async def test_a_function_completes_once_with_outputs_that_fit_its_parameters(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    emulator.define_functions({"greet": GREETING})
    execution_id = emulator.execute_function("greet", {"user_id": "U1"})["function_execution_id"]
    wrong = await slack_error(
        client.functions_completeSuccess(function_execution_id=execution_id, outputs={"greeted": 7, "extra": 1})
    )
    assert wrong.response["error"] == "parameter_validation_failed"
    assert wrong.response["response_metadata"]["messages"] == [
        "[ERROR] output greeted is not a slack#/types/user_id",
        "[ERROR] unknown output: extra",
    ]
    missing = await slack_error(client.functions_completeSuccess(function_execution_id=execution_id, outputs={}))
    assert missing.response["response_metadata"]["messages"] == ["[ERROR] missing required output: greeted"]
    await client.functions_completeSuccess(function_execution_id=execution_id, outputs={"greeted": "U1", "at": 1})
    assert emulator.function_execution(execution_id).outputs == {"greeted": "U1", "at": 1}
    twice = await slack_error(client.functions_completeError(function_execution_id=execution_id, error="late"))
    assert twice.response["error"] == "execution_not_in_running_state"
    unknown = await slack_error(client.functions_completeSuccess(function_execution_id="Fx0", outputs={}))
    assert unknown.response["error"] == "function_execution_not_found"


async def test_function_completions_are_tier_3(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    assert emulator.tier_of("functions.completeSuccess") == emulator.tier_of("functions.completeError") == "t3"
    emulator.define_functions({"greet": GREETING})
    emulator.enforce_rate_limits({"t3": 2})
    ids = [emulator.execute_function("greet", {"user_id": "U1"})["function_execution_id"] for _ in range(3)]
    for execution_id in ids[:2]:
        await client.functions_completeError(function_execution_id=execution_id, error="no")
    limited = await slack_error(client.functions_completeError(function_execution_id=ids[2], error="no"))
    assert limited.response.status_code == 429


async def test_an_executions_token_works_while_it_runs_for_15_minutes_at_most() -> None:
    clock = FakeClock()
    async with SlackEmulator(bot_token=TOKEN, clock=clock) as emulator:
        emulator.define_functions({"greet": GREETING})
        first, second = (emulator.execute_function("greet", {"user_id": "U1"}) for _ in range(2))
        for event in (first, second):
            step_client = AsyncWebClient(token=event["bot_access_token"], base_url=emulator.api_url)
            assert (await step_client.auth_test())["ok"]
        await AsyncWebClient(token=TOKEN, base_url=emulator.api_url).functions_completeError(
            function_execution_id=first["function_execution_id"], error="done"
        )
        ended = AsyncWebClient(token=first["bot_access_token"], base_url=emulator.api_url)
        assert (await slack_error(ended.auth_test())).response["error"] == "token_revoked"
        clock.now += 15 * 60 + 1
        waiting = AsyncWebClient(token=second["bot_access_token"], base_url=emulator.api_url)
        assert (await slack_error(waiting.auth_test())).response["error"] == "token_expired"
        stranger = AsyncWebClient(token="xoxb-someone-else", base_url=emulator.api_url)
        assert (await slack_error(stranger.auth_test())).response["error"] == "invalid_auth"


def _form_modal(*elements: dict[str, Any]) -> dict[str, Any]:
    blocks = [
        {"type": "input", "block_id": f"b{i}", "label": {"type": "plain_text", "text": "Field"}, "element": element}
        for i, element in enumerate(elements)
    ]
    return {"type": "modal", "title": {"type": "plain_text", "text": "Form"},
            "submit": {"type": "plain_text", "text": "Send"}, "blocks": blocks}  # fmt: skip


def _choices(count: int) -> list[dict[str, Any]]:
    return [{"text": {"type": "plain_text", "text": f"Choice {i}"}, "value": f"c{i}"} for i in range(count)]


def test_form_elements_are_checked_with_slacks_limits() -> None:
    good = _form_modal(
        {"type": "multi_static_select", "action_id": "a", "options": _choices(100), "max_selected_items": 2,
         "initial_options": _choices(2)},
        {"type": "multi_users_select", "action_id": "b", "initial_users": ["U1"], "max_selected_items": 3},
        {"type": "checkboxes", "action_id": "c", "options": _choices(10), "initial_options": _choices(1)},
        {"type": "radio_buttons", "action_id": "d", "options": _choices(10), "initial_option": _choices(1)[0]},
        {"type": "datetimepicker", "action_id": "e", "initial_date_time": 1796000000},
        {"type": "email_text_input", "action_id": "f", "initial_value": "a@example.com"},
        {"type": "url_text_input", "action_id": "g", "initial_value": "https://example.com"},
        {"type": "rich_text_input", "action_id": "h", "initial_value": {"type": "rich_text", "elements": []}},
        {"type": "file_input", "action_id": "i", "filetypes": ["pdf", "png"], "max_files": 10},
    )  # fmt: skip
    assert validate_view(good) == []
    bad = {
        "more than 10 checkboxes": {"type": "checkboxes", "options": _choices(11)},
        "more than 10 radio buttons": {"type": "radio_buttons", "options": _choices(11)},
        "checkboxes without options": {"type": "checkboxes"},
        "more than 100 options": {"type": "multi_static_select", "options": _choices(101)},
        "max_selected_items 0": {"type": "multi_users_select", "max_selected_items": 0},
        "initial option not offered": {"type": "checkboxes", "options": _choices(2), "initial_options": [
            {"text": {"type": "plain_text", "text": "X"}, "value": "x"}]},
        "11 files": {"type": "file_input", "max_files": 11},
        "filetypes not a list": {"type": "file_input", "filetypes": "pdf"},
        "datetime as text": {"type": "datetimepicker", "initial_date_time": "2026-12-24"},
        "rich text as text": {"type": "rich_text_input", "initial_value": "hello"},
        "unknown element": {"type": "multi_file_input"},
    }
    for case, element in bad.items():
        assert validate_view(_form_modal(element)), case
    file_button = [{"type": "actions", "elements": [{"type": "file_input", "action_id": "f"}]}]
    only_in_inputs = "file_input is only allowed in input blocks [json-pointer:/blocks/0/elements/0]"
    assert validate_blocks(file_button) == [only_in_inputs]


def test_a_file_attached_in_a_modal_is_the_users_upload_with_a_slack_shaped_link() -> None:
    emulator = SlackEmulator()
    emulator.add_user("U1", name="ann")
    attached = emulator.attach_file("U1", "Taxi Receipt.PDF")
    assert attached["permalink"] == f"https://baton-sandbox.slack.com/files/U1/{attached['id']}/taxi_receipt.pdf"
    assert (attached["name"], attached["user"], attached["filetype"]) == ("Taxi Receipt.PDF", "U1", "pdf")
    assert emulator.file(attached["id"]) is not None
    with pytest.raises(KeyError):
        emulator.attach_file("U0NOBODY", "x.pdf")
