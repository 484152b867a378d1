"""Table-driven tests of form values, durations and `when:` conditions, plus properties that never raise."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.engine.definition import FormField, WorkflowDefinition
from bot.engine.durations import Duration, format_duration, parse_duration
from bot.engine.expressions import Condition, FormValue

AMOUNT = FormField(id="amount", label="Amount", type="number", min=0.01, max=100000)
COUNT = FormField(id="count", label="Count", type="number", decimals=0, required=False)
REASON = FormField(id="reason", label="Reason", multiline=True, min_length=5, max_length=20)
NOTE = FormField(id="note", label="Note", required=False)
DAY = FormField(id="day", label="Day", type="date")
PERSON = FormField(id="person", label="Person", type="user")
CURRENCY = FormField.model_validate(
    {
        "id": "currency",
        "label": "Currency",
        "type": "select",
        "options": [{"value": "EUR", "label": "Euro"}, {"value": "USD", "label": "Dollar"}],
    }
)
_KINDS = [{"value": "hardware", "label": "Hardware"}, {"value": "software", "label": "Software"},
          {"value": "network", "label": "Network"}]  # fmt: skip
KINDS = FormField.model_validate({"id": "kinds", "label": "Kinds", "type": "multi_select", "options": _KINDS,
                                  "min_selected": 1, "max_selected": 2})  # fmt: skip
EXTRAS = FormField.model_validate({"id": "extras", "label": "Extras", "type": "checkboxes", "options": _KINDS,
                                   "required": False})  # fmt: skip
LEVEL = FormField.model_validate({"id": "level", "label": "Level", "type": "radio", "options": _KINDS})
WATCHERS = FormField(id="watchers", label="Watchers", type="multi_user", min_selected=2)
WHEN = FormField(id="when", label="When", type="datetime")
MAIL = FormField(id="mail", label="Mail", type="email")
PAGE = FormField(id="page", label="Page", type="url")
DETAILS = FormField(id="details", label="Details", type="rich_text", max_length=10)
RECEIPT = FormField(id="receipt", label="Receipt", type="file", filetypes=("PDF", ".png"), max_files=2)
PDF = {"id": "F01", "name": "a.PDF", "permalink": "https://t.slack.com/files/U1/F01/a.pdf", "url_private": "x"}
PNG = {"id": "F02", "name": "b.png", "permalink": "https://t.slack.com/files/U1/F02/b.png"}

# ---- FormField.validate_value ----------------------------------------------------------------

VALID: list[tuple[FormField, FormValue, FormValue]] = [
    (AMOUNT, "1250.50", 1250.5),
    (AMOUNT, "1,250.50", 1250.5),
    (AMOUNT, " 1,000 ", 1000),
    (AMOUNT, "1000.01", 1000.01),
    (AMOUNT, "0.01", 0.01),
    (AMOUNT, "100000", 100000),
    (AMOUNT, "1e3", 1000),
    (AMOUNT, 42, 42),
    (AMOUNT, 12.345678, 12.35),
    (COUNT, "2.6", 3),
    (COUNT, "", None),
    (COUNT, None, None),
    (REASON, "  taxi home  ", "taxi home"),
    (REASON, "x" * 20, "x" * 20),
    (NOTE, "   ", None),
    (NOTE, "anything", "anything"),
    (DAY, "2024-02-29", "2024-02-29"),
    (DAY, " 2025-12-31 ", "2025-12-31"),
    (PERSON, "U0ALICE", "U0ALICE"),
    (PERSON, "W0123ABC", "W0123ABC"),
    (CURRENCY, "EUR", "EUR"),
    (CURRENCY, " USD ", "USD"),
    (KINDS, ["network", "hardware", "network"], ["hardware", "network"]),  # the form's order, once each
    (KINDS, "software", ["software"]),
    (EXTRAS, [], None),
    (EXTRAS, ["hardware", "software", "network"], ["hardware", "software", "network"]),
    (LEVEL, "network", "network"),
    (WATCHERS, ["U0BOB", "U0ALICE"], ["U0BOB", "U0ALICE"]),
    (WHEN, 1798124400, "2026-12-24T15:00:00Z"),
    (WHEN, "2026-12-24T16:00:00+01:00", "2026-12-24T15:00:00Z"),
    (WHEN, "2026-12-24T15:00Z", "2026-12-24T15:00:00Z"),
    (MAIL, " ann@example.com ", "ann@example.com"),
    (PAGE, "https://example.com/a?b=1&c=2", "https://example.com/a?b=1&c=2"),
    (DETAILS, "• a\n• b", "• a\n• b"),
    (RECEIPT, [PDF, PNG, PDF], [{k: PDF[k] for k in ("id", "name", "permalink")}, PNG]),
]

INVALID: list[tuple[FormField, FormValue, str]] = [
    (AMOUNT, "", "required"),
    (AMOUNT, None, "required"),
    (AMOUNT, "   ", "required"),
    (AMOUNT, "twelve", "Enter a number"),
    (AMOUNT, "12 EUR", "Enter a number"),
    (AMOUNT, "0", "smallest allowed value is 0.01"),
    (AMOUNT, "-5", "smallest allowed value"),
    (AMOUNT, "100000.5", "largest allowed value is 100000"),
    (AMOUNT, "inf", "finite"),
    (AMOUNT, "nan", "finite"),
    (REASON, "taxi", "at least 5 characters"),
    (REASON, "x" * 21, "under 20 characters"),
    (NOTE, "x" * 3001, "under 3000 characters"),
    (DAY, "2023-02-29", "Pick a date"),
    (DAY, "tomorrow", "Pick a date"),
    (DAY, "31.12.2025", "Pick a date"),
    (PERSON, "alice", "Pick a person"),
    (PERSON, "@alice", "Pick a person"),
    (PERSON, "u0alice", "Pick a person"),
    (CURRENCY, "eur", "Pick one of the options"),
    (CURRENCY, "Euro", "Pick one of the options"),
    (KINDS, [], "required"),
    (KINDS, ["hardware", "software", "network"], "Pick at most 2 options"),
    (KINDS, ["gpu"], "Pick among the options"),
    (LEVEL, ["hardware"], "one value here, not a list"),
    (WATCHERS, ["U0BOB"], "Pick at least 2 people"),
    (WATCHERS, ["U0BOB", "bob"], "Pick people from the list"),
    (WHEN, "2026-12-24T15:00:00", "with its zone"),
    (WHEN, "Christmas", "Pick a date and a time"),
    (WHEN, 10**20, "Pick a date and a time"),
    (MAIL, "ann", "Enter an email address"),
    (MAIL, "ann@example", "Enter an email address"),
    (PAGE, "example.com", "Enter a web address"),
    (PAGE, "javascript:alert(1)", "Enter a web address"),
    (PAGE, "https://exa mple.com", "Enter a web address"),
    (PAGE, "https://example.com/<!channel>", "Enter a web address"),
    (DETAILS, "x" * 11, "under 10 characters"),
    (RECEIPT, [PDF, PNG, {**PNG, "id": "F03"}], "at most 2 files"),
    (RECEIPT, [{**PDF, "name": "a.exe"}], "a.exe is not one of: pdf, png"),
    (RECEIPT, [{**PDF, "permalink": "javascript:alert(1)"}], "no link"),
    (RECEIPT, [{**PDF, "permalink": "https://t.slack.com/x|<!channel>"}], "no link"),
    (RECEIPT, [{"id": "nope", "name": "a.pdf", "permalink": "https://x.example.com/a.pdf"}], "through the form"),
    (RECEIPT, ["a.pdf"], "through the form"),
]


@pytest.mark.parametrize(("field", "raw", "expected"), VALID)
def test_valid_values(field: FormField, raw: FormValue, expected: FormValue) -> None:
    assert field.validate_value(raw) == expected
    assert type(field.validate_value(raw)) is type(expected)


@pytest.mark.parametrize(("field", "raw", "message"), INVALID)
def test_invalid_values(field: FormField, raw: FormValue, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        field.validate_value(raw)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "select"}, "needs options"),
        ({"type": "multi_select"}, "a multi_select field needs options"),
        ({"type": "radio", "options": [{"value": f"v{i}", "label": "V"} for i in range(11)]}, "at most 10 options"),
        ({"type": "checkboxes", "options": [{"value": "a", "label": "A"}], "min_selected": 2}, "only 1 options"),
        ({"type": "multi_user", "min_selected": 3, "max_selected": 2}, "min_selected is larger than max_selected"),
        ({"type": "email", "max_selected": 2}, "max_selected only apply to multi_select"),
        ({"type": "url", "max_length": 20}, "only apply to text and rich_text"),
        ({"type": "text", "max_files": 2}, "filetypes and max_files only apply to file fields"),
        ({"type": "file", "max_files": 11}, "less than or equal to 10"),
        ({"type": "file", "filetypes": ["p df"]}, "not a file extension"),
        ({"type": "multiselect"}, "did you mean 'multi_select'"),
        ({"type": "text", "options": [{"value": "a", "label": "A"}]}, "only apply to select"),
        ({"type": "date", "min": 1}, "min and max only apply to number"),
        ({"type": "number", "multiline": True}, "only applies to text"),
        ({"type": "number", "min": 5, "max": 1}, "min is larger than max"),
        ({"min_length": 9, "max_length": 2}, "min_length is larger"),
        ({"type": "select", "options": [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]},
         "unique"),
    ],
)
def test_field_definitions_that_do_not_fit_their_type(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FormField.model_validate({"id": "f", "label": "F", **spec})


# ---- durations -------------------------------------------------------------------------------

DURATIONS: list[tuple[str, timedelta, str]] = [
    ("30s", timedelta(seconds=30), "30s"),
    ("15m", timedelta(minutes=15), "15m"),
    ("4h", timedelta(hours=4), "4h"),
    ("2d", timedelta(days=2), "2d"),
    ("1w", timedelta(weeks=1), "1w"),
    ("1h30m", timedelta(hours=1, minutes=30), "1h30m"),
    ("1d 4h", timedelta(days=1, hours=4), "1d4h"),
    (" 2D ", timedelta(days=2), "2d"),
    ("36h", timedelta(hours=36), "1d12h"),
    ("3 days", timedelta(days=3), "3d"),
    ("1 hour", timedelta(hours=1), "1h"),
    ("90 minutes", timedelta(minutes=90), "1h30m"),
]


@pytest.mark.parametrize(("text", "expected", "shown"), DURATIONS)
def test_durations(text: str, expected: timedelta, shown: str) -> None:
    assert parse_duration(text) == expected
    assert format_duration(expected) == shown
    assert TypeAdapter(Duration).validate_python(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("soon", "not a duration"),
        ("5", "not a duration"),
        ("1x", "not a duration"),
        ("-1d", "not a duration"),
        ("0s", "longer than zero"),
        ("1h 30", "not a duration"),
        ("2 fortnights", "not a duration"),
    ],
)
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "message"),
    [(3, "no unit"), (True, "text such as"), (None, "text such as"), ([], "text such as")],
)
def test_bad_duration_values_in_a_definition(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TypeAdapter(Duration).validate_python(value)


@given(st.integers(min_value=1, max_value=10**8))
def test_format_and_parse_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


# ---- conditions ------------------------------------------------------------------------------

CONDITIONS: list[tuple[str, dict[str, FormValue], bool]] = [
    ("form.amount > 1000", {"amount": 1000}, False),
    ("form.amount > 1000", {"amount": 1000.01}, True),
    ("form.amount >= 1000", {"amount": 1000}, True),
    ("form.amount > 1000", {}, False),
    ("form.amount > 1000", {"amount": None}, False),
    ("form.amount > 1000", {"amount": "lots"}, False),
    ("form.amount < 1000", {}, False),
    ("form.currency == 'EUR'", {"currency": "EUR"}, True),
    ('form.currency == "EUR"', {"currency": "USD"}, False),
    ("form.currency != 'EUR'", {"currency": "USD"}, True),
    ("form.currency == null", {}, True),
    ("form.currency != null", {"currency": "EUR"}, True),
    ("form.severity in ['high', 'urgent']", {"severity": "urgent"}, True),
    ("form.severity in ['high', 'urgent']", {"severity": "low"}, False),
    ("form.severity in ['high', 'urgent']", {}, False),
    ("form.severity not in ['low']", {}, False),
    ("form.amount > 1000 and form.currency == 'EUR'", {"amount": 2000, "currency": "EUR"}, True),
    ("form.amount > 1000 and form.currency == 'EUR'", {"amount": 2000, "currency": "USD"}, False),
    ("form.amount > 1000 or form.urgent == true", {"amount": 5, "urgent": True}, True),
    ("form.amount > 1000 or form.urgent", {}, False),
    ("not form.urgent", {"urgent": False}, True),
    ("1 < form.amount < 10", {"amount": 5}, True),
    ("1 < form.amount < 10", {"amount": 50}, False),
    ("1 < form.amount < 10", {}, False),
    ("-form.amount < 0", {"amount": 3}, True),
    ("-form.amount < 0", {"amount": "x"}, False),
    ("form.a in form.b", {"a": 1, "b": 2}, False),
    ("form.a in form.b", {"a": "ab", "b": "cabd"}, True),
    ("'hardware' in form.kinds", {"kinds": ["software", "hardware"]}, True),
    ("'hardware' in form.kinds", {"kinds": ["software"]}, False),
    ("'hardware' in form.kinds", {"kinds": None}, False),
    ("'hardware' not in form.kinds", {"kinds": ["software"]}, True),
    ("'U0BOB' in form.watchers and form.when < '2027-01-01'", {"watchers": ["U0BOB"], "when": "2026-12-24T15:00:00Z"},
     True),
    ("form.kinds == ['software']", {"kinds": ["software"]}, True),
    ("form.kinds > 1", {"kinds": ["software"]}, False),
    # a comparison that cannot hold (a number against text) is false on its own; the other branch still counts
    ("form.amount > '1000' or form.cat == 'software'", {"amount": 5000, "cat": "software"}, True),
    ("form.amount > '1000' and form.cat == 'software'", {"amount": 5000, "cat": "software"}, False),
]


@pytest.mark.parametrize(("source", "form", "expected"), CONDITIONS)
def test_conditions(source: str, form: dict[str, FormValue], expected: bool) -> None:
    assert Condition.parse(source).evaluate(form) is expected


def test_condition_references() -> None:
    condition = Condition.parse("form.amount > 1000 and form.currency in ['EUR', 'USD']")
    assert condition.references == {"amount", "currency"}


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "open('/etc/passwd')",
        "form.amount.__class__",
        "form['amount']",
        "form.amount + 1 > 2",
        "[x for x in form]",
        "lambda: 1",
        "amount > 1000",
        "form.a if form.b else form.c",
        "form.a is None",
        "b'bytes' == form.a",
        "form.amount >",
        "",
    ],
)
def test_forbidden_conditions(source: str) -> None:
    with pytest.raises(ValueError):
        Condition.parse(source)


_FORM_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))


@settings(max_examples=300)
@given(
    st.sampled_from([source for source, _, _ in CONDITIONS]),
    st.dictionaries(st.sampled_from(["amount", "currency", "severity", "urgent", "a", "b"]), _FORM_VALUES),
)
def test_conditions_never_raise(source: str, form: dict[str, FormValue]) -> None:
    assert isinstance(Condition.parse(source).evaluate(form), bool)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_validate_value_only_raises_value_error(raw: str) -> None:
    for field in (AMOUNT, COUNT, REASON, DAY, PERSON, CURRENCY):
        try:
            field.validate_value(raw)
        except ValueError as error:
            assert str(error)


@pytest.mark.parametrize("slip", ["{Requester}", "{FORM.amount}", "{ form.amount }", "{form.amount.manager}"])
def test_a_misspelt_placeholder_is_an_error_at_load_not_text_in_slack(slip: str) -> None:
    base = {"name": "w", "title": "W", "form": [{"id": "amount", "label": "Amount", "type": "number"}]}
    step = {"id": "a", "type": "task", "title": f"Pay {slip}", "assignee": "requester"}
    with pytest.raises(ValidationError) as raised:
        WorkflowDefinition.model_validate({**base, "steps": [step]})
    assert "placeholder" in str(raised.value) or "form field" in str(raised.value)
    assert WorkflowDefinition.model_validate({**base, "steps": [{**step, "title": "Pay {form.amount}"}]})


@pytest.mark.parametrize(
    "policy",
    [{"remind": {"before": "1 business day"}}, {"remind": {"repeat": "2 business hours"}},
     {"escalate": {"after": "1d", "repeat": "1 business day"}}],
)
def test_reminder_offsets_and_cadences_are_plain_durations(policy: dict[str, object]) -> None:
    step = {"id": "a", "type": "task", "title": "A", "assignee": "requester", "due": "2 business days", **policy}
    with pytest.raises(ValidationError, match="use a plain duration here"):
        WorkflowDefinition.model_validate({"name": "w", "title": "W", "steps": [step]})
