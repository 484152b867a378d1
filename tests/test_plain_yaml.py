"""Reading a plain YAML mapping from libyaml's events gives what PyYAML's own loading gives, or nothing at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalog import CatalogError, load_org
from bot.plain_yaml import load_plain_mapping
from tests.conftest import WORKFLOWS

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML without libyaml")
LOADER: Any = getattr(yaml, "CSafeLoader", None)


def _pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yaml")), ids=lambda path: path.name)
def test_the_shipped_files_read_as_pyyaml_reads_them(path: Path) -> None:
    text = path.read_text()
    assert load_plain_mapping(text, LOADER) == _pyyaml(text)


YAML_11 = """\
yes: yes
"quoted": "yes"
off: off
nothing: ~
empty:
clock: 10:00
long_clock: 17:00:00
day: 2026-12-25
moment: 2026-12-25 10:00:00
count: 1_000
hex: 0x1F
octal: 017
float: 1.5e3
infinite: .inf
number_key: {1: one, 2.5: two and a half, 2026-01-01: new year, null: none, false: no}
text: 'a ''quoted'' text'
block: |
  two
  lines
folded: >
  one
  line
flow: [a, {b: c}, [d, e]]
"""


def test_yaml_1_1_scalars_mean_what_they_mean_to_pyyaml() -> None:
    read = load_plain_mapping(YAML_11, LOADER)
    assert read == _pyyaml(YAML_11)
    assert read is not None and read["clock"] == 600 and read["day"] == dt.date(2026, 12, 25) and read[True] is True


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchors and aliases
        "base: &b {x: 1}\nmore:\n  <<: *b\n  y: 2\n",  # merge key
        "<<: {x: 1}\n",
        "a: !!str 1\n",  # tags
        "a: !custom 1\n",
        "!!map {a: 1}\n",
        "a: !!set {x, y}\n",
        "a: 1\na: 2\n",  # a key twice
        "a: {b: 1, b: 2}\n",
        "1: x\n01: y\n",  # two spellings of one key
        "1: x\ntrue: y\n",  # 1 == True in Python: one key
        "a: 1\n---\nb: 2\n",  # two documents
        "- a\n- b\n",  # not a mapping
        "just text\n",
        "",
        "# only a comment\n",
        "a: 2024-02-30\n",  # not a date
        "a: [1, 2\n",  # not YAML
        "a: b: c\n",
        "? [a, b]\n: 1\n",  # a complex key
        "a: =\n",  # the YAML 1.1 value key, which SafeLoader cannot construct
    ],
)
def test_anything_not_plain_or_not_readable_is_left_to_pyyaml(text: str) -> None:
    assert load_plain_mapping(text, LOADER) is None


SCALARS = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.dates(),
    st.datetimes(),
)
KEYS = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans())
DATA = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, DATA, max_size=6), st.sampled_from([False, True, None]))
def test_any_mapping_pyyaml_writes_reads_back_as_pyyaml_reads_it(data: dict[Any, Any], flow: bool | None) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    read = load_plain_mapping(text, LOADER)
    assert read is None or read == _pyyaml(text)
    if read is None:  # only when PyYAML itself would not give this mapping back as a plain document
        assert "&" in text or "*" in text or "!!" in text or _pyyaml(text) != data


def test_a_broken_entry_in_a_plain_org_is_still_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text("people:\n  U0A:\n    name: A\n  U0B:\n    name: B\n    manager: nobody\n")
    with pytest.raises(CatalogError) as raised:
        load_org(path)
    assert [(error.line, error.field) for error in raised.value.errors] == [(6, "people.U0B.manager")]
