"""`python -m bot backup <file>`: an online, consistent copy of the SQLite database while Baton serves.

SQLite's backup API copies the database in one step inside one read transaction: in WAL mode that is one
snapshot (every committed unit of work in it whole, none half), taken without stopping the writer. The copy
goes to a temporary file beside the target, is checked (`PRAGMA integrity_check`, schema version), and only
then takes the target's name, so a backup that fails leaves no file that looks like one. PostgreSQL has its own
tools for this (pg_dump), which Baton does not wrap."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bot.store import StoreError, is_postgresql
from bot.store.postgres import redacted
from bot.store.schema import SCHEMA_VERSION

__all__ = ["BackupMade", "backup", "postgresql_backup_advice"]

_BUSY_TIMEOUT_MS = 10_000  # the writer holds its lock for one unit of work at a time: milliseconds


@dataclass(frozen=True)
class BackupMade:
    """What a backup holds, for the one line `backup` prints."""

    target: Path
    schema_version: int
    requests: int
    events: int
    size_bytes: int
    seconds: float

    def summary(self) -> str:
        return (
            f"backed up to {self.target}: schema version {self.schema_version}, {self.requests} requests, "
            f"{self.events} events, {self.size_bytes / 1_048_576:.1f} MiB in {self.seconds:.2f}s"
        )


def postgresql_backup_advice(url: str) -> str:
    """What to run instead for PostgreSQL."""
    return (
        f"{redacted(url)} is PostgreSQL: back it up with its own tools while Baton runs, for example "
        "`pg_dump --format=custom --file=baton.dump \"$DATABASE_URL\"` (one consistent snapshot), and restore "
        "with `pg_restore --clean --if-exists --dbname=\"$DATABASE_URL\" baton.dump` while Baton is stopped"
    )


def backup(url: str, target: Path) -> BackupMade:
    """Copy the SQLite database at `url` to `target`; raise StoreError saying why not."""
    if is_postgresql(url):
        raise StoreError(postgresql_backup_advice(url))
    source = Path(url.removeprefix("sqlite:///"))
    if not source.is_file():
        raise StoreError(f"there is no database at {source}")
    if target.resolve() == source.resolve():
        raise StoreError("the backup would overwrite the database itself; name another file")
    if not target.parent.is_dir():
        raise StoreError(f"the folder {target.parent} does not exist")
    started = time.perf_counter()
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        version, requests, events = _check(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupMade(target, version, requests, events, target.stat().st_size, time.perf_counter() - started)


def _copy(source: Path, partial: Path) -> None:
    with contextlib.closing(sqlite3.connect(source, timeout=_BUSY_TIMEOUT_MS / 1000)) as reading:
        reading.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            try:
                reading.backup(copy)  # all pages in one step: one read transaction, one snapshot
            except sqlite3.Error as error:
                raise StoreError(f"could not read {source}: {error}") from error


def _check(partial: Path) -> tuple[int, int, int]:
    with contextlib.closing(sqlite3.connect(partial)) as copy:
        verdict = copy.execute("PRAGMA integrity_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise StoreError(f"the copy failed its integrity check ({verdict[0] if verdict else 'no answer'})")
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, whatever mode the source is in
        version = int(copy.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(f"the database has schema version {version}, newer than this Baton ({SCHEMA_VERSION})")
        requests = int(copy.execute("SELECT COUNT(*) FROM instances").fetchone()[0])
        events = int(copy.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    return version, requests, events
