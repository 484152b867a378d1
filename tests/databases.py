"""Fresh databases for tests: a SQLite file in tmp_path, or a uniquely named PostgreSQL database dropped after."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

# The server the PostgreSQL tests use: any database on it that the user may CREATE DATABASE from.
POSTGRES = os.environ.get("BATON_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_database(url: str, name: str) -> str:
    """The same server and user, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


_unreachable: list[str] = []  # why the server could not be reached, so later tests skip without waiting again


async def admin_connection() -> asyncpg.Connection:
    """A connection to the test server, or skip the test saying why there is none."""
    if not _unreachable:
        try:
            return await asyncpg.connect(POSTGRES, timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            _unreachable.append(f"no PostgreSQL at {POSTGRES} ({error}); start it or set BATON_TEST_POSTGRES")
    pytest.skip(_unreachable[0])


@asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards, whoever is still connected."""
    admin = await admin_connection()
    name = f"baton_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(POSTGRES, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def query(database: str, sql: str) -> list[tuple[object, ...]]:
    """The rows of `sql` (no parameters), read over a fresh connection to `database` (SQLite in a thread, so that
    a test's own read never blocks the event loop a Baton in the same process runs on)."""
    if database.startswith("sqlite:///"):
        path = database.removeprefix("sqlite:///")

        def read() -> list[tuple[object, ...]]:
            with contextlib.closing(sqlite3.connect(path)) as db:
                return [tuple(row) for row in db.execute(sql)]

        return await asyncio.to_thread(read)
    connection = await asyncpg.connect(database)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def sent_all_but(database: str, conversation: str = "", *, timeout: float = 20.0) -> None:
    """Wait until every queued message has gone out, but those to `conversation`."""
    for _ in range(int(timeout * 10)):
        pending = f"SELECT id FROM outbox WHERE status = 'pending' AND conversation <> '{conversation}'"
        if not await query(database, pending):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("messages are still waiting to be sent")


UNDO_15 = [  # back to schema 14, as a database written before the report rows of migration 15 is
    "DROP TABLE report_tasks",
    "DROP TABLE report_requests",
    "DROP INDEX instances_by_status",
    "DELETE FROM schema_version WHERE version = 15",
]


async def run_statements(database: str, statements: list[str]) -> None:
    """Run these statements, in order, over a fresh connection to `database`."""
    if database.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database.removeprefix("sqlite:///"))) as db, db:
            for sql in statements:
                db.execute(sql)
        return
    connection = await asyncpg.connect(database)
    try:
        for sql in statements:
            await connection.execute(sql)
    finally:
        await connection.close()
