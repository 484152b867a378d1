"""The embedded default store: SQLite through aiosqlite, one serialised writer, WAL."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.engine import Event, Instance, Task, WorkflowDefinition
from bot.engine.digest import Assignment
from bot.engine.kpis import KpiRows
from bot.engine.timers import Timer
from bot.pacing import Bucket, Limit, take_token

from . import reporting
from .errors import StoreError
from .records import AuditEntry, DueTimer, MessageRef, OutboxMessage, PendingMessage
from .rows import (
    TimerChange,
    epoch,
    event_row,
    instance_row,
    moment,
    outbox_row,
    pending_message,
    task_row,
    task_writes,
    timer_row,
    timer_writes,
)
from .schema import migration_statements, migrations_to_apply

__all__ = ["SQLiteStore", "StoreError"]

T = TypeVar("T")

_SAVE_INSTANCE = """INSERT INTO instances
       (id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state,
       updated_at = excluded.updated_at, finished_at = excluded.finished_at"""
_SAVE_TASK = """INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at,
       acted_by = excluded.acted_by, acted_at = excluded.acted_at"""
_APPEND_EVENT = (
    "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
    "VALUES (?, (SELECT workflow FROM instances WHERE id = ?), ?, ?, ?, ?, ?)"
)
_CANCEL_TIMERS = (
    "UPDATE timers SET status = 'cancelled' WHERE task_id = ? AND status = 'pending' "
    "AND (? IS NULL OR recipient = ?) "
    "AND (? = 0 OR kind IN ('remind_before', 'remind_due', 'remind_overdue'))"
)
_IN_LIMIT = 500  # values per `IN (...)`: far below SQLite's limit on variables


class SQLiteStore:
    """All of Baton's state in one SQLite file."""

    def __init__(self, path: Path, *, auto_migrate: bool = True) -> None:
        self._path = path
        self._auto_migrate = auto_migrate  # one process owns the file, so migrating at start is safe
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._definitions: dict[str, WorkflowDefinition] = {}

    @property
    def outbox_lease(self) -> timedelta | None:
        return None  # one process owns the file: the sender's own bookkeeping keeps a message from going twice

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
        for version in migrations_to_apply(current, database=str(self._path), apply=self._auto_migrate):
            await connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in migration_statements(version, "sqlite"):
                    await connection.execute(statement)
                await connection.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                await connection.execute("COMMIT")
            except BaseException:
                await connection.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def _require(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise StoreError("the store is not open")
        return self._connection

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[SQLiteUnitOfWork]:
        """Run one unit of work alone: BEGIN IMMEDIATE (a plain BEGIN under `query_only` when it only reads, so
        other processes reading the file, such as `export`, are not held off), commit or roll back.

        The unit's writes wait in a queue and go to the database thread together with its next read or with
        the COMMIT, so a decision costs a few trips to that thread instead of one or more per statement."""
        async with self._lock:
            work = SQLiteUnitOfWork(self._require(), self._definitions, read_only=read_only)
            try:
                yield work
            except BaseException:
                await work.finish(commit=False)
                raise
            await work.finish(commit=True)


Step = Callable[[sqlite3.Connection], object]


async def _in_thread(connection: aiosqlite.Connection, work: Callable[[], T]) -> T:
    """Run `work` on the connection's own thread: aiosqlite's one choke point, which each of its public
    methods goes through once per call (aiosqlite/core.py `_execute`)."""
    result: T = await connection._execute(work)  # type: ignore[no-untyped-call]
    return result


class SQLiteUnitOfWork:
    """The store's operations, inside one open transaction."""

    def __init__(
        self, connection: aiosqlite.Connection, definitions: dict[str, WorkflowDefinition], *, read_only: bool
    ) -> None:
        self._db = connection
        self._definitions = definitions
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

    def _write_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._queued.append(lambda raw: raw.executemany(sql, rows))

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

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._run(lambda raw: raw.execute(sql, params).fetchone())

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._run(lambda raw: raw.execute(sql, params).fetchall())

    async def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write now and say how many rows it changed."""
        return await self._run(lambda raw: raw.execute(sql, params).rowcount)

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

    async def next_instance_id(self) -> int:
        row = await self._one("SELECT COALESCE(MAX(id), 0) + 1 FROM instances")
        return int(row[0])

    async def save_definition(self, definition: WorkflowDefinition, now: datetime) -> None:
        version = definition.version
        if version in self._definitions:
            return
        self._write(
            "INSERT INTO definitions (version, name, body, stored_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (version) DO NOTHING",
            (version, definition.name, definition.model_dump_json(), epoch(now)),
        )

    async def definition(self, version: str) -> WorkflowDefinition | None:
        cached = self._definitions.get(version)
        if cached is not None:
            return cached
        row = await self._one("SELECT body FROM definitions WHERE version = ?", (version,))
        if row is None:
            return None
        definition = WorkflowDefinition.model_validate_json(row[0])
        self._definitions[version] = definition
        return definition

    async def instance(self, instance_id: int) -> Instance | None:
        row = await self._one("SELECT state FROM instances WHERE id = ?", (instance_id,))
        return Instance.model_validate_json(row[0]) if row else None

    async def instances(self, instance_ids: Collection[int]) -> dict[int, Instance]:
        """Several instances by id, in one query per few hundred (those that do not exist are left out)."""
        wanted = list(dict.fromkeys(instance_ids))
        found: dict[int, Instance] = {}
        for offset in range(0, len(wanted), _IN_LIMIT):
            chunk = wanted[offset : offset + _IN_LIMIT]
            marks = ", ".join("?" * len(chunk))
            rows = await self._all(f"SELECT id, state FROM instances WHERE id IN ({marks})", chunk)
            found.update((row[0], Instance.model_validate_json(row[1])) for row in rows)
        return found

    async def instance_of_task(self, task_id: str) -> Instance | None:
        row = await self._one(
            "SELECT i.state FROM instances i JOIN tasks t ON t.instance_id = i.id WHERE t.id = ?", (task_id,)
        )
        return Instance.model_validate_json(row[0]) if row else None

    async def save_instance(self, instance: Instance) -> None:
        self._write(
            """INSERT INTO instances
                   (id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state,
                   updated_at = excluded.updated_at, finished_at = excluded.finished_at""",
            instance_row(instance),
        )
        tasks = [(task_row(task), task.id, task.assignees) for task in instance.tasks]
        self._queued.append(lambda raw: _save_tasks(raw, tasks))

    async def append_events(self, instance_id: int, events: Sequence[Event]) -> None:
        self._write_many(
            "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
            "VALUES (?, (SELECT workflow FROM instances WHERE id = ?), ?, ?, ?, ?, ?)",
            [(instance_id, *event_row(instance_id, e)) for e in events],
        )

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        """Save these states in order, with what save_instance would write for each, in a few statements."""
        if not instances:
            return
        self._write_many(_SAVE_INSTANCE, [instance_row(instance) for instance in instances])
        tasks = [task for instance in instances for task in instance.tasks]
        ids = list(dict.fromkeys(task.id for task in tasks))
        stored: dict[str, tuple[str, float | None]] = {}
        for offset in range(0, len(ids), _IN_LIMIT):
            chunk = ids[offset : offset + _IN_LIMIT]
            marks = ", ".join("?" * len(chunk))
            rows = await self._all(f"SELECT id, status, due_at FROM tasks WHERE id IN ({marks})", chunk)
            stored.update((row[0], (row[1], row[2])) for row in rows)
        written, assignees = task_writes(tasks, stored)
        if not written:
            return
        self._write_many(_SAVE_TASK, written)
        self._write_many("DELETE FROM task_assignees WHERE task_id = ?", [(task,) for task in assignees])
        self._write_many(
            "INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)",
            [(task, user) for task, users in assignees.items() for user in users],
        )

    async def append_history(self, lines: Sequence[tuple[int, Event]]) -> None:
        """Append events to several instances' histories, in this order, in one statement."""
        if not lines:
            return
        self._write_many(
            _APPEND_EVENT, [(instance_id, *event_row(instance_id, event)) for instance_id, event in lines]
        )

    async def enqueue(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        self._write_many(
            """INSERT INTO outbox (conversation, method, args, message_key, instance_id, status,
                                   next_attempt_at, created_at, thread_of, link_to, render)
               VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)""",
            [outbox_row(m, now) for m in messages],
        )

    async def supersede_pending(self, conversation: str, method: str, after_id: int, now: datetime) -> int:
        return await self._changed(
            "UPDATE outbox SET status = 'superseded', sent_at = ? "
            "WHERE status = 'pending' AND conversation = ? AND method = ? AND id > ?",
            (epoch(now), conversation, method, after_id),
        )

    async def take_send_token(self, key: str, now: datetime, limit: Limit) -> float:
        row = await self._one("SELECT tokens, updated_at FROM send_pace WHERE pace_key = ?", (key,))
        bucket, wait = take_token(Bucket(row[0], row[1]) if row else None, epoch(now), limit)
        self._write(
            "INSERT INTO send_pace (pace_key, tokens, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (pace_key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
            (key, bucket.tokens, bucket.updated_at),
        )
        return wait

    async def note_home_opened(self, user_id: str, now: datetime) -> None:
        self._write(
            "INSERT INTO home_viewers (user_id, opened_at) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at",
            (user_id, epoch(now)),
        )

    async def home_viewers(self, user_ids: Collection[str]) -> set[str]:
        wanted = tuple(dict.fromkeys(user_ids))
        if not wanted:
            return set()
        rows = await self._all(
            f"SELECT user_id FROM home_viewers WHERE user_id IN ({', '.join('?' * len(wanted))})", wanted
        )
        return {row[0] for row in rows}

    async def seen(self, request_key: str) -> bool:
        return await self._one("SELECT 1 FROM seen_requests WHERE request_key = ?", (request_key,)) is not None

    async def first_sighting(self, request_key: str, now: datetime) -> bool:
        inserted = await self._changed(
            "INSERT INTO seen_requests (request_key, seen_at) VALUES (?, ?) ON CONFLICT (request_key) DO NOTHING",
            (request_key, epoch(now)),
        )
        return inserted == 1

    async def forget_sighting(self, request_key: str) -> None:
        self._write("DELETE FROM seen_requests WHERE request_key = ?", (request_key,))

    async def open_tasks_of(self, user_id: str, *, limit: int = 50) -> list[Task]:
        rows = await self._all(
            """SELECT i.state, t.id FROM task_assignees a
               JOIN tasks t ON t.id = a.task_id JOIN instances i ON i.id = t.instance_id
               WHERE a.user_id = ? AND t.status = 'open'
               ORDER BY COALESCE(t.due_at, 1e18), t.created_at LIMIT ?""",
            (user_id, limit),
        )
        tasks = []
        for state, task_id in rows:
            task = Instance.model_validate_json(state).task(task_id)
            if task is not None:
                tasks.append(task)
        return tasks

    async def instances_requested_by(self, user_id: str, *, limit: int = 20) -> list[Instance]:
        rows = await self._all(
            "SELECT state FROM instances WHERE requester = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (user_id, limit),
        )
        return [Instance.model_validate_json(row[0]) for row in rows]

    async def audit_trail(self, instance_id: int) -> list[AuditEntry]:
        rows = await self._all(
            "SELECT id, instance_id, kind, at, actor, task_id, data FROM events WHERE instance_id = ? ORDER BY id",
            (instance_id,),
        )
        return [AuditEntry(r[0], r[1], r[2], moment(r[3]), r[4], r[5], json.loads(r[6])) for r in rows]

    async def due_outbox(
        self, now: datetime, *, limit: int, exclude: Collection[int] = ()
    ) -> list[PendingMessage]:
        """The due head of each conversation, oldest first, but for `exclude` (heads this process is sending)."""
        skipped = tuple(exclude)
        rows = await self._all(
            """SELECT o.id, o.conversation, o.method, o.args, o.message_key, o.instance_id, o.attempts, o.created_at,
                      o.thread_of, o.link_to, o.render, m.channel, m.ts
               FROM outbox o
               JOIN (SELECT conversation, MIN(id) AS head FROM outbox WHERE status = 'pending'
                     GROUP BY conversation) h ON h.head = o.id
               LEFT JOIN slack_messages m ON m.message_key = o.message_key
               WHERE o.next_attempt_at <= ?"""
            + (f" AND o.id NOT IN ({', '.join('?' * len(skipped))})" if skipped else "")
            + " ORDER BY o.id LIMIT ?",
            (epoch(now), *skipped, limit),
        )
        return [pending_message(r) for r in rows]

    async def message_ref(self, message_key: str) -> MessageRef | None:
        row = await self._one("SELECT channel, ts FROM slack_messages WHERE message_key = ?", (message_key,))
        return MessageRef(row[0], row[1]) if row else None

    async def has_pending_post(self, message_key: str, before_id: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM outbox WHERE message_key = ? AND method = 'chat.postMessage' "
            "AND status = 'pending' AND id < ?",
            (message_key, before_id),
        )
        return row is not None

    async def mark_sent(self, outbox_id: int, now: datetime, ref: MessageRef | None) -> None:
        self._write(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
            (epoch(now), outbox_id),
        )
        if ref is not None:
            self._write(
                "INSERT INTO slack_messages (message_key, channel, ts) "
                "SELECT message_key, ?, ? FROM outbox WHERE id = ? AND message_key IS NOT NULL AND message_key <> '' "
                "ON CONFLICT (message_key) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
                (ref.channel, ref.ts, outbox_id),
            )

    async def mark_retry(self, outbox_id: int, next_attempt_at: datetime, error: str, *, count: bool = True) -> None:
        self._write(
            "UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (1 if count else 0, epoch(next_attempt_at), error[:500], outbox_id),
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        self._write(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error[:500], outbox_id),
        )

    async def outbox_depth(self) -> int:
        row = await self._one("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(row[0])

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested unit: undo just this part on error, keep the rest of the transaction."""
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

    async def mark_timer_failed(self, timer_id: int) -> None:
        self._write("UPDATE timers SET status = 'failed' WHERE id = ?", (timer_id,))

    async def active_delegations(self, now: datetime) -> dict[str, str]:
        rows = await self._all(
            "SELECT user_id, delegate FROM delegations WHERE starts_at <= ? AND ends_at > ?", (epoch(now), epoch(now))
        )
        return {row[0]: row[1] for row in rows}

    async def set_delegation(self, user_id: str, delegate: str, starts_at: datetime, ends_at: datetime) -> None:
        self._write(
            "INSERT INTO delegations (user_id, delegate, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET delegate = excluded.delegate, starts_at = excluded.starts_at, "
            "ends_at = excluded.ends_at, created_at = excluded.created_at",
            (user_id, delegate, epoch(starts_at), epoch(ends_at), epoch(starts_at)),
        )

    async def end_delegation(self, user_id: str, now: datetime) -> bool:
        ended = await self._changed(
            "UPDATE delegations SET ends_at = ? WHERE user_id = ? AND ends_at > ?", (epoch(now), user_id, epoch(now))
        )
        return ended == 1

    async def message_key_at(self, channel: str, ts: str) -> str | None:
        row = await self._one("SELECT message_key FROM slack_messages WHERE channel = ? AND ts = ?", (channel, ts))
        return str(row[0]) if row else None

    async def add_timers(self, instance_id: int, timers: Sequence[Timer]) -> None:
        self._write_many(
            "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            [timer_row(instance_id, t) for t in timers],
        )

    async def cancel_timers(self, task_id: str, *, recipient: str | None = None, reminders_only: bool = False) -> None:
        sql = "UPDATE timers SET status = 'cancelled' WHERE task_id = ? AND status = 'pending'"
        params: list[Any] = [task_id]
        if recipient is not None:
            sql += " AND recipient = ?"
            params.append(recipient)
        if reminders_only:
            sql += " AND kind IN ('remind_before', 'remind_due', 'remind_overdue')"
        self._write(sql, params)

    async def apply_timer_changes(self, changes: Sequence[TimerChange]) -> None:
        """Apply transitions' AddTimers and CancelTimers effects as if one by one in this order, in two statements."""
        cancels, added = timer_writes(changes)
        if cancels:
            self._write_many(_CANCEL_TIMERS, [(task, to, to, 1 if only else 0) for task, to, only in cancels])
        if added:
            self._write_many(
                "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                added,
            )

    async def claim_due_timers(self, now: datetime, *, limit: int) -> list[DueTimer]:
        """Mark the first `limit` due timers fired, in one statement, and return them in due order."""
        rows = await self._all(
            "UPDATE timers SET status = 'fired', fired_at = ? WHERE id IN ("
            "SELECT id FROM timers WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?) "
            "RETURNING id, instance_id, task_id, kind, due_at, recipient, level",
            (epoch(now), epoch(now), limit),
        )
        claimed = [DueTimer(r[0], r[1], r[2], r[3], moment(r[4]), r[5], r[6]) for r in rows]
        return sorted(claimed, key=lambda timer: (timer.due_at, timer.id))

    async def pending_timers(self, task_id: str) -> list[DueTimer]:
        rows = await self._all(
            "SELECT id, instance_id, task_id, kind, due_at, recipient, level FROM timers "
            "WHERE task_id = ? AND status = 'pending' ORDER BY due_at, id",
            (task_id,),
        )
        return [DueTimer(r[0], r[1], r[2], r[3], moment(r[4]), r[5], r[6]) for r in rows]

    async def first_digest(self, user_id: str, local_date: str, now: datetime) -> bool:
        inserted = await self._changed(
            "INSERT INTO digests (user_id, local_date, sent_at) VALUES (?, ?, ?) "
            "ON CONFLICT (user_id, local_date) DO NOTHING",
            (user_id, local_date, epoch(now)),
        )
        return inserted == 1

    async def open_assignments(self) -> list[Assignment]:
        rows = await self._all(
            """SELECT a.user_id, t.id, t.instance_id, t.created_at, t.due_at
               FROM tasks t JOIN task_assignees a ON a.task_id = t.id WHERE t.status = 'open'"""
        )
        return [Assignment(r[0], r[1], r[2], moment(r[3]), moment(r[4]) if r[4] is not None else None) for r in rows]

    async def kpi_rows(self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None) -> KpiRows:
        return await reporting.kpi_rows(self._all, since, until, workflows=workflows)

    async def export_instances(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.InstanceExport]:
        return await reporting.export_instances(self._all, since, until, workflows=workflows)

    async def export_events(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.EventExport]:
        return await reporting.export_events(self._all, since, until, workflows=workflows)

    async def ops_snapshot(self) -> reporting.OpsSnapshot:
        return await reporting.ops_snapshot(self._all)


def _statement(sql: str, params: Sequence[Any] = ()) -> Step:
    return lambda raw: raw.execute(sql, params)


def _save_tasks(raw: sqlite3.Connection, tasks: Sequence[tuple[tuple[Any, ...], str, Sequence[str]]]) -> None:
    """Upsert tasks; rewrite the assignees of those whose status or due time changed."""
    for row, task_id, assignees in tasks:
        changed = raw.execute(
            """INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at,
                   acted_by = excluded.acted_by, acted_at = excluded.acted_at
               WHERE tasks.status <> excluded.status OR tasks.due_at IS NOT excluded.due_at""",
            row,
        ).rowcount
        if changed:
            raw.execute("DELETE FROM task_assignees WHERE task_id = ?", (task_id,))
            raw.executemany(
                "INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)", [(task_id, user) for user in assignees]
            )
