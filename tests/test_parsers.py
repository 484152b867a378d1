"""Every parser of outside input, fed anything: it gives a value or a clear error, never an exception."""

from __future__ import annotations

import csv
import html
import io
import json
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.api import StartBody, read_start_body
from bot.catalog import load_catalog
from bot.reporting.audit_export import events_csv, read_csv
from bot.reporting.kpi_report import ReportRequest, parse_report_request
from bot.slack.collaboration import parse_delegation, readable
from bot.slack.command_text import VERBS, parse_command_text, parse_instance_id
from bot.slack.wording import escape_text
from bot.store.reporting import EventExport

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
START_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {}, optional={"requester": JSON | st.from_regex(r"[UW][A-Z0-9]{2,12}\n?", fullmatch=True), "form": JSON}
    ).map(lambda body: json.dumps(body).encode()),
)


@settings(max_examples=300, deadline=None)
@given(raw=START_BODIES, charset=st.sampled_from([None, "utf-8", "latin-1", "utf-16", "no-such-charset"]))
def test_any_start_api_body_is_read_into_a_requester_and_form_or_errors(raw: bytes, charset: str | None) -> None:
    body = read_start_body(raw, charset)
    assert isinstance(body, StartBody)
    assert body.errors or body.form is not None
    if body.requester is not None:
        assert body.requester.isalnum() and body.requester[0] in "UW"
    for value in body.form.values():
        listed = isinstance(value, list) and all(isinstance(item, str) for item in value)
        assert value is None or isinstance(value, str | int | float) or listed
    assert all(len(key) <= 70 for key in body.errors)


CATALOG = load_catalog(Path(__file__).resolve().parents[1] / "workflows")
FORM_VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | st.sampled_from(
    ["1e999", "NaN", "-0", "1,000.5", "2026-02-30", "U0ALICE", "EUR", " ", "9" * 400]
)


@settings(max_examples=300, deadline=None)
@given(
    workflow=st.sampled_from(sorted(CATALOG.workflows)),
    values=st.lists(FORM_VALUES, max_size=8),
)
def test_any_form_values_the_api_reads_are_validated_into_values_or_messages(
    workflow: str, values: list[object]
) -> None:
    definition = CATALOG.workflows[workflow]
    raw = {field.id: value for field, value in zip(definition.form, values, strict=False)}
    body = read_start_body(json.dumps({"requester": "U0ALICE", "form": raw}).encode())
    clean, errors = definition.validate_form(body.form)
    assert set(clean) | set(errors) == {field.id for field in definition.form}
    assert all(isinstance(message, str) and message for message in errors.values())


# ---- text that reaches people -----------------------------------------------------------------------------

INVISIBLE = {0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070)}


@settings(max_examples=500)
@given(text=st.text(alphabet=st.characters(codec="utf-8")) | st.text(alphabet="ab<>&\r\n\t\x00\u202e\u2066\u200b"))
def test_typed_text_escaped_for_slack_carries_no_markup_invisible_or_control_characters(text: str) -> None:
    shown = escape_text(text)
    assert "<" not in shown and ">" not in shown
    assert not any(ord(c) in INVISIBLE or (unicodedata.category(c) == "Cc" and c not in "\n\t") for c in shown)
    kept = [c for c in text.replace("\r\n", "\n") if ord(c) not in INVISIBLE and unicodedata.category(c) != "Cc"]
    assert [c for c in html.unescape(shown) if c not in "\n\t"] == [c for c in kept if c not in "\u2028\u2029\xad"]


# ---- slash command words --------------------------------------------------------------------------------

WORDS = st.text(max_size=30) | st.from_regex(r"#?[0-9\u0660-\u0669\u00b2]{0,14}", fullmatch=True)
NUMBERS = st.from_regex(r"[0-9\u0660-\u0669\u00b2\u2460]{1,14}", fullmatch=True)


@settings(max_examples=300)
@given(text=WORDS)
def test_any_text_is_a_request_number_or_none(text: str) -> None:
    number = parse_instance_id(text)
    assert number is None or 0 <= number < 10**12


@settings(max_examples=500)
@given(
    argument=st.text(max_size=20) | st.from_regex(r"<@U[A-Z0-9]{2,8}(\|[a-z]{0,5})?>", fullmatch=True),
    rest=st.text(max_size=30)
    | st.builds(lambda n, unit: f"for {n} {unit}", NUMBERS, st.sampled_from(["days", "day", "dayz"]))
    | st.builds(lambda text: f"until {text}", st.text(max_size=12) | st.dates().map(date.isoformat)),
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
@example(argument="<@U0MARIA>", rest="for ² days", today=date(2026, 11, 2))  # a digit int() does not read
@example(argument="<@U0MARIA>", rest="for 99999999999 days", today=date(2026, 11, 2))  # past the end of time
def test_any_delegation_text_gives_a_person_and_a_last_day_or_a_problem(
    argument: str, rest: str, today: date
) -> None:
    user, last, problem = parse_delegation(argument, rest, today)
    if problem is None:
        assert user is not None and last is not None and today <= last
    else:
        assert user is None and last is None and len(problem) < 200


PERIODS = st.from_regex(r"[0-9\u0660-\u0669]{1,5}[dwDW]?|[0-9]{4}-?[qQ][0-9]|[0-9]{4}-[0-9]{2}", fullmatch=True)


@settings(max_examples=500)
@given(words=st.lists(st.text(max_size=12) | PERIODS, max_size=4))
@example(words=["0000-01"])  # year 0 does not exist
@example(words=["9999-Q4"])  # nor does the year after 9999
def test_any_report_words_give_a_workflow_and_period_or_a_clear_problem(words: list[str]) -> None:
    asked = parse_report_request(words, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    assert isinstance(asked, ReportRequest)
    if asked.problem is None:
        assert asked.period is not None and asked.period.start < asked.period.end
    else:
        assert asked.period is None and "`" in asked.problem and "out of range" not in asked.problem


# ---- a Slack message as a person reads it ---------------------------------------------------------------

SLACK_TEXT = st.lists(
    st.text(max_size=10)
    | st.from_regex(r"<[@#!]?[A-Za-z0-9:/.^]{0,12}(\|[^>]{0,8})?>", fullmatch=True)
    | st.sampled_from(["&amp;", "&lt;", "&gt;", "<", ">", "|", "&amp;lt;"]),
    max_size=8,
).map("".join)


@settings(max_examples=500)
@given(text=SLACK_TEXT)
def test_any_message_text_decodes_to_what_a_person_reads_and_plain_text_stays_as_it_is(text: str) -> None:
    shown = readable(text)
    assert isinstance(shown, str)
    if "<" not in text and "&" not in text:
        assert shown == text  # nothing to decode: the text as it was
    if ">" not in text:
        assert shown == text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# ---- CSV export -------------------------------------------------------------------------------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@settings(max_examples=300)
@given(texts=st.lists(st.text(max_size=20) | st.sampled_from(["=1+1", "+A1", "-2", "@SUM(A1)", "'=x", "\t=1"]),
                      min_size=1, max_size=5))
def test_exported_text_never_starts_a_formula_and_reads_back_as_it_was(texts: list[str]) -> None:
    at = datetime(2026, 11, 2, tzinfo=UTC)
    events = [EventExport(i, 1, "w", text, at, text, text, {"said": text}) for i, text in enumerate(texts)]
    written = events_csv(events)
    for row in read_csv_cells(written):
        assert not any(cell.startswith(FORMULA_START) for cell in row)
    back = read_csv(written)
    assert [row["kind"] for row in back] == texts
    assert [row["actor"] for row in back] == texts


def read_csv_cells(text: str) -> list[list[str]]:
    """The cells as a spreadsheet gets them, before read_csv takes the guard away."""
    return list(csv.reader(io.StringIO(text, newline="")))[1:]


@pytest.mark.parametrize(
    ("text", "verb", "argument"),
    [
        ("report expense-approval 30d", "report", "expense-approval"),
        ("EXPORT", "export", ""),
        ("map\texpense-approval", "map", "expense-approval"),
        ("status\n12", "status", "12"),
        ("ls", "list", ""),
        ("frobnicate now", "help", ""),
    ],
)
def test_every_workflow_verb_is_read_from_the_one_verb_table(text: str, verb: str, argument: str) -> None:
    parsed = parse_command_text(text)
    assert (parsed.verb, parsed.argument) == (verb, argument)
    assert parsed.verb in VERBS
