"""The seam between Baton's SQL and a database driver: a few primitives that one open transaction offers.

The SQL above this seam (bot/store/sql/) is written once, with `?` placeholders; each driver's session runs
it its own way (httpx's transports are the model: one small interface, everything else above it):
- SQLite (bot/store/sqlite.py) queues the writes and sends them with the next read or the COMMIT, so a unit
  of work costs a few trips to aiosqlite's thread rather than one a statement;
- PostgreSQL (bot/store/postgres.py) numbers the placeholders (`$1`, `$2`...) and runs each statement at
  once on its pooled connection, so that row locks are taken when the statement asks for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from typing import Any, Protocol

__all__ = ["Rows", "Session", "Statement", "numbered"]

# Parameter rows for one statement run many times (executemany).
Rows = Sequence[Sequence[Any]]
# A statement and its parameter rows.
Statement = tuple[str, Rows]


class Session(Protocol):
    """One open transaction on one connection. A write's failure may surface at the next call, at the
    latest at the commit, inside the transaction (or the savepoint) that made it."""

    async def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a write whose result nobody needs."""
        ...

    async def write_many(self, sql: str, rows: Rows) -> None:
        """Run one write for each parameter row (nothing for none)."""
        ...

    async def write_if_changed(self, sql: str, params: Sequence[Any], then: Sequence[Statement]) -> None:
        """Run a write and, when it changed a row, the statements `then` (in the same trip where writes are
        queued: a task's upsert and the rewrite of its assignees)."""
        ...

    async def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write now and say how many rows it changed."""
        ...

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query (indexable by column position), or None."""
        ...

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query (each indexable by column position)."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested unit: undo just this part on error, keep the rest of the transaction."""
        ...


_LITERAL_OR_MARK = re.compile(r"'[^']*'|\?")


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """`sql` with its `?` placeholders numbered as PostgreSQL wants them (`$1`, `$2`...), string literals
    left alone."""
    count = 0

    def number(found: re.Match[str]) -> str:
        nonlocal count
        if found.group() != "?":
            return found.group()
        count += 1
        return f"${count}"

    return _LITERAL_OR_MARK.sub(number, sql)
