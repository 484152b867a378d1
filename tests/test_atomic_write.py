"""A file replaced in one rename: the old one kept when the new one is refused, no partial file left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.atomic_write import write_atomically


class Refused(Exception):
    pass


def test_the_new_file_replaces_the_old_one_readable_by_its_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "made" / "org.yaml"
    write_atomically(target, b"first\n")
    write_atomically(target, b"second\n")
    assert target.read_bytes() == b"second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [path.name for path in target.parent.iterdir()] == ["org.yaml"]


def test_a_new_file_its_check_refuses_leaves_the_old_one_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "org.yaml"
    target.write_bytes(b"old\n")
    seen: list[bytes] = []

    def refuse(written: Path) -> None:
        seen.append(written.read_bytes())
        raise Refused

    with pytest.raises(Refused):
        write_atomically(target, b"new\n", check=refuse)
    assert seen == [b"new\n"]  # checked as written, before the rename
    assert target.read_bytes() == b"old\n"
    assert [path.name for path in tmp_path.iterdir()] == ["org.yaml"]


def test_a_file_that_cannot_be_written_raises_oserror(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory would be")
    with pytest.raises(OSError):
        write_atomically(tmp_path / "taken" / "org-cache.json", b"{}")
