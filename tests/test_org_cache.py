"""The compiled copy of org.yaml: it stands in for org.yaml only while org.yaml is unchanged, an edited org.yaml is
read again (and its copy rewritten), a damaged or foreign copy is never trusted, and a broken entry is still
reported by file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bot.catalog import CatalogError, load_catalog, load_org
from bot.emulator import SlackEmulator
from bot.engine import OrgChart
from bot.org_cache import OrgCache, source_digest
from bot.settings import Settings
from tests.conftest import WORKFLOWS, running_baton

ORG = """\
people:
  U0ALICE:
    name: Alice Example
    manager: U0MARIA
    tz: Europe/Berlin
  U0MARIA:
    name: Maria Manager
groups:
  finance: [U0ALICE]
"""


def _org_file(tmp_path: Path, text: str = ORG) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    return path


def test_loading_with_a_cache_writes_the_compiled_copy_and_reads_it_back_as_the_same_org(tmp_path: Path) -> None:
    path, cache = _org_file(tmp_path), tmp_path / "org-cache.json"
    first = load_org(path, cache=cache)
    assert cache.exists()
    assert OrgCache(cache).read(source_digest(path.read_bytes())) == first == load_org(path)
    assert load_org(path, cache=cache) == first


def test_the_org_rebuilt_after_parsing_is_the_org_as_written(tmp_path: Path) -> None:
    shipped = WORKFLOWS / "org.yaml"
    as_written = OrgChart.model_validate(yaml.safe_load(shipped.read_text()))
    assert as_written.calendar.holidays and as_written.settings.daily_digest  # the copy must keep these too
    assert load_org(shipped) == as_written == load_org(shipped, cache=tmp_path / "org-cache.json")
    assert load_org(shipped, cache=tmp_path / "org-cache.json") == as_written  # now from the copy


def test_the_compiled_copy_stands_in_for_org_yaml_while_org_yaml_is_unchanged(tmp_path: Path) -> None:
    path, cache = _org_file(tmp_path), tmp_path / "org-cache.json"
    stand_in = OrgChart.model_validate({"people": {"U0ALICE": {"name": "From The Copy"}}})
    OrgCache(cache).write(source_digest(path.read_bytes()), stand_in.model_dump_json().encode())
    assert load_org(path, cache=cache).people["U0ALICE"].name == "From The Copy"


def test_a_changed_org_yaml_is_picked_up_and_its_copy_rewritten(tmp_path: Path) -> None:
    path, cache = _org_file(tmp_path), tmp_path / "org-cache.json"
    assert load_org(path, cache=cache).people["U0ALICE"].manager == "U0MARIA"
    path.write_text(ORG.replace("manager: U0MARIA", "manager: U0DIRK").replace("[U0ALICE]", "[U0ALICE, U0MARIA]"))
    changed = load_org(path, cache=cache)
    assert changed.people["U0ALICE"].manager == "U0DIRK"
    assert changed.groups["finance"] == ("U0ALICE", "U0MARIA")
    assert OrgCache(cache).read(source_digest(path.read_bytes())) == changed


def test_a_malformed_entry_is_reported_by_line_even_with_a_copy_of_the_good_org(tmp_path: Path) -> None:
    path, cache = _org_file(tmp_path), tmp_path / "org-cache.json"
    load_org(path, cache=cache)
    path.write_text(ORG.replace("    tz: Europe/Berlin", "    tz: Europe/Berln\n    manger: U0MARIA"))
    with pytest.raises(CatalogError) as raised:
        load_org(path, cache=cache)
    assert [str(error) for error in raised.value.errors] == [
        f"{path}:5: people.U0ALICE.tz: unknown time zone 'Europe/Berln'; use an IANA name such as Europe/Berlin or UTC",
        f"{path}:6: people.U0ALICE.manger: unknown key; did you mean 'manager'?",
    ]
    directory = load_catalog(tmp_path, org_cache=cache)
    assert [(error.file.name, error.line) for error in directory.errors] == [("org.yaml", 5), ("org.yaml", 6)]


def test_a_person_who_is_not_a_mapping_is_told_so_at_their_line(tmp_path: Path) -> None:
    path = _org_file(tmp_path, "people:\n  U0ALICE: Alice\n")
    with pytest.raises(CatalogError) as raised:
        load_org(path, cache=tmp_path / "org-cache.json")
    (error,) = raised.value.errors
    assert (error.line, error.field) == (2, "people.U0ALICE")
    assert error.message.startswith("must be a mapping of keys to values")
    assert not (tmp_path / "org-cache.json").exists()  # a broken org is never compiled


@pytest.mark.parametrize("damage", ["body", "source", "model", "format", "not json", "empty"])
def test_a_damaged_or_foreign_copy_is_never_trusted(tmp_path: Path, damage: str) -> None:
    path, cache = _org_file(tmp_path), tmp_path / "org-cache.json"
    stand_in = OrgChart.model_validate({"people": {"U0ALICE": {"name": "From The Copy"}}})
    OrgCache(cache).write(source_digest(path.read_bytes()), stand_in.model_dump_json().encode())
    header_line, _, body = cache.read_bytes().partition(b"\n")
    header = json.loads(header_line)
    if damage == "body":
        body = body.replace(b"From The Copy", b"From Elsewhere")
    elif damage == "source":
        header["source_sha256"] = source_digest(b"another org.yaml")
    elif damage == "model":
        header["model"] = "0" * 64
    elif damage == "format":
        header["format"] = 0
    if damage == "not json":
        cache.write_bytes(b"\x80\x04 not a copy")
    elif damage == "empty":
        cache.write_bytes(b"")
    else:
        cache.write_bytes(json.dumps(header).encode() + b"\n" + body)
    assert load_org(path, cache=cache).people["U0ALICE"].name == "Alice Example"
    assert OrgCache(cache).read(source_digest(path.read_bytes())) == load_org(path)  # rewritten from org.yaml


def test_a_copy_that_cannot_be_written_leaves_the_org_as_read(tmp_path: Path) -> None:
    path = _org_file(tmp_path)
    (tmp_path / "taken").write_text("a file where the cache's directory would be")
    assert load_org(path, cache=tmp_path / "taken" / "org-cache.json") == load_org(path)


async def test_baton_keeps_the_copy_beside_its_database_and_reads_an_edited_org_yaml_at_the_next_start(
    tmp_path: Path, slack: SlackEmulator
) -> None:
    workflows = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, workflows)
    async with running_baton(tmp_path, slack, workflows_dir=workflows) as (baton, _):
        assert baton.service.catalog.org.people["U0FIONA"].name == "Fiona Finance"
    assert (tmp_path / "baton.org-cache.json").exists()
    org = workflows / "org.yaml"
    org.write_text(org.read_text().replace("name: Fiona Finance", "name: Fiona Renamed"))
    async with running_baton(tmp_path, slack, workflows_dir=workflows) as (baton, _):
        assert baton.service.catalog.org.people["U0FIONA"].name == "Fiona Renamed"


@pytest.mark.parametrize(
    ("database_url", "org_cache", "expected"),
    [
        ("sqlite:///data/baton.db", "auto", Path("data/baton.org-cache.json")),
        ("sqlite:////var/lib/baton/live.db", "auto", Path("/var/lib/baton/live.org-cache.json")),
        ("postgresql://baton@db/baton", "auto", None),
        ("postgresql://baton@db/baton", "/tmp/baton-org-cache.json", Path("/tmp/baton-org-cache.json")),
        ("sqlite:///data/baton.db", "off", None),
    ],
)
def test_where_the_copy_is_kept(database_url: str, org_cache: str, expected: Path | None) -> None:
    settings = Settings(_env_file=None, database_url=database_url, org_cache=org_cache)  # type: ignore[call-arg]
    assert settings.org_cache_path == expected
