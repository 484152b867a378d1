"""The Slack side's parsers of outside input, fed anything: `/slack/events` bodies, clicks, submissions, metadata,
form values. Each gives a value or a clear refusal, never an exception; and whatever the door admits, Bolt
and Baton's listeners can read without failing."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hypothesis import example, given, settings
from hypothesis import strategies as st
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request import payload_utils
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.internals import parse_body

from bot.catalog import load_catalog
from bot.emulator import sign_request
from bot.inbound import (
    MAX_JSON_DEPTH,
    Turned,
    deepest_nesting,
    form_as_json,
    parse_request,
    signature_refusal,
)
from bot.slack.metadata import MetadataSeal
from bot.slack.parsing import (
    Click,
    Submission,
    click_of,
    payload_problem,
    shortcut_message_of,
    submission_of,
    submitted_choice,
    user_of,
)
from bot.slack.rich_text import rich_text_of, rich_text_plain
from bot.slack.views import submitted_form, submitted_text, submitted_user

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
IDS = st.sampled_from(["U0ALICE", "C0GENERAL", "T0BATON", "", "1.manager_approval", "task:1.x"]) | st.text(max_size=8)
OBJECT_WITH_ID = st.fixed_dictionaries({}, optional={"id": IDS | JSON, "team_id": IDS | JSON, "name": JSON})
SOMETIMES = JSON | IDS | OBJECT_WITH_ID
ACTION = st.fixed_dictionaries(
    {},
    optional={
        "action_id": st.sampled_from(["task_approve", "task_more", "task_snooze", "task_reassign", "x"]) | JSON,
        "value": IDS | JSON,
        "block_id": IDS | JSON,
        "selected_option": st.fixed_dictionaries({}, optional={"value": IDS | JSON}) | JSON,
        "selected_user": IDS | JSON,
    },
)
STATE_VALUES = st.dictionaries(
    st.sampled_from(["field:amount", "field:reason", "field:receipt", "comment", "person", "workflow"])
    | st.text(max_size=6),
    st.dictionaries(st.sampled_from(["value", "x"]), st.fixed_dictionaries(
        {}, optional={"type": st.sampled_from(["plain_text_input", "static_select", "users_select", "number_input",
                                               "datepicker", "file_input", "checkboxes"]) | JSON, "value": JSON,
                      "selected_option": JSON, "selected_user": JSON, "selected_date": JSON,
                      "selected_options": JSON, "selected_users": JSON, "selected_date_time": JSON,
                      "rich_text_value": JSON, "files": JSON}) | JSON, max_size=2) | JSON,
    max_size=4,
)
VIEW = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("modal") | JSON,
        "id": IDS | JSON,
        "callback_id": st.sampled_from(["start_form", "reject_reason", "hand_over", "pick_workflow"]) | JSON,
        "private_metadata": IDS | JSON,
        "state": st.fixed_dictionaries({}, optional={"values": STATE_VALUES | JSON}) | JSON,
        "blocks": st.lists(st.fixed_dictionaries({}, optional={"block_id": IDS | JSON}) | JSON, max_size=3) | JSON,
    },
)
EVENT = st.fixed_dictionaries(
    {}, optional={"type": st.sampled_from(["message", "team_join", "app_home_opened", "app_mention"]) | JSON,
                  "user": SOMETIMES, "channel": SOMETIMES, "text": JSON, "ts": JSON, "thread_ts": JSON,
                  "tab": JSON, "item": SOMETIMES, "message": SOMETIMES},
)
PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["event_callback", "block_actions", "view_submission", "view_closed", "shortcut",
                                 "message_action", "block_suggestion", "url_verification", "app_rate_limited"])
        | JSON,
        "user": SOMETIMES,
        "team": SOMETIMES,
        "enterprise": SOMETIMES,
        "channel": SOMETIMES,
        "container": SOMETIMES,
        "actions": st.lists(ACTION | JSON, max_size=2) | JSON,
        "view": VIEW | JSON,
        "event": EVENT | JSON,
        "message": st.fixed_dictionaries({}, optional={"text": JSON, "ts": JSON}) | JSON,
        "authorizations": st.lists(OBJECT_WITH_ID | JSON, max_size=2) | JSON,
        "callback_id": JSON,
        "trigger_id": JSON,
        "event_id": JSON,
        "command": JSON,
        "user_id": JSON,
        "is_ext_shared_channel": st.booleans() | JSON,
    },
)
FORM = "application/x-www-form-urlencoded"
BODIES = st.one_of(
    PAYLOADS.map(lambda body: (json.dumps(body).encode(), "application/json")),
    PAYLOADS.map(lambda body: (urlencode({"payload": json.dumps(body)}).encode(), FORM)),
    st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "trigger_id", "payload"]),
                    st.text(max_size=20)).map(lambda form: (urlencode(form).encode(), FORM)),
    st.binary(max_size=120).map(lambda raw: (raw, "application/json")),
    st.text(max_size=120).map(lambda text: (text.encode(), FORM)),
)
_BOLT_READERS = [
    function
    for name, function in inspect.getmembers(payload_utils, inspect.isfunction)
    if (name.startswith(("is_", "to_"))) and len(inspect.signature(function).parameters) == 1
]


@settings(max_examples=400, deadline=None)
@given(body=BODIES, charset=st.sampled_from([None, "utf-8", "latin-1", "no-such-charset"]))
@example(body=(b'{"type": "view_submission", "user": {"id": "U1"}, "view": {"callback_id": "x"}}', "application/json"),
         charset=None)
@example(body=(b'{"type": "event_callback", "event": "type"}', "application/json"), charset=None)
@example(body=(b'{"team": [1], "type": "x"}', "application/json"), charset=None)
def test_any_events_body_is_admitted_readable_by_bolt_and_baton_or_refused_with_a_reason(
    body: tuple[bytes, str], charset: str | None
) -> None:
    raw, content_type = body
    admitted = parse_request(raw, charset, {"content-type": content_type}, "")
    if isinstance(admitted, Turned):
        assert 400 <= admitted.status < 500 and admitted.reason and "\n" not in admitted.reason
        return
    payload: Any = admitted.body
    assert isinstance(payload, dict) and payload_problem(payload) is None
    assert deepest_nesting(payload) <= MAX_JSON_DEPTH
    build_async_context(AsyncBoltContext(), payload)  # what Bolt does first with every request
    for read in _BOLT_READERS:  # what Bolt's listener matchers read
        read(payload)
    click, submission = click_of(payload), submission_of(payload, payload.get("view"))
    assert isinstance(click, Click) and isinstance(submission, Submission)
    assert all(isinstance(part, str) for part in (click.user_id, click.value, click.block_id, click.selected_option))
    assert isinstance(user_of(payload), str) and isinstance(shortcut_message_of(payload)[0], str)


FORM_TEXT = st.text(alphabet=st.sampled_from("ab=&+%2FE8é{}\"payload "), max_size=40) | st.text(max_size=40)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["command", "text", "user_id", "payload", "x"]) | st.text(max_size=6),
                              st.text(max_size=30)),
       raw=FORM_TEXT)
@example(fields={"command": "/workflow", "text": "start payload-review"}, raw="")
@example(fields={}, raw="a=%ff%fe&b=%zz&c=%e2%82&d=+%2B&&=x&a=2")
def test_a_form_is_read_as_bolt_reads_it(fields: dict[str, str], raw: str) -> None:
    """The door reads forms itself (faster than Bolt's parse_qsl) and hands Bolt text it reads exactly as it
    would have read the form, except that a form whose text merely contains "payload" keeps its fields (Bolt
    alone reads that as {})."""
    for text in (urlencode(fields), raw):
        if text.startswith("{"):
            continue  # JSON, not a form: Bolt reads it as it is
        handed = form_as_json(text)
        read = _fields_of(text)
        if isinstance(handed, Turned):
            assert handed.status == 400 and not read["payload"].startswith("{")
            continue
        assert handed.startswith("{")  # so Bolt reads it as JSON, never as a form again
        bolt, baton = _bolt_reads(text), _bolt_reads(handed)  # None: not JSON (parse_request refuses it)
        if "payload" in text and "payload" not in read:
            assert bolt == {} and baton == read
        else:
            assert baton == bolt


def test_a_slash_command_whose_text_says_payload_is_read_with_its_fields() -> None:
    form = {"command": "/workflow", "text": "start payload-review", "user_id": "U0ALICE", "team_id": "T0BATON",
            "channel_id": "C0GENERAL", "trigger_id": "1.2"}
    admitted = parse_request(urlencode(form).encode(), None, {"Content-Type": FORM}, "")
    assert not isinstance(admitted, Turned) and admitted.body == form


def _bolt_reads(text: str) -> Any:
    try:
        return parse_body(text, FORM)
    except ValueError:
        return None


def _fields_of(text: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(text, keep_blank_values=True))


@settings(max_examples=200, deadline=None)
@given(stamp=st.text(max_size=14) | st.integers(-10**15, 10**15).map(str), signature=st.text(max_size=80),
       raw=st.binary(max_size=60))
def test_any_signature_headers_are_accepted_only_when_slack_signed_the_body_just_now(
    stamp: str, signature: str, raw: bytes
) -> None:
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    refusal = signature_refusal("the-secret", headers, raw, time.time())
    assert refusal is None or refusal.status in (400, 401)
    now = int(time.time())
    good = {"X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": sign_request("the-secret", now, raw.decode("latin-1")) if raw.isascii() else ""}
    if raw.isascii():
        assert signature_refusal("the-secret", good, raw, time.time()) is None


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), user=st.text(max_size=12), other=st.text(min_size=1, max_size=12),
       junk=st.text(max_size=80) | JSON)
def test_metadata_opens_only_as_baton_sealed_it_for_that_person(text: str, user: str, other: str, junk: Any) -> None:
    seal = MetadataSeal("signing-secret")
    sealed = seal.seal(user, text)
    assert seal.opened(user, sealed) == text
    if other != user:
        assert seal.opened(other, sealed) is None
    assert MetadataSeal("another-secret").opened(user, sealed) is None
    opened = seal.opened(user, junk)
    assert opened is None or (isinstance(junk, str) and seal.seal(user, opened) == junk)


CATALOG = load_catalog(Path(__file__).resolve().parents[1] / "workflows")


@settings(max_examples=300, deadline=None)
@given(values=STATE_VALUES | JSON, workflow=st.sampled_from(sorted(CATALOG.workflows)))
def test_any_submitted_modal_values_read_into_form_values_or_nothing(values: Any, workflow: str) -> None:
    form = submitted_form(CATALOG.workflows[workflow], values if isinstance(values, dict) else None)
    assert isinstance(form, dict)
    for value in form.values():
        listed = isinstance(value, list) and all(isinstance(item, str | dict) for item in value)
        assert value is None or isinstance(value, str | int | float) or listed
    text, person = submitted_text(values), submitted_user(values)
    assert text is None or isinstance(text, str)
    assert person is None or isinstance(person, str)
    assert isinstance(submitted_choice(values if isinstance(values, dict) else {}, "workflow"), str)


def test_a_rich_text_value_is_kept_as_its_plain_text() -> None:
    value = {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": "Please "}, {"type": "text", "text": "hurry", "style": {"bold": True}},
                {"type": "text", "text": ", see "}, {"type": "link", "url": "https://x.example.com", "text": "spec"},
                {"type": "text", "text": " and ask "}, {"type": "user", "user_id": "U0BOB"},
                {"type": "emoji", "name": "pray"}, {"type": "broadcast", "range": "channel"},
            ]},
            {"type": "rich_text_list", "style": "bullet", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "chair"}]},
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "desk"}]},
            ]},
            {"type": "rich_text_list", "style": "ordered", "indent": 1, "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": "first"}]},
            ]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "quoted"}]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "code"}]},
            "junk", {"type": "rich_text_list", "elements": "junk"},
        ],
    }  # fmt: skip
    assert rich_text_plain(value) == (
        "Please hurry, see spec (https://x.example.com) and ask @U0BOB:pray:@channel\n"
        "• chair\n• desk\n  1. first\n> quoted\ncode"
    )
    assert rich_text_plain(rich_text_of("typed\nagain")) == "typed\nagain"


@settings(max_examples=200)
@given(st.recursive(st.none() | st.text(max_size=5) | st.integers(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "elements", "text", "url", "style", "indent", "user_id"]), inner,
                        max_size=4), max_leaves=30))  # fmt: skip
def test_any_rich_text_shape_reads_as_text_without_raising(value: Any) -> None:
    assert isinstance(rich_text_plain({"type": "rich_text", "elements": value}), str)
