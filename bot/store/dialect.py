"""The statements that truly differ between SQLite and PostgreSQL; all the other SQL is written once.

What differs: how request numbers are drawn, row locks, the null-safe "differs from", how a statement names
many values at once, and the two claims (due outbox heads, due timers), which on PostgreSQL skip what another
process holds. The rest of the spelling (placeholders) is the session's (bot/store/session.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from .rows import OUTBOX_COLUMNS, TIMER_COLUMNS

__all__ = ["Dialect", "PostgreSQLDialect", "SQLType", "SQLiteDialect"]

SQLType = Literal["bigint", "text"]

_IN_LIMIT = 500  # values per `IN (...)`: far below SQLite's limit on variables
_OUTBOX_COLUMNS = ", ".join(f"o.{column}" for column in OUTBOX_COLUMNS)


class Dialect(Protocol):
    """How one database spells what the others spell differently."""

    @property
    def next_instance_id(self) -> str:
        """A query whose one value is the next request number."""
        ...

    @property
    def row_lock(self) -> str:
        """The clause that locks the rows a decision loads until the commit ("" where the store serialises
        its units of work itself)."""
        ...

    @property
    def differs(self) -> str:
        """The null-safe "is not equal to" operator."""
        ...

    @property
    def skip_locked(self) -> str:
        """The clause that locks the rows a claim reads for deletion, passing over those another process holds
        ("" where one process owns the database)."""
        ...

    @property
    def joined(self) -> str:
        """The aggregate that joins a group's texts with a separator: `{joined}(column, ',')`."""
        ...

    def member_of(self, column: str, values: Sequence[Any], sql_type: SQLType) -> list[tuple[str, list[Any]]]:
        """Conditions `column` is one of `values`, each with its parameters: all the values are covered by one
        condition or by several (each run in its own statement); none for no values."""
        ...

    def claim_outbox(self, now: float, *, limit: int, exclude: Collection[int]) -> tuple[str, list[Any]]:
        """A query that returns (and claims, where processes share the outbox) the due head of each conversation
        but `exclude`: its OUTBOX_COLUMNS (bot/store/rows.py), then the channel and ts of its message_key."""
        ...

    def claim_timers(self, now: float, *, limit: int) -> tuple[str, list[Any]]:
        """A write that marks up to `limit` due timers fired and returns their TIMER_COLUMNS."""
        ...


class SQLiteDialect:
    """One process owns the file and runs one unit of work at a time: nothing to lock, nothing to skip."""

    next_instance_id = (  # after the highest number in use or purged (bot/store/sql/retention.py)
        "SELECT MAX(n) + 1 FROM (SELECT COALESCE(MAX(id), 0) AS n FROM instances UNION ALL "
        "SELECT mark FROM retention_marks WHERE mark_name = 'highest_purged_request') AS numbers"
    )
    row_lock = ""
    differs = "IS NOT"
    skip_locked = ""
    joined = "GROUP_CONCAT"

    def member_of(self, column: str, values: Sequence[Any], sql_type: SQLType) -> list[tuple[str, list[Any]]]:
        chunks = [list(values[offset : offset + _IN_LIMIT]) for offset in range(0, len(values), _IN_LIMIT)]
        return [(f"{column} IN ({', '.join('?' * len(chunk))})", chunk) for chunk in chunks]

    def claim_outbox(self, now: float, *, limit: int, exclude: Collection[int]) -> tuple[str, list[Any]]:
        skipped = list(exclude)
        sql = (
            f"SELECT {_OUTBOX_COLUMNS}, m.channel, m.ts FROM outbox o "
            "JOIN (SELECT conversation, MIN(id) AS head FROM outbox WHERE status = 'pending' "
            "GROUP BY conversation) h ON h.head = o.id "
            "LEFT JOIN slack_messages m ON m.message_key = o.message_key "
            "WHERE o.next_attempt_at <= ?"
            + (f" AND o.id NOT IN ({', '.join('?' * len(skipped))})" if skipped else "")
            + " ORDER BY o.id LIMIT ?"
        )
        return sql, [now, *skipped, limit]

    def claim_timers(self, now: float, *, limit: int) -> tuple[str, list[Any]]:
        sql = (
            "UPDATE timers SET status = 'fired', fired_at = ? WHERE id IN ("
            "SELECT id FROM timers WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?) "
            f"RETURNING {', '.join(TIMER_COLUMNS)}"
        )
        return sql, [now, now, limit]


@dataclass(frozen=True)
class PostgreSQLDialect:
    """Processes share the database: a decision locks its request's row, claims skip rows another process
    holds, and an outbox claim is a lease held by `owner` for `lease`."""

    owner: str
    lease: timedelta
    next_instance_id = "SELECT nextval(pg_get_serial_sequence('instances', 'id'))"  # processes start at once
    row_lock = " FOR NO KEY UPDATE"
    differs = "IS DISTINCT FROM"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    joined = "STRING_AGG"

    def member_of(self, column: str, values: Sequence[Any], sql_type: SQLType) -> list[tuple[str, list[Any]]]:
        return [(f"{column} = ANY(?::{sql_type}[])", [list(values)])] if values else []

    def claim_outbox(self, now: float, *, limit: int, exclude: Collection[int]) -> tuple[str, list[Any]]:
        # The lease test sits on the locked row itself, so READ COMMITTED re-checks it after waiting for a
        # claim that another process just committed; SKIP LOCKED passes over one still being made.
        sql = f"""WITH heads AS (
                   SELECT DISTINCT ON (conversation) id FROM outbox
                   WHERE status = 'pending' ORDER BY conversation, id
               ), due AS (
                   SELECT o.id FROM outbox o JOIN heads h ON h.id = o.id
                   WHERE o.status = 'pending' AND o.next_attempt_at <= ?
                     AND (o.locked_until IS NULL OR o.locked_until <= ?) AND o.id <> ALL(?::bigint[])
                   ORDER BY o.id LIMIT ?
                   FOR UPDATE OF o SKIP LOCKED
               ), claimed AS (
                   UPDATE outbox o SET locked_by = ?, locked_until = ? FROM due WHERE o.id = due.id
                   RETURNING {_OUTBOX_COLUMNS}
               )
               SELECT c.*, m.channel, m.ts
               FROM claimed c LEFT JOIN slack_messages m ON m.message_key = c.message_key"""
        return sql, [now, now, list(exclude), limit, self.owner, now + self.lease.total_seconds()]

    def claim_timers(self, now: float, *, limit: int) -> tuple[str, list[Any]]:
        # Only a transaction that holds an instance writes its timers, so locking the instances (skipping
        # those a click or another sweep holds) is enough; the UPDATE re-checks `pending` on the newest row.
        sql = f"""WITH due AS (
                   SELECT t.id FROM timers t JOIN instances i ON i.id = t.instance_id
                   WHERE t.status = 'pending' AND t.due_at <= ?
                   ORDER BY t.due_at, t.id LIMIT ?
                   FOR NO KEY UPDATE OF i SKIP LOCKED
               )
               UPDATE timers SET status = 'fired', fired_at = ?
               FROM due WHERE timers.id = due.id AND timers.status = 'pending'
               RETURNING {", ".join(f"timers.{column}" for column in TIMER_COLUMNS)}"""
        return sql, [now, limit, now]
