"""Every parser of outside input, fed anything: it gives a value or a clear error, never an exception."""

from __future__ import annotations

import html
import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.api import StartBody, read_start_body
from bot.engine.expressions import escape_text

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
        assert value is None or isinstance(value, str | int | float)
    assert all(len(key) <= 70 for key in body.errors)


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
