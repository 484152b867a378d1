"""Every parser of outside input, fed anything: it gives a value or a clear error, never an exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.api import StartBody, read_start_body

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
