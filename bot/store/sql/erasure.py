"""Erasure: every stored mention of one person rewritten (by the caller's redaction), in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.store.records import ErasedRows, Redaction

from .part import SQLPart

__all__ = ["SQLErasure"]


@dataclass(frozen=True)
class _Erasable:
    """A table's columns that may name a person: plain text or JSON (rewritten inside its strings and keys)."""

    table: str
    keys: tuple[str, ...]
    text: tuple[str, ...] = ()
    json: tuple[str, ...] = ()
    instance: str | None = None  # the column naming the request a row belongs to


_ERASABLE = (
    _Erasable("instances", ("id",), text=("requester",), json=("state",), instance="id"),
    _Erasable("tasks", ("id",), text=("acted_by",), instance="instance_id"),
    _Erasable("task_assignees", ("task_id", "user_id"), text=("user_id",)),
    _Erasable("events", ("id",), text=("actor",), json=("data",), instance="instance_id"),
    _Erasable(
        "outbox",
        ("id",),
        text=("conversation", "message_key", "thread_of", "link_to", "last_error"),
        json=("args",),
        instance="instance_id",
    ),
    _Erasable("slack_messages", ("message_key",), text=("message_key",)),
    _Erasable("seen_requests", ("request_key",), text=("request_key",)),
    _Erasable("report_requests", ("instance_id",), text=("requester",), instance="instance_id"),
    _Erasable("report_tasks", ("task_id",), text=("assignees",), instance="instance_id"),
    _Erasable("api_requests", ("instance_id",), text=("idempotency_key", "callback_url"), instance="instance_id"),
)


class SQLErasure(SQLPart):
    """Finds the rows that may name a person (any of the redaction's needles, in any case) and rewrites them."""

    async def pseudonym_secret(self, candidate: str) -> str:
        """The database's secret for pseudonyms: `candidate` the first time, the same secret ever after."""
        await self._db.write(
            "INSERT INTO pseudonym_keys (key_name, secret) VALUES ('forget', ?) ON CONFLICT (key_name) DO NOTHING",
            (candidate,),
        )
        row = await self._db.one("SELECT secret FROM pseudonym_keys WHERE key_name = 'forget'")
        return str(row[0])

    async def erase_person(self, user_id: str, redaction: Redaction, reason: str) -> ErasedRows:
        """Rewrite every row that names the person; drop what was still to be sent to them, and what Baton kept
        only for them (Home tab viewer, digests sent, delegations, send pace). `reason` explains the dropped
        messages."""
        dropped = await self._db.changed(
            "UPDATE outbox SET status = 'failed', last_error = ?, locked_by = NULL, locked_until = NULL "
            "WHERE status = 'pending' AND conversation = ?",
            (reason, user_id),
        )
        held = await self._db.one(
            "SELECT COUNT(DISTINCT t.id) FROM tasks t JOIN task_assignees a ON a.task_id = t.id "
            "WHERE a.user_id = ? AND t.status = 'open'",
            (user_id,),
        )
        changed: dict[str, int] = {}
        requests: set[int] = set()
        for erasable in _ERASABLE:
            count, touched = await self._rewrite(erasable, redaction)
            changed[erasable.table] = count
            requests |= touched
        for name, sql, params in (
            ("delegations", "DELETE FROM delegations WHERE user_id = ? OR delegate = ?", (user_id, user_id)),
            ("home_viewers", "DELETE FROM home_viewers WHERE user_id = ?", (user_id,)),
            ("digests", "DELETE FROM digests WHERE user_id = ?", (user_id,)),
            ("send_pace", "DELETE FROM send_pace WHERE pace_key = ?", (f"conversation {user_id}",)),
        ):
            changed[name] = await self._db.changed(sql, params)
        definitions = await self._db.all(
            "SELECT DISTINCT name FROM definitions WHERE " + _mentions(("body",), redaction.needles),
            _patterns(("body",), redaction.needles),
        )
        return ErasedRows(
            changed=changed,
            requests=tuple(sorted(requests)),
            dropped_messages=dropped,
            definitions=tuple(sorted(str(row[0]) for row in definitions)),
            open_tasks=int(held[0]),
        )

    async def _rewrite(self, erasable: _Erasable, redaction: Redaction) -> tuple[int, set[int]]:
        columns = (*erasable.text, *erasable.json)
        selected = (*erasable.keys, *columns, *((erasable.instance,) if erasable.instance else ()))
        rows = await self._db.all(
            f"SELECT {', '.join(selected)} FROM {erasable.table} WHERE {_mentions(columns, redaction.needles)}",
            _patterns(columns, redaction.needles),
        )
        updates: list[list[object]] = []
        touched: set[int] = set()
        width = len(erasable.keys)
        for row in rows:
            before = [row[width + index] for index in range(len(columns))]
            after = [
                None if value is None else redaction.text(value) if column in erasable.text else redaction.json(value)
                for column, value in zip(columns, before, strict=True)
            ]
            if after == before:
                continue
            updates.append([*after, *(row[index] for index in range(width))])
            if erasable.instance is not None and row[len(selected) - 1] is not None:
                touched.add(int(row[len(selected) - 1]))
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            keys = " AND ".join(f"{key} = ?" for key in erasable.keys)
            await self._db.write_many(f"UPDATE {erasable.table} SET {assignments} WHERE {keys}", updates)
        return len(updates), touched


def _mentions(columns: Sequence[str], needles: Sequence[str]) -> str:
    """A condition true where any column holds any needle, in any case (a wide net: the redaction decides)."""
    return " OR ".join(f"LOWER(COALESCE({column}, '')) LIKE ?" for column in columns for _needle in needles)


def _patterns(columns: Sequence[str], needles: Sequence[str]) -> list[str]:
    # `_` and `%` in a needle only widen the net; a backslash (PostgreSQL's LIKE escape) is widened to `_` too.
    return [f"%{needle.lower().replace(chr(92), '_')}%" for _column in columns for needle in needles]
