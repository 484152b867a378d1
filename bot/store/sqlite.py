"""The embedded default store: SQLite through aiosqlite, one serialised writer, WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.engine import WorkflowDefinition

from .dialect import SQLiteDialect
from .errors import StoreError, opened
from .report_rows import complete_migration, write_missing_report_rows
from .reporting import Fetch
from .schema import migration_statements, migrations_to_apply
from .session import Rows, Statement
from .sql import SQLUnitOfWork

__all__ = ["SQLiteSession", "SQLiteStore", "StoreError"]

T = TypeVar("T")

_DIALECT = SQLiteDialect()


class SQLiteStore:
    """All of Baton's state in one SQLite file."""

    def __init__(self, path: Path, *, auto_migrate: bool = True) -> None:
        self._path = path
        self._auto_migrate = auto_migrate  # one process owns the file, so migrating at start is safe
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._reader: aiosqlite.Connection | None = None  # reports' own connection, opened when first needed
        self._reader_lock = asyncio.Lock()
        self._definitions: dict[str, WorkflowDefinition] = {}

    @property
    def outbox_lease(self) -> timedelta | None:
        return None  # one process owns the file: the sender's own bookkeeping keeps a message from going twice

    @property
    def writers_at_once(self) -> int:
        return 1  # one connection, one writer at a time

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            await connection.execute("PRAGMA busy_timeout = 5000")
            await connection.execute("PRAGMA journal_mode = WAL")
            await connection.execute("PRAGMA synchronous = NORMAL")
            await connection.execute("PRAGMA foreign_keys = ON")
            await self._check_integrity(connection)
            self._connection = connection
            await self._migrate()
            await write_missing_report_rows(self)
        except BaseException as error:
            self._connection = None
            await connection.close()  # its thread would otherwise keep the process alive
            if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
                raise StoreError(
                    f"the database {self._path} is locked by another program; stop it and retry"
                ) from error
            if isinstance(error, sqlite3.DatabaseError):
                raise StoreError(f"cannot open the database {self._path}: {error}") from error
            raise

    async def _check_integrity(self, connection: aiosqlite.Connection) -> None:
        async with connection.execute("PRAGMA quick_check") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] != "ok":
            raise StoreError(
                f"the database {self._path} is damaged ({row[0] if row else 'no answer'}); "
                "restore it from a backup or move it away to start empty"
            )

    async def _migrate(self) -> None:
        connection = self._require()
        await connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        async with connection.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        versions = migrations_to_apply(current, database=str(self._path), apply=self._auto_migrate)
        for version in versions:
            await connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in migration_statements(version, "sqlite"):
                    await connection.execute(statement)
                await complete_migration(version, _fetch(connection), connection.executemany)
                await connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                await connection.execute("COMMIT")
            except BaseException:
                await connection.execute("ROLLBACK")
                raise
        if versions:  # a migration may write much (15's report rows): into the file now, not left for readers
            async with connection.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                await cursor.fetchall()  # its answer read, so that no statement is left in progress

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def _require(self) -> aiosqlite.Connection:
        return opened(self._connection)

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[SQLUnitOfWork]:
        """Run one unit of work alone: BEGIN IMMEDIATE (a plain BEGIN under `query_only` when it only reads, so
        other processes reading the file, such as `export`, are not held off), commit or roll back.

        The unit's writes wait in a queue and go to the database thread together with its next read or with
        the COMMIT, so a decision costs a few trips to that thread instead of one or more per statement."""
        async with self._lock:
            session = SQLiteSession(self._require(), read_only=read_only)
            try:
                work = SQLUnitOfWork(session, _DIALECT, self._definitions, locking=False)
                yield work
                await work.settle_reports()  # the report rows of the requests it finished, in its own commit
            except BaseException:
                await session.finish(commit=False)
                raise
            await session.finish(commit=True)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SQLUnitOfWork]:
        """A read-only unit of work on a connection of its own (one reader at a time): its BEGIN gives it one
        snapshot, and in WAL mode the store's connection commits meanwhile, so no click waits for a report."""
        async with self._reader_lock:
            self._require()
            if self._reader is None:
                reader = await aiosqlite.connect(self._path, isolation_level=None)
                await reader.execute("PRAGMA busy_timeout = 5000")
                self._reader = reader
            session = SQLiteSession(self._reader, read_only=True)
            try:
                yield SQLUnitOfWork(session, _DIALECT, self._definitions, locking=False)
            except BaseException:
                await session.finish(commit=False)
                raise
            await session.finish(commit=True)


Step = Callable[[sqlite3.Connection], object]


def _fetch(connection: aiosqlite.Connection) -> Fetch:
    async def fetch(sql: str, params: Sequence[Any]) -> list[Any]:
        return list(await connection.execute_fetchall(sql, params))

    return fetch


async def _in_thread(connection: aiosqlite.Connection, work: Callable[[], T]) -> T:
    """Run `work` on the connection's own thread: aiosqlite's one choke point, which each of its public
    methods goes through once per call (aiosqlite/core.py `_execute`)."""
    result: T = await connection._execute(work)  # type: ignore[no-untyped-call]
    return result


class SQLiteSession:
    """One transaction on the store's one connection (bot/store/session.py `Session`).

    Writes wait in a queue and go to the database thread together with the next read or with the COMMIT
    (BEGIN IMMEDIATE goes with the first trip), so a decision costs a few trips to that thread instead of
    one or more per statement."""

    def __init__(self, connection: aiosqlite.Connection, *, read_only: bool) -> None:
        self._db = connection
        self._read_only = read_only
        opening = ("PRAGMA query_only = ON", "BEGIN") if read_only else ("BEGIN IMMEDIATE",)
        self._queued: list[Step] = [_statement(sql) for sql in opening]
        self._opening = len(opening)
        self._started = False  # whether the opening statements have reached the database

    def _raw(self) -> sqlite3.Connection:
        return self._db._conn  # only ever called on the connection's own thread

    def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a write whose result nobody needs: it goes out with the next read or the commit."""
        self._queued.append(_statement(sql, params))

    def _write_many(self, sql: str, rows: Rows) -> None:
        if rows:
            self._queued.append(lambda raw: raw.executemany(sql, rows))

    async def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._write(sql, params)

    async def write_many(self, sql: str, rows: Rows) -> None:
        self._write_many(sql, rows)

    async def write_if_changed(self, sql: str, params: Sequence[Any], then: Sequence[Statement]) -> None:
        def step(raw: sqlite3.Connection) -> None:
            if raw.execute(sql, params).rowcount:
                for statement, rows in then:
                    raw.executemany(statement, rows)

        self._queued.append(step)

    async def _run(self, last: Callable[[sqlite3.Connection], T]) -> T:
        """One trip: the queued writes, then `last`, whose result comes back."""
        queued, self._queued = self._queued, []
        self._started = True

        def trip() -> T:
            raw = self._raw()
            for step in queued:
                step(raw)
            return last(raw)

        return await _in_thread(self._db, trip)

    async def _flush(self) -> None:
        await self._run(lambda _raw: None)

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._run(lambda raw: raw.execute(sql, params).fetchone())

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._run(lambda raw: raw.execute(sql, params).fetchall())

    async def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._run(lambda raw: raw.execute(sql, params).rowcount)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        self._write("SAVEPOINT unit")
        await self._flush()
        try:
            yield
            self._write("RELEASE SAVEPOINT unit")
            await self._flush()  # this part's queued writes fail here, inside the savepoint, if they fail
        except BaseException:
            self._queued.clear()
            self._write("ROLLBACK TO SAVEPOINT unit")
            self._write("RELEASE SAVEPOINT unit")
            await self._flush()
            raise

    async def finish(self, *, commit: bool) -> None:
        """Commit (with the writes still queued) or roll back, in one trip; leave the connection clean."""
        untouched = not self._started and (not commit or len(self._queued) == self._opening)
        if untouched:  # nothing reached the database and nothing is to: nothing to commit or undo
            self._queued.clear()
            return
        queued, self._queued = (self._queued, []) if commit else ([], [])
        read_only = self._read_only

        def trip() -> None:
            raw = self._raw()
            try:
                if commit:
                    for step in queued:
                        step(raw)
                    raw.execute("COMMIT")
            finally:
                if raw.in_transaction:  # rolling back, or the commit (or a queued write) failed
                    raw.execute("ROLLBACK")
                if read_only:
                    raw.execute("PRAGMA query_only = OFF")

        await _in_thread(self._db, trip)


def _statement(sql: str, params: Sequence[Any] = ()) -> Step:
    return lambda raw: raw.execute(sql, params)
