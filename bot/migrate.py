"""`python -m bot migrate` and `migrate-data`: bring a schema up to date; copy a SQLite database into PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.store import PostgreSQLStore, StoreError, is_postgresql, store_for
from bot.store.postgres import redacted
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["CopiedTable", "migrate", "migrate_data", "schema_version", "tables"]


def tables() -> list[str]:
    """Baton's tables in the order the migrations create them, so that every reference points backwards."""
    names: list[str] = []
    for migration in MIGRATIONS:
        for statement in migration:
            found = re.match(r"\s*CREATE TABLE (\w+)", statement)
            if found:
                names.append(found.group(1))
    return names


async def schema_version(url: str) -> int:
    """The schema version a database is at (0 for an empty one), without changing it."""
    if is_postgresql(url):
        connection = await _connect(url)
        try:
            if await connection.fetchval("SELECT to_regclass('schema_version')") is None:
                return 0
            return int(await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        finally:
            await connection.close()
    path = _sqlite_path(url)
    if not path.exists():
        return 0
    with contextlib.closing(_read_only(path)) as source:
        return _sqlite_version(source)


async def migrate(url: str) -> str:
    """Apply every pending migration; return one line saying what was done."""
    before = await schema_version(url)
    store = store_for(url, auto_migrate=True)
    await store.open()
    await store.close()
    if before == SCHEMA_VERSION:
        return f"{redacted(url)}: the schema is at version {SCHEMA_VERSION}; nothing to do"
    return f"{redacted(url)}: migrated the schema from version {before} to {SCHEMA_VERSION}"


@dataclass(frozen=True)
class CopiedTable:
    """One table copied and checked: its row count and a checksum of its rows, equal on both sides."""

    name: str
    rows: int
    checksum: str


async def migrate_data(source: str, target: str, *, report: Callable[[str], None] = print) -> list[CopiedTable]:
    """Copy every row of every table from a SQLite database into an empty PostgreSQL one, then verify it."""
    if not source.startswith("sqlite:///"):
        raise StoreError(f"--from must be a SQLite database (sqlite:///path/to/baton.db), not {redacted(source)}")
    if not is_postgresql(target):
        raise StoreError(f"--to must be a PostgreSQL database (postgresql://…), not {redacted(target)}")
    path = _sqlite_path(source)
    if not path.exists():
        raise StoreError(f"there is no database at {path}")
    with contextlib.closing(_read_only(path)) as reader:
        version = _sqlite_version(reader)
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{path} has schema version {version} and this Baton {SCHEMA_VERSION}; "
                + (
                    f"run `DATABASE_URL={source} python -m bot migrate` first"
                    if version < SCHEMA_VERSION
                    else "use the Baton that wrote it"
                )
            )
        unknown = _sqlite_tables(reader) - set(tables())
        if unknown:
            raise StoreError(f"{path} has tables this Baton does not know: {', '.join(sorted(unknown))}")
        await _refuse_non_empty(target)
        store = PostgreSQLStore(target, auto_migrate=True)
        await store.open()
        await store.close()
        connection = await _connect(target)
        try:
            async with connection.transaction():
                copied = await _copy(reader, connection, target, report)
        finally:
            await connection.close()
    return copied


async def _copy(
    reader: sqlite3.Connection, connection: asyncpg.Connection, target: str, report: Callable[[str], None]
) -> list[CopiedTable]:
    names = tables()
    await connection.execute(f"LOCK TABLE {', '.join(names)} IN SHARE ROW EXCLUSIVE MODE")
    await _refuse_rows(connection, names, target)  # again, now that nobody else can add any
    copied = []
    for name in names:
        columns = [row[1] for row in reader.execute(f"PRAGMA table_info({name})")]
        types = await _column_types(connection, name)
        missing = [column for column in columns if column not in types]
        if missing:
            raise StoreError(f"the target's table {name} lacks the column(s) {', '.join(missing)}")
        source_sum = _Checksum()
        cursor = reader.execute(f"SELECT {', '.join(columns)} FROM {name}")
        records = _canonical_rows(cursor, name, columns, [types[c] for c in columns], source_sum)
        await connection.copy_records_to_table(name, records=records, columns=columns)
        target_sum = _Checksum()
        async for record in connection.cursor(f"SELECT {', '.join(columns)} FROM {name}"):
            target_sum.add(tuple(record))
        if (target_sum.rows, target_sum.digest()) != (source_sum.rows, source_sum.digest()):
            raise StoreError(
                f"table {name}: the copy does not match ({source_sum.rows} rows, checksum {source_sum.digest()} "
                f"in SQLite; {target_sum.rows} rows, checksum {target_sum.digest()} in PostgreSQL); nothing was kept"
            )
        copied.append(CopiedTable(name, source_sum.rows, source_sum.digest()))
        report(f"{name}: {source_sum.rows} rows copied, checksum {source_sum.digest()} matches")
    for table, column in await connection.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ):
        highest = f"COALESCE(MAX({column}), 0)"
        if table == "instances":  # and after the requests purged for retention
            highest = (
                f"GREATEST({highest}, COALESCE((SELECT mark FROM retention_marks "
                "WHERE mark_name = 'highest_purged_request'), 0))"
            )
        await connection.execute(  # the next request number continues after the copied ones
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT {highest} + 1 FROM {table}), false)"
        )
    return copied


class _Checksum:
    """An order-independent checksum of rows: the sum of each row's SHA-256, modulo 2**256, and a count."""

    def __init__(self) -> None:
        self.rows = 0
        self._sum = 0

    def add(self, row: tuple[Any, ...]) -> None:
        encoded = json.dumps([value.hex() if isinstance(value, float) else value for value in row])
        self._sum = (self._sum + int.from_bytes(hashlib.sha256(encoded.encode()).digest(), "big")) % 2**256
        self.rows += 1

    def digest(self) -> str:
        return f"{self._sum:064x}"[:16]


def _canonical_rows(
    cursor: sqlite3.Cursor, table: str, columns: list[str], types: list[str], checksum: _Checksum
) -> Iterator[tuple[Any, ...]]:
    """Source rows as PostgreSQL expects them; a value the target column cannot hold exactly stops the copy."""
    for row in cursor:
        cells = zip(row, types, columns, strict=True)
        values = tuple(_canonical(value, kind, f"{table}.{column}") for value, kind, column in cells)
        checksum.add(values)
        yield values


def _canonical(value: Any, kind: str, where: str) -> Any:
    if value is None:
        return None
    if kind in ("bigint", "integer") and isinstance(value, int):
        return value
    if kind == "double precision" and isinstance(value, int | float):
        return float(value)
    if kind == "text" and isinstance(value, str):
        return value
    raise StoreError(f"{where}: the value {value!r} does not fit the target column ({kind}); nothing was kept")


async def _column_types(connection: asyncpg.Connection, table: str) -> dict[str, str]:
    rows = await connection.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = $1",
        table,
    )
    return {row[0]: row[1] for row in rows}


async def _refuse_non_empty(target: str) -> None:
    connection = await _connect(target)
    try:
        present = [name for name in tables() if await connection.fetchval("SELECT to_regclass($1)", name) is not None]
        await _refuse_rows(connection, present, target)
    finally:
        await connection.close()


async def _refuse_rows(connection: asyncpg.Connection, names: list[str], target: str) -> None:
    for name in names:
        if await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {name})"):
            raise StoreError(
                f"the target {redacted(target)} already holds data (table {name} is not empty); "
                "migrate-data only copies into an empty database, so nothing was copied"
            )


async def _connect(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise StoreError(f"cannot connect to the database {redacted(url)}: {error}") from error


def _sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _sqlite_tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version'"
    )
    return {str(row[0]) for row in rows}


def _sqlite_version(connection: sqlite3.Connection) -> int:
    exists = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    if exists.fetchone() is None:
        return 0
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0
