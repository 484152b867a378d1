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
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

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

__all__ = ["PostgreSQLStore", "PostgreSQLUnitOfWork", "process_identity", "redacted"]

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

_MIGRATION_LOCK = 0x6261746F6E  # "baton": one migrating process at a time
_REMINDER_KINDS = ("remind_before", "remind_due", "remind_overdue")
_SAVE_INSTANCE = """INSERT INTO instances
       (id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state,
       updated_at = excluded.updated_at, finished_at = excluded.finished_at"""
_SAVE_TASK = """INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at,
       acted_by = excluded.acted_by, acted_at = excluded.acted_at"""
_APPEND_EVENT = (
    "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
    "VALUES ($1, (SELECT workflow FROM instances WHERE id = $1), $2, $3, $4, $5, $6)"
)
_CANCEL_TIMERS = (
    "UPDATE timers SET status = 'cancelled' WHERE task_id = $1 AND status = 'pending' "
    "AND ($2::text IS NULL OR recipient = $2) AND (NOT $3::boolean OR kind = ANY($4::text[]))"
)


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
        self._pool: asyncpg.Pool | None = None
        self._definitions: dict[str, WorkflowDefinition] = {}  # immutable by content hash: safe to share
        self.applied: tuple[int, ...] = ()

    @property
    def outbox_lease(self) -> timedelta | None:
        return self._outbox_lease

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
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[PostgreSQLUnitOfWork]:
        """One unit of work on a pooled connection: commit on success, roll back on any error. A read-only one
        (READ ONLY on the server) loads instances without locking them, so a screen never waits for a decision
        or holds one up."""
        async with self._require().acquire() as connection, connection.transaction(readonly=read_only):
            yield PostgreSQLUnitOfWork(
                connection, self._definitions, owner=self.owner, lease=self._outbox_lease, locking=not read_only
            )


class PostgreSQLUnitOfWork:
    """The store's operations, inside one open transaction on one connection."""

    def __init__(
        self,
        connection: Connection,
        definitions: dict[str, WorkflowDefinition],
        *,
        owner: str,
        lease: timedelta,
        locking: bool = True,
    ) -> None:
        self._lock_clause = " FOR NO KEY UPDATE" if locking else ""
        self._db = connection
        self._definitions = definitions
        self._owner = owner
        self._lease = lease

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._db.fetch(sql, *params)]

    async def next_instance_id(self) -> int:
        # A sequence, not MAX(id) + 1: processes start requests at the same time. A refused start leaves a gap.
        return int(await self._db.fetchval("SELECT nextval(pg_get_serial_sequence('instances', 'id'))"))

    async def save_definition(self, definition: WorkflowDefinition, now: datetime) -> None:
        version = definition.version
        if version in self._definitions:
            return
        await self._db.execute(
            "INSERT INTO definitions (version, name, body, stored_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (version) DO NOTHING",
            version,
            definition.name,
            definition.model_dump_json(),
            epoch(now),
        )

    async def definition(self, version: str) -> WorkflowDefinition | None:
        cached = self._definitions.get(version)
        if cached is not None:
            return cached
        body = await self._db.fetchval("SELECT body FROM definitions WHERE version = $1", version)
        if body is None:
            return None
        definition = WorkflowDefinition.model_validate_json(body)
        self._definitions[version] = definition
        return definition

    async def instance(self, instance_id: int) -> Instance | None:
        # Locked until commit: whoever loads an instance may decide on it, and only one process at a time may.
        state = await self._db.fetchval(f"SELECT state FROM instances WHERE id = $1{self._lock_clause}", instance_id)
        return Instance.model_validate_json(state) if state is not None else None

    async def instances(self, instance_ids: Collection[int]) -> dict[int, Instance]:
        """Several instances by id, in one query, locked as `instance` locks one."""
        rows = await self._db.fetch(
            f"SELECT id, state FROM instances WHERE id = ANY($1::bigint[]) ORDER BY id{self._lock_clause}",
            list(dict.fromkeys(instance_ids)),
        )
        return {row[0]: Instance.model_validate_json(row[1]) for row in rows}

    async def instance_of_task(self, task_id: str) -> Instance | None:
        state = await self._db.fetchval(
            "SELECT i.state FROM instances i JOIN tasks t ON t.instance_id = i.id WHERE t.id = $1"
            + (f"{self._lock_clause} OF i" if self._lock_clause else ""),
            task_id,
        )
        return Instance.model_validate_json(state) if state is not None else None

    async def save_instance(self, instance: Instance) -> None:
        await self._db.execute(
            """INSERT INTO instances
                   (id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state,
                   updated_at = excluded.updated_at, finished_at = excluded.finished_at""",
            *instance_row(instance),
        )
        for task in instance.tasks:
            await self._save_task(task)

    async def _save_task(self, task: Task) -> None:
        status = await self._db.execute(
            """INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at,
                   acted_by = excluded.acted_by, acted_at = excluded.acted_at
               WHERE tasks.status <> excluded.status OR tasks.due_at IS DISTINCT FROM excluded.due_at""",
            *task_row(task),
        )
        if _count(status):
            await self._db.execute("DELETE FROM task_assignees WHERE task_id = $1", task.id)
            await self._db.executemany(
                "INSERT INTO task_assignees (task_id, user_id) VALUES ($1, $2)",
                [(task.id, user) for user in task.assignees],
            )

    async def append_events(self, instance_id: int, events: Sequence[Event]) -> None:
        await self._db.executemany(
            "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
            "VALUES ($1, (SELECT workflow FROM instances WHERE id = $1), $2, $3, $4, $5, $6)",
            [event_row(instance_id, e) for e in events],
        )

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        """Save these states in order, with what save_instance would write for each, in a few statements."""
        if not instances:
            return
        await self._db.executemany(_SAVE_INSTANCE, [instance_row(instance) for instance in instances])
        tasks = [task for instance in instances for task in instance.tasks]
        rows = await self._db.fetch(
            "SELECT id, status, due_at FROM tasks WHERE id = ANY($1::text[])", list(dict.fromkeys(t.id for t in tasks))
        )
        written, assignees = task_writes(tasks, {row[0]: (row[1], row[2]) for row in rows})
        if not written:
            return
        await self._db.executemany(_SAVE_TASK, written)
        await self._db.execute("DELETE FROM task_assignees WHERE task_id = ANY($1::text[])", list(assignees))
        await self._db.executemany(
            "INSERT INTO task_assignees (task_id, user_id) VALUES ($1, $2)",
            [(task, user) for task, users in assignees.items() for user in users],
        )

    async def append_history(self, lines: Sequence[tuple[int, Event]]) -> None:
        """Append events to several instances' histories, in this order, in one statement."""
        if not lines:
            return
        await self._db.executemany(_APPEND_EVENT, [event_row(instance_id, event) for instance_id, event in lines])

    async def enqueue(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        await self._db.executemany(
            """INSERT INTO outbox (conversation, method, args, message_key, instance_id, status,
                                   next_attempt_at, created_at, thread_of, link_to, render)
               VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10)""",
            [outbox_row(m, now) for m in messages],
        )

    async def supersede_pending(self, conversation: str, method: str, after_id: int, now: datetime) -> int:
        status = await self._db.execute(
            "UPDATE outbox SET status = 'superseded', sent_at = $1, locked_by = NULL, locked_until = NULL "
            "WHERE status = 'pending' AND conversation = $2 AND method = $3 AND id > $4",
            epoch(now),
            conversation,
            method,
            after_id,
        )
        return int(status.split()[-1])

    async def take_send_token(self, key: str, now: datetime, limit: Limit) -> float:
        # The row lock makes the read-refill-take-write of one bucket atomic across processes.
        await self._db.execute(
            "INSERT INTO send_pace (pace_key, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            key,
            limit.burst,
            epoch(now),
        )
        row = await self._db.fetchrow("SELECT tokens, updated_at FROM send_pace WHERE pace_key = $1 FOR UPDATE", key)
        bucket, wait = take_token(Bucket(row[0], row[1]) if row else None, epoch(now), limit)
        await self._db.execute(
            "UPDATE send_pace SET tokens = $1, updated_at = $2 WHERE pace_key = $3",
            bucket.tokens,
            bucket.updated_at,
            key,
        )
        return wait

    async def note_home_opened(self, user_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO home_viewers (user_id, opened_at) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO UPDATE SET opened_at = excluded.opened_at",
            user_id,
            epoch(now),
        )

    async def home_viewers(self, user_ids: Collection[str]) -> set[str]:
        rows = await self._db.fetch(
            "SELECT user_id FROM home_viewers WHERE user_id = ANY($1::text[])", list(dict.fromkeys(user_ids))
        )
        return {row[0] for row in rows}

    async def seen(self, request_key: str) -> bool:
        return await self._db.fetchval("SELECT 1 FROM seen_requests WHERE request_key = $1", request_key) is not None

    async def first_sighting(self, request_key: str, now: datetime) -> bool:
        # A second process inserting the same key waits for the first to commit, then inserts nothing.
        inserted = await self._db.fetchval(
            "INSERT INTO seen_requests (request_key, seen_at) VALUES ($1, $2) "
            "ON CONFLICT (request_key) DO NOTHING RETURNING 1",
            request_key,
            epoch(now),
        )
        return inserted is not None

    async def forget_sighting(self, request_key: str) -> None:
        await self._db.execute("DELETE FROM seen_requests WHERE request_key = $1", request_key)

    async def open_tasks_of(self, user_id: str, *, limit: int = 50) -> list[Task]:
        rows = await self._db.fetch(
            """SELECT i.state, t.id FROM task_assignees a
               JOIN tasks t ON t.id = a.task_id JOIN instances i ON i.id = t.instance_id
               WHERE a.user_id = $1 AND t.status = 'open'
               ORDER BY COALESCE(t.due_at, 1e18), t.created_at LIMIT $2""",
            user_id,
            limit,
        )
        tasks = []
        for state, task_id in rows:
            task = Instance.model_validate_json(state).task(task_id)
            if task is not None:
                tasks.append(task)
        return tasks

    async def instances_requested_by(self, user_id: str, *, limit: int = 20) -> list[Instance]:
        rows = await self._db.fetch(
            "SELECT state FROM instances WHERE requester = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            user_id,
            limit,
        )
        return [Instance.model_validate_json(row[0]) for row in rows]

    async def audit_trail(self, instance_id: int) -> list[AuditEntry]:
        rows = await self._db.fetch(
            "SELECT id, instance_id, kind, at, actor, task_id, data FROM events WHERE instance_id = $1 ORDER BY id",
            instance_id,
        )
        return [AuditEntry(r[0], r[1], r[2], moment(r[3]), r[4], r[5], json.loads(r[6])) for r in rows]

    async def due_outbox(
        self, now: datetime, *, limit: int, exclude: Collection[int] = ()
    ) -> list[PendingMessage]:
        """Claim the due head of each conversation for this process until the lease runs out (`exclude`:
        heads this process holds already, which their lease keeps out anyway)."""
        # The lease test sits on the locked row itself, so READ COMMITTED re-checks it after waiting for a
        # claim that another process just committed; SKIP LOCKED passes over one still being made.
        rows = await self._db.fetch(
            """WITH heads AS (
                   SELECT DISTINCT ON (conversation) id FROM outbox
                   WHERE status = 'pending' ORDER BY conversation, id
               ), due AS (
                   SELECT o.id FROM outbox o JOIN heads h ON h.id = o.id
                   WHERE o.status = 'pending' AND o.next_attempt_at <= $1
                     AND (o.locked_until IS NULL OR o.locked_until <= $1) AND o.id <> ALL($5::bigint[])
                   ORDER BY o.id LIMIT $2
                   FOR UPDATE OF o SKIP LOCKED
               ), claimed AS (
                   UPDATE outbox SET locked_by = $3, locked_until = $4 FROM due WHERE outbox.id = due.id
                   RETURNING outbox.id, outbox.conversation, outbox.method, outbox.args, outbox.message_key,
                             outbox.instance_id, outbox.attempts, outbox.created_at, outbox.thread_of,
                             outbox.link_to, outbox.render
               )
               SELECT c.*, m.channel, m.ts
               FROM claimed c LEFT JOIN slack_messages m ON m.message_key = c.message_key""",
            epoch(now),
            limit,
            self._owner,
            epoch(now + self._lease),
            list(exclude),
        )
        return sorted((pending_message(r) for r in rows), key=lambda pending: pending.id)

    async def message_ref(self, message_key: str) -> MessageRef | None:
        row = await self._db.fetchrow("SELECT channel, ts FROM slack_messages WHERE message_key = $1", message_key)
        return MessageRef(row[0], row[1]) if row else None

    async def has_pending_post(self, message_key: str, before_id: int) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM outbox WHERE message_key = $1 AND method = 'chat.postMessage' "
            "AND status = 'pending' AND id < $2",
            message_key,
            before_id,
        )
        return found is not None

    async def mark_sent(self, outbox_id: int, now: datetime, ref: MessageRef | None) -> None:
        message_key = await self._db.fetchval(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, locked_by = NULL, "
            "locked_until = NULL WHERE id = $2 RETURNING message_key",
            epoch(now),
            outbox_id,
        )
        if ref is not None and message_key:
            await self._db.execute(
                "INSERT INTO slack_messages (message_key, channel, ts) VALUES ($1, $2, $3) "
                "ON CONFLICT (message_key) DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
                message_key,
                ref.channel,
                ref.ts,
            )

    async def mark_retry(self, outbox_id: int, next_attempt_at: datetime, error: str, *, count: bool = True) -> None:
        await self._db.execute(
            "UPDATE outbox SET attempts = attempts + $1, next_attempt_at = $2, last_error = $3, locked_by = NULL, "
            "locked_until = NULL WHERE id = $4",
            1 if count else 0,
            epoch(next_attempt_at),
            error[:500],
            outbox_id,
        )

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        await self._db.execute(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1, locked_by = NULL, "
            "locked_until = NULL WHERE id = $2",
            error[:500],
            outbox_id,
        )

    async def outbox_depth(self) -> int:
        return int(await self._db.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'pending'"))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested unit: undo just this part on error, keep the rest of the transaction."""
        async with self._db.transaction():  # inside a transaction, asyncpg makes this a savepoint
            yield

    async def mark_timer_failed(self, timer_id: int) -> None:
        await self._db.execute("UPDATE timers SET status = 'failed' WHERE id = $1", timer_id)

    async def active_delegations(self, now: datetime) -> dict[str, str]:
        rows = await self._db.fetch(
            "SELECT user_id, delegate FROM delegations WHERE starts_at <= $1 AND ends_at > $1", epoch(now)
        )
        return {row[0]: row[1] for row in rows}

    async def set_delegation(self, user_id: str, delegate: str, starts_at: datetime, ends_at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO delegations (user_id, delegate, starts_at, ends_at, created_at) VALUES ($1, $2, $3, $4, $3) "
            "ON CONFLICT (user_id) DO UPDATE SET delegate = excluded.delegate, starts_at = excluded.starts_at, "
            "ends_at = excluded.ends_at, created_at = excluded.created_at",
            user_id,
            delegate,
            epoch(starts_at),
            epoch(ends_at),
        )

    async def end_delegation(self, user_id: str, now: datetime) -> bool:
        status = await self._db.execute(
            "UPDATE delegations SET ends_at = $1 WHERE user_id = $2 AND ends_at > $1", epoch(now), user_id
        )
        return _count(status) == 1

    async def message_key_at(self, channel: str, ts: str) -> str | None:
        key = await self._db.fetchval(
            "SELECT message_key FROM slack_messages WHERE channel = $1 AND ts = $2", channel, ts
        )
        return str(key) if key is not None else None

    async def add_timers(self, instance_id: int, timers: Sequence[Timer]) -> None:
        await self._db.executemany(
            "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'pending')",
            [timer_row(instance_id, t) for t in timers],
        )

    async def cancel_timers(self, task_id: str, *, recipient: str | None = None, reminders_only: bool = False) -> None:
        sql = "UPDATE timers SET status = 'cancelled' WHERE task_id = $1 AND status = 'pending'"
        params: list[Any] = [task_id]
        if recipient is not None:
            params.append(recipient)
            sql += f" AND recipient = ${len(params)}"
        if reminders_only:
            params.append(list(_REMINDER_KINDS))
            sql += f" AND kind = ANY(${len(params)}::text[])"
        await self._db.execute(sql, *params)

    async def apply_timer_changes(self, changes: Sequence[TimerChange]) -> None:
        """Apply transitions' AddTimers and CancelTimers effects as if one by one in this order, in two statements."""
        cancels, added = timer_writes(changes)
        if cancels:
            kinds = list(_REMINDER_KINDS)
            await self._db.executemany(_CANCEL_TIMERS, [(task, to, only, kinds) for task, to, only in cancels])
        if added:
            await self._db.executemany(
                "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7)",
                added,
            )

    async def claim_due_timers(self, now: datetime, *, limit: int) -> list[DueTimer]:
        """Claim due timers whose instances no other transaction holds, and lock those instances too."""
        # Only a transaction that holds an instance writes its timers, so locking the instances (skipping
        # those a click or another sweep holds) is enough; the UPDATE re-checks `pending` on the newest row.
        rows = await self._db.fetch(
            """WITH due AS (
                   SELECT t.id FROM timers t JOIN instances i ON i.id = t.instance_id
                   WHERE t.status = 'pending' AND t.due_at <= $1
                   ORDER BY t.due_at, t.id LIMIT $2
                   FOR NO KEY UPDATE OF i SKIP LOCKED
               )
               UPDATE timers SET status = 'fired', fired_at = $1
               FROM due WHERE timers.id = due.id AND timers.status = 'pending'
               RETURNING timers.id, timers.instance_id, timers.task_id, timers.kind, timers.due_at,
                         timers.recipient, timers.level""",
            epoch(now),
            limit,
        )
        timers = [DueTimer(r[0], r[1], r[2], r[3], moment(r[4]), r[5], r[6]) for r in rows]
        return sorted(timers, key=lambda timer: (timer.due_at, timer.id))

    async def pending_timers(self, task_id: str) -> list[DueTimer]:
        rows = await self._db.fetch(
            "SELECT id, instance_id, task_id, kind, due_at, recipient, level FROM timers "
            "WHERE task_id = $1 AND status = 'pending' ORDER BY due_at, id",
            task_id,
        )
        return [DueTimer(r[0], r[1], r[2], r[3], moment(r[4]), r[5], r[6]) for r in rows]

    async def first_digest(self, user_id: str, local_date: str, now: datetime) -> bool:
        inserted = await self._db.fetchval(
            "INSERT INTO digests (user_id, local_date, sent_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, local_date) DO NOTHING RETURNING 1",
            user_id,
            local_date,
            epoch(now),
        )
        return inserted is not None

    async def open_assignments(self) -> list[Assignment]:
        rows = await self._db.fetch(
            """SELECT a.user_id, t.id, t.instance_id, t.created_at, t.due_at
               FROM tasks t JOIN task_assignees a ON a.task_id = t.id WHERE t.status = 'open'"""
        )
        return [Assignment(r[0], r[1], r[2], moment(r[3]), moment(r[4]) if r[4] is not None else None) for r in rows]

    async def kpi_rows(self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None) -> KpiRows:
        return await reporting.kpi_rows(self._fetch, since, until, workflows=workflows, placeholders="numbered")

    async def export_instances(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.InstanceExport]:
        return await reporting.export_instances(self._fetch, since, until, workflows=workflows, placeholders="numbered")

    async def export_events(
        self, since: datetime, until: datetime, *, workflows: Sequence[str] | None = None
    ) -> list[reporting.EventExport]:
        return await reporting.export_events(self._fetch, since, until, workflows=workflows, placeholders="numbered")

    async def ops_snapshot(self) -> reporting.OpsSnapshot:
        return await reporting.ops_snapshot(self._fetch)
