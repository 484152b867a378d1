"""The shared store: PostgreSQL through asyncpg, so that several Baton processes keep one truth.

What makes several processes safe, each in the same transaction as the work it guards:
- an instance row is locked (`FOR NO KEY UPDATE`) whenever a unit of work loads it, so two processes
  cannot both decide on the same request: the second waits, then sees the first one's decision;
- due timers are claimed with `SKIP LOCKED` on their instances and fired in the claiming transaction,
  so each fires once; a process that dies mid-sweep loses its connection, its transaction rolls back
  and the timers are due again at once (`idle_in_transaction_session_timeout` ends a hung one);
- the outbox head of each conversation is claimed with a lease (`locked_by`, `locked_until`): every
  process drains the same outbox, no row is sent by two of them at once, each conversation stays in
  order, and the claims of a process that died are taken over when their lease runs out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.engine import WorkflowDefinition

from .dialect import PostgreSQLDialect
from .errors import StoreError, opened
from .report_rows import WriteMany, complete_migration, write_missing_report_rows
from .reporting import Fetch
from .schema import migration_statements, migrations_to_apply
from .session import Rows, Statement, numbered
from .sql import SQLUnitOfWork

__all__ = ["PostgreSQLSession", "PostgreSQLStore", "process_identity", "redacted"]

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_MIGRATION_LOCK = 0x6261746F6E  # "baton": one migrating process at a time


def _count(status: str) -> int:
    """Rows touched, from asyncpg's command status ("UPDATE 3", "INSERT 0 1")."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def process_identity() -> str:
    """Who holds an outbox claim: host, process id and a random tag (process ids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class PostgreSQLStore:
    """All of Baton's state in one PostgreSQL database, shared by any number of Baton processes."""

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = False,
        pool_size: int = 10,
        outbox_lease: timedelta = timedelta(seconds=60),
        owner: str | None = None,
    ) -> None:
        self._url = url
        self._auto_migrate = auto_migrate
        self._pool_size = pool_size
        self._outbox_lease = outbox_lease
        self.owner = owner or process_identity()
        self._dialect = PostgreSQLDialect(owner=self.owner, lease=outbox_lease)
        self._pool: asyncpg.Pool | None = None
        self._definitions: dict[str, WorkflowDefinition] = {}  # immutable by content hash: safe to share
        self.applied: tuple[int, ...] = ()

    @property
    def outbox_lease(self) -> timedelta | None:
        return self._outbox_lease

    @property
    def writers_at_once(self) -> int:
        # Two: a batch of clicks waiting on a row another process holds leaves the next batch free to go.
        return 2 if self._pool_size >= 4 else 1

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self._url,
                min_size=1,
                max_size=self._pool_size,
                server_settings={
                    "application_name": "baton",
                    # A hung process must not keep its locks (claimed timers, an instance) for ever.
                    "idle_in_transaction_session_timeout": "60000",
                },
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"cannot connect to the database {redacted(self._url)}: {error}") from error
        self._pool = pool
        try:
            await self._migrate()
            await write_missing_report_rows(self)
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        async with self._require().acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            current = int(await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            versions = migrations_to_apply(current, database=redacted(self._url), apply=self._auto_migrate)
            for version in versions:
                for statement in migration_statements(version, "postgresql"):
                    await connection.execute(statement)
                await complete_migration(version, _fetch(connection), _write_many(connection))
                await connection.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            self.applied = tuple(versions)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Hand this process's outbox claims back now rather than let their lease run out. The table may not
        # exist yet, or the server may be gone: then the leases expire on their own.
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await pool.execute(
                "UPDATE outbox SET locked_by = NULL, locked_until = NULL WHERE locked_by = $1", self.owner
            )
        await pool.close()

    def _require(self) -> asyncpg.Pool:
        return opened(self._pool)

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[SQLUnitOfWork]:
        """One unit of work on a pooled connection: commit on success, roll back on any error. A read-only one
        (READ ONLY on the server) loads instances without locking them, so a screen never waits for a decision
        or holds one up."""
        async with self._require().acquire() as connection, connection.transaction(readonly=read_only):
            session = PostgreSQLSession(connection)
            work = SQLUnitOfWork(session, self._dialect, self._definitions, locking=not read_only)
            yield work
            await work.settle_reports()  # the report rows of the requests it finished, in its own commit

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SQLUnitOfWork]:
        """A READ ONLY transaction that sees one snapshot (REPEATABLE READ) however many statements it runs."""
        async with (
            self._require().acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield SQLUnitOfWork(PostgreSQLSession(connection), self._dialect, self._definitions, locking=False)


def _fetch(connection: Connection) -> Fetch:
    async def fetch(sql: str, params: Sequence[Any]) -> list[Any]:
        return list(await connection.fetch(numbered(sql), *params))

    return fetch


def _write_many(connection: Connection) -> WriteMany:
    async def write_many(sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await connection.executemany(numbered(sql), rows)

    return write_many


class PostgreSQLSession:
    """One transaction on one pooled connection (bot/store/session.py `Session`): each statement runs at once,
    with its placeholders numbered, so the row locks it asks for are held from then until the commit."""

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    async def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._db.execute(numbered(sql), *params)

    async def write_many(self, sql: str, rows: Rows) -> None:
        if rows:
            await self._db.executemany(numbered(sql), rows)

    async def write_if_changed(self, sql: str, params: Sequence[Any], then: Sequence[Statement]) -> None:
        if await self.changed(sql, params):
            for statement, rows in then:
                await self.write_many(statement, rows)

    async def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _count(await self._db.execute(numbered(sql), *params))

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._db.fetchrow(numbered(sql), *params)

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self._db.fetch(numbered(sql), *params))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self._db.transaction():  # inside a transaction, asyncpg makes this a savepoint
            yield
