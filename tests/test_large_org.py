"""A large organisation: org.yaml written as JSON (as an HR sync writes it) loads fast and exactly as its YAML
form does, and any problem in it is still reported by line, as in YAML."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from bot.catalog import CatalogError, load_org

PEOPLE = 20_000


def _org(people: int) -> dict[str, object]:
    generated = {
        f"U9{index:08d}": {
            "name": f"Person {index}",
            "email": f"person{index}@example.com",
            "tz": ("Europe/Berlin", "America/New_York", "UTC")[index % 3],
            **({"manager": f"U9{(index - 1) // 10:08d}"} if index else {}),
        }
        for index in range(people)
    }
    teams = {
        f"team-{team}": [f"U9{index:08d}" for index in range(team * 10, team * 10 + 10)] for team in range(people // 10)
    }
    return {"people": generated, "groups": teams, "calendar": {"holidays": ["2026-12-25"]}}


def test_an_org_of_20000_people_written_as_json_loads_in_under_a_second(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(json.dumps(_org(PEOPLE), indent=1))
    started = time.process_time()  # CPU time: a busy machine slows the wall clock, not the work
    loaded = load_org(path)
    assert time.process_time() - started < 1.0
    assert len(loaded.people) == PEOPLE


def test_an_org_written_as_json_is_the_same_org_as_written_in_yaml(tmp_path: Path) -> None:
    org = _org(500)
    as_json, as_yaml = tmp_path / "json.yaml", tmp_path / "yaml.yaml"
    as_json.write_text(json.dumps(org, indent=1))
    as_yaml.write_text(yaml.safe_dump(org, sort_keys=False))
    assert load_org(as_json) == load_org(as_yaml)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('{\n "people": {\n  "U0ALICE": {"name": "Alice", "manager": "nobody"}\n }\n}\n', 3, "manager"),
        ('{\n "people": {\n  "U0ALICE": {"name": "Alice"},\n  "U0ALICE": {"name": "Alice B"}\n }\n}\n', 4, "twice"),
    ],
)
def test_a_problem_in_a_json_org_is_reported_by_line_as_in_yaml(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    with pytest.raises(CatalogError) as raised:
        load_org(path)
    (error,) = raised.value.errors
    assert error.line == line and words in str(error)
