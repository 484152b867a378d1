"""Baton's HTTP door: slow or half-sent requests are dropped, malformed ones get a 4xx and one log line, and
signed requests of kinds Baton does not handle get the 200 Slack expects."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.payloads import event_callback, view_closed, view_submission
from bot.logs import OneRecordFormatter, one_line

from .conftest import running_baton

ALICE = "U0ALICE"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def served(tmp_path: Path, slack: SlackEmulator) -> AsyncIterator[tuple[Baton, SlackDriver]]:
    async with running_baton(
        tmp_path, slack, http_read_timeout_seconds=0.5, http_idle_timeout_seconds=0.5, http_max_body_bytes=64 * 1024
    ) as running:
        yield running


def interaction(payload: object) -> str:
    return urlencode({"payload": json.dumps(payload)})


def port_of(driver: SlackDriver) -> int:
    return int(driver.baton_url.split(":")[2].split("/")[0])


async def assert_healthy(driver: SlackDriver) -> None:
    """The process still answers a real command after whatever came before."""
    answer = await driver.send_command(ALICE, "list")
    assert answer.status == 200 and "expense" in answer.body.lower()


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("slack request refused")]


def assert_no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], [
        r.getMessage()[:200] for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ]


async def test_a_half_sent_body_is_dropped_after_the_read_timeout_without_a_traceback(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 5000\r\n\r\n{\"type\": ")
    await writer.drain()
    started = time.monotonic()
    answer = await asyncio.wait_for(reader.read(), timeout=10)  # the server answers and closes
    assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()
    # and one that gives up half-way is simply forgotten
    _reader, writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\npayload=")
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.3)
    assert_no_tracebacks(caplog)
    assert len(refusal_lines(caplog)) >= 1
    await assert_healthy(driver)


async def test_headers_that_never_finish_and_idle_connections_are_closed(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    connections = [await asyncio.open_connection("127.0.0.1", port_of(driver)) for _ in range(5)]
    for _reader, writer in connections:
        writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Le")
        await writer.drain()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
    for reader, _writer in [*connections, (idle_reader, idle_writer)]:
        assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the server
    for _reader, writer in [*connections, (idle_reader, idle_writer)]:
        writer.close()
    assert_no_tracebacks(caplog)
    await assert_healthy(driver)


async def test_an_unsigned_oversized_body_is_refused_without_logging_any_of_it(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    huge = "payload=" + "A" * 200_000
    answer = await driver.post_raw(huge, FORM, sign=False)
    assert answer.status == 413
    forged = "payload=%7B%7D\n2026-01-01 00:00:00 INFO bot.service: workflow started: instance=9"
    answer = await driver.post_raw(forged, FORM, sign=False,
                                   headers={"User-Agent": "curl\u2028ERROR fake\x85line\u202e"})
    assert answer.status in (400, 401)
    lines = refusal_lines(caplog)
    assert len(lines) == 2
    for record in lines:
        text = record.getMessage()
        assert len(text) < 300 and "AAAA" not in text and "workflow started" not in text
        assert all(c.isprintable() for c in text), text
    assert_no_tracebacks(caplog)


async def test_requests_that_are_not_even_http_get_400_and_one_line_each_not_a_traceback(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    junk = [
        b"GARBAGE /x\nFAKE LOG LINE\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nBad\x00Header: 1\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
    for raw in junk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
        writer.write(raw)
        await writer.drain()
        assert (await asyncio.wait_for(reader.read(), timeout=5)).startswith(b"HTTP/1.0 400")
        writer.close()
    server_lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(server_lines) == len(junk) and not [r for r in server_lines if r.exc_info]
    assert all("FAKE" not in r.getMessage() and "\n" not in r.getMessage() for r in server_lines)
    await assert_healthy(driver)


def test_a_text_log_record_can_never_start_a_line_with_text_from_outside() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "got %s", ("x\n2026 INFO fake\rmore\u2028end",), None)
    lines = OneRecordFormatter("%(levelname)s %(message)s").format(record).split("\n")
    assert lines[0].startswith("INFO got x") and all(line.startswith("    ") for line in lines[1:])
    assert "\r" not in "".join(lines) and "\u2028" not in "".join(lines)
    assert one_line("a\nb\x00c\u202ed" + "z" * 100, 10) == "a\\nb\\x00c\\u202ed" + "z" * 3 + "…"


async def test_malformed_requests_get_a_400_with_one_log_line_and_the_process_stays_healthy(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    ok_event = json.dumps(event_callback({"type": "app_mention", "user": ALICE, "channel": "C0GENERAL",
                                          "ts": "1.1", "text": "hi"}, event_id="Ev0OK"))
    deep = '{"type": "event_callback", "event": ' + "[" * 5000 + "]" * 5000 + "}"
    deepish = '{"type": "block_actions", "x": ' + "[" * 200 + "]" * 200 + "}"
    start_form = {"type": "modal", "id": "V0X", "callback_id": "start_form", "private_metadata": "{}", "blocks": []}
    no_type = {k: v for k, v in start_form.items() if k != "type"}
    signed_cases: list[tuple[str, str, dict[str, str]]] = [
        (ok_event, "application/json; charset=x-no-such-charset", {}),
        ('{"type": "é"}', "application/json; charset=ascii", {}),
        (ok_event, "application/json", {"Content-Encoding": "gzip"}),
        (deep, "application/json", {}),
        (deepish, "application/json", {}),
        ("[1, 2, 3]", "application/json", {}),
        ('{"type": "event_callback", "event": null}', "application/json", {}),
        ('{"type": "event_callback", "event": {"type": 5}}', "application/json", {}),
        ('{"type": "event_callback", "event": "message"}', "application/json", {}),
        (interaction({"type": "view_submission", "user": {"id": ALICE}, "view": None}), FORM, {}),
        (interaction({"type": "block_actions", "user": None, "actions": [{"action_id": "task_approve"}]}), FORM, {}),
        (interaction({"type": "block_actions", "user": {"id": ALICE}, "actions": None}), FORM, {}),
        (interaction({"type": "block_actions", "user": {"id": ALICE}, "actions": [None]}), FORM, {}),
        (interaction({"type": "block_actions", "user": {"id": ALICE}, "team": 7,
                      "actions": [{"action_id": "task_approve"}]}), FORM, {}),
        (interaction(view_submission(user_id=ALICE, view=no_type, values={}, trigger_id="t")), FORM, {}),
        ("payload=%7Bnot json", FORM, {}),
    ]
    for body, content_type, headers in signed_cases:
        answer = await driver.post_raw(body, content_type, headers=headers)
        assert answer.status in (400, 415), (answer.status, body[:60], content_type, headers)
    stamp_abc = await driver.post_raw(ok_event, "application/json",
                                      headers={"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
                                      sign=False)
    assert stamp_abc.status == 400
    assert len(refusal_lines(caplog)) == len(signed_cases) + 1
    assert_no_tracebacks(caplog)
    await assert_healthy(driver)


async def test_signed_requests_of_kinds_baton_does_not_handle_get_200_not_404(
    served: tuple[Baton, SlackDriver], caplog: pytest.LogCaptureFixture
) -> None:
    _baton, driver = served
    rate_limited = {"token": "x", "type": "app_rate_limited", "team_id": "T0", "minute_rate_limited": 1,
                    "api_app_id": "A0"}
    closed = view_closed(user_id=ALICE, view={"type": "modal", "id": "V0C", "callback_id": "start_form"})
    unknown_event = event_callback({"type": "reaction_added", "user": ALICE, "reaction": "+1",
                                    "item": {"type": "message", "channel": "C0GENERAL", "ts": "1.1"}},
                                   event_id="Ev0REACT")
    invented = event_callback({"type": "something_slack_adds_next_year"}, event_id="Ev0NEW")
    for body, content_type in [
        (json.dumps(rate_limited), "application/json"),
        (interaction(closed), FORM),
        (json.dumps(unknown_event), "application/json"),
        (json.dumps(invented), "application/json"),
        (interaction({"type": "block_suggestion", "user": {"id": ALICE}, "action_id": "x", "value": "a"}), FORM),
    ]:
        answer = await driver.post_raw(body, content_type)
        assert answer.status == 200, (answer.status, body[:80])
    assert_no_tracebacks(caplog)
    await assert_healthy(driver)


async def test_the_http_limits_come_from_settings(tmp_path: Path, slack: SlackEmulator) -> None:
    async with running_baton(tmp_path, slack, http_max_body_bytes=2048) as (_baton, driver):
        body = json.dumps({"type": "event_callback", "event": {"type": "app_mention", "text": "x" * 3000}})
        assert (await driver.post_raw(body, "application/json")).status == 413
        async with aiohttp.ClientSession() as session, session.get(
            driver.baton_url.replace("/slack/events", "/healthz")
        ) as health:
            assert health.status == 200


REPLACEMENTS: list[object] = [None, "", 0, -1, True, [], {}, [None], "x" * 3000, "\u202e\n<@U0ADMIN>", {"id": None}]


def paths_of(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path to a value inside a payload (keys and list indexes)."""
    found: list[tuple[object, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths_of(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(paths_of(child, (*prefix, index)))
    return found


def mutated(payload: object, path: tuple[object, ...], replacement: object, *, delete: bool) -> object:
    copy = json.loads(json.dumps(payload))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]  # type: ignore[index]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement  # type: ignore[index]
    return copy


async def test_real_payloads_with_any_part_missing_or_of_the_wrong_type_never_get_a_5xx_or_a_traceback(
    served: tuple[Baton, SlackDriver], slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    import random

    from .story import choose_in, start_expense, task_message

    _baton, driver = served
    await start_expense(driver, slack, ALICE, 5, "Parking")
    approval = await task_message(slack, "U0MARIA", "task_approve")
    await choose_in(driver, approval, "U0MARIA", "task_more", "comment")
    comment_form = await slack.wait_for(lambda: (slack.open_views("U0MARIA") or [None])[-1])
    await driver.submit_view("U0MARIA", comment_form, {"comment": {"comment": {"type": "plain_text_input",
                                                                                "value": "ok"}}})
    await driver.send_message("U0MARIA", approval.channel, "lgtm", thread_ts=approval.ts)
    await driver.open_home("U0MARIA")
    await driver.shortcut(ALICE, "start_workflow")
    await driver.click_button_in(approval, "U0MARIA", "task_reject")
    captured = [(kind, payload) for kind, payload, _response in driver.sent]
    assert len(captured) >= 7
    chooser = random.Random(12)
    answers: list[tuple[int, str]] = []
    for kind, payload in captured:
        paths = paths_of(payload)
        for path in chooser.sample(paths, min(len(paths), 25)):
            broken = mutated(payload, path, chooser.choice(REPLACEMENTS), delete=chooser.random() < 0.3)
            if kind == "command":
                body, content_type = urlencode({k: str(v) for k, v in broken.items()}), FORM  # type: ignore[union-attr]
            elif kind in ("event", "event_callback", "url_verification"):
                body, content_type = json.dumps(broken), "application/json"
            else:
                body, content_type = interaction(broken), FORM
            answer = await driver.post_raw(body, content_type)
            answers.append((answer.status, f"{kind} {path}"))
    assert [a for a in answers if a[0] >= 500] == []
    assert_no_tracebacks(caplog)
    await assert_healthy(driver)


async def test_the_start_api_drops_a_half_sent_body_after_the_read_timeout_too(
    tmp_path: Path, slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    from pydantic import SecretStr

    token = "t" * 32
    async with running_baton(tmp_path, slack, api_token=SecretStr(token), http_read_timeout_seconds=0.5) as (
        _baton,
        driver,
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
        writer.write(b"POST /api/workflows/expense-approval/start HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 900\r\n\r\n{\"form\": ")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        assert answer.startswith(b"HTTP/1.1 408")
        writer.close()
        _reader, writer = await asyncio.open_connection("127.0.0.1", port_of(driver))
        writer.write(b"POST /api/workflows/expense-approval/start HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 900\r\n\r\n{")
        await writer.drain()
        writer.close()  # gives up half-way
        await asyncio.sleep(0.3)
        assert_no_tracebacks(caplog)
        await assert_healthy(driver)
