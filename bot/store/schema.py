"""The versioned schema: each migration is a list of portable SQL statements, applied in order.

The statements are written once, in SQLite's spelling, and translated for PostgreSQL by a few
substitutions (`migration_statements`): `INTEGER PRIMARY KEY` becomes an identity column, `INTEGER`
`BIGINT`, and `REAL` (epoch seconds) `DOUBLE PRECISION`. Keep new migrations to that portable subset.
"""

from __future__ import annotations

import re
from typing import Literal

from .errors import StoreError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "DatabaseKind", "migration_statements", "migrations_to_apply"]

DatabaseKind = Literal["sqlite", "postgresql"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE definitions (
            version TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            body TEXT NOT NULL,
            stored_at REAL NOT NULL
        )""",
        """CREATE TABLE instances (
            id INTEGER PRIMARY KEY,
            workflow TEXT NOT NULL,
            definition_version TEXT NOT NULL REFERENCES definitions(version),
            requester TEXT NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            finished_at REAL
        )""",
        "CREATE INDEX instances_by_requester ON instances (requester, created_at)",
        "CREATE INDEX instances_by_workflow ON instances (workflow, status)",
        """CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            instance_id INTEGER NOT NULL REFERENCES instances(id),
            step_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            due_at REAL,
            acted_by TEXT,
            acted_at REAL
        )""",
        "CREATE INDEX tasks_open_by_due ON tasks (status, due_at)",
        """CREATE TABLE task_assignees (
            task_id TEXT NOT NULL REFERENCES tasks(id),
            user_id TEXT NOT NULL,
            PRIMARY KEY (task_id, user_id)
        )""",
        "CREATE INDEX task_assignees_by_user ON task_assignees (user_id)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            instance_id INTEGER NOT NULL REFERENCES instances(id),
            kind TEXT NOT NULL,
            at REAL NOT NULL,
            actor TEXT,
            task_id TEXT,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_instance ON events (instance_id, id)",
        "CREATE INDEX events_by_kind ON events (kind, at)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            conversation TEXT NOT NULL,
            method TEXT NOT NULL,
            args TEXT NOT NULL,
            message_key TEXT,
            instance_id INTEGER,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            created_at REAL NOT NULL,
            sent_at REAL
        )""",
        "CREATE INDEX outbox_pending ON outbox (status, conversation, id)",
        """CREATE TABLE slack_messages (
            message_key TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            ts TEXT NOT NULL
        )""",
        """CREATE TABLE seen_requests (
            request_key TEXT PRIMARY KEY,
            seen_at REAL NOT NULL
        )""",
    ),
    (
        """CREATE TABLE timers (
            id INTEGER PRIMARY KEY,
            task_id TEXT NOT NULL REFERENCES tasks(id),
            instance_id INTEGER NOT NULL REFERENCES instances(id),
            kind TEXT NOT NULL,
            due_at REAL NOT NULL,
            recipient TEXT,
            level INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            fired_at REAL
        )""",
        "CREATE INDEX timers_due ON timers (status, due_at)",
        "CREATE INDEX timers_by_task ON timers (task_id, status)",
        """CREATE TABLE digests (
            user_id TEXT NOT NULL,
            local_date TEXT NOT NULL,
            sent_at REAL NOT NULL,
            PRIMARY KEY (user_id, local_date)
        )""",
    ),
    (
        """CREATE TABLE delegations (
            user_id TEXT PRIMARY KEY,
            delegate TEXT NOT NULL,
            starts_at REAL NOT NULL,
            ends_at REAL NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE INDEX delegations_by_end ON delegations (ends_at)",
    ),
    (
        # Outbox claims, so that several processes drain one outbox without sending a row twice:
        # the process that claimed a conversation's head holds it until `locked_until` (a lease).
        "ALTER TABLE outbox ADD COLUMN locked_by TEXT",
        "ALTER TABLE outbox ADD COLUMN locked_until REAL",
    ),
    (
        # Who has opened Baton's Home tab. Only their tabs are re-published when their work changes (views.publish
        # is a tier-4 method shared by the whole workspace); anyone else's is built fresh when they open it.
        """CREATE TABLE home_viewers (
            user_id TEXT PRIMARY KEY,
            opened_at REAL NOT NULL
        )""",
    ),
    (
        # Each event carries its request's workflow, so that a report on some workflows reads their events only
        # (through the index) rather than every workflow's events of the period.
        "ALTER TABLE events ADD COLUMN workflow TEXT",
        # The one write to existing events: filling the column just added. Events stay append-only otherwise.
        "UPDATE events SET workflow = (SELECT i.workflow FROM instances i WHERE i.id = events.instance_id) "
        "WHERE workflow IS NULL",
        "CREATE INDEX events_by_workflow ON events (workflow, kind, at)",
        # ...and finds those workflows' open tasks through their requests, not among every open task.
        "CREATE INDEX tasks_by_instance ON tasks (instance_id, status)",
    ),
    (
        # Slack's rate limits as token buckets that every process sending from this database shares
        # (`conversation <id>`: about one message a second; `method <name>`: its tier).
        """CREATE TABLE send_pace (
            pace_key TEXT PRIMARY KEY,
            tokens REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
    (
        # Typed outbox messages: what the sender does besides the Slack call is in columns of its own, not in
        # keys hidden among the call's arguments (rows queued before this are lifted by bot/outbox/legacy.py).
        "ALTER TABLE outbox ADD COLUMN thread_of TEXT",
        "ALTER TABLE outbox ADD COLUMN link_to TEXT",
        "ALTER TABLE outbox ADD COLUMN render TEXT",
    ),
    (
        # Workflow Builder steps (Slack "custom steps") Baton is running: the execution Slack waits on, the request
        # it became (none when it could not start), and when its completion was queued. A step stays open for as
        # long as people take to decide; this row is how its completion finds it after any number of restarts.
        """CREATE TABLE function_executions (
            execution_id TEXT PRIMARY KEY,
            callback_id TEXT NOT NULL,
            workflow_execution_id TEXT,
            instance_id INTEGER,
            received_at REAL NOT NULL,
            completing_at REAL
        )""",
        "CREATE INDEX function_executions_by_instance ON function_executions (instance_id)",
    ),
    (
        # Requests started over the API: which token started each (it may read it back), the callback that hears
        # its outcome (and the name of the environment variable holding the secret it is signed with, never the
        # secret), and the caller's idempotency key with a digest of the body it came with.
        """CREATE TABLE api_requests (
            instance_id INTEGER NOT NULL PRIMARY KEY REFERENCES instances(id),
            token TEXT NOT NULL,
            idempotency_key TEXT,
            body_digest TEXT,
            callback_url TEXT,
            callback_secret_env TEXT,
            created_at REAL NOT NULL,
            UNIQUE (token, idempotency_key)
        )""",
    ),
    (
        # Sending held back for the whole workspace: Slack refused Baton's token (revoked, app uninstalled). One
        # row while paused, shared by every process on this database; pending messages wait untouched meanwhile.
        """CREATE TABLE sending_pause (
            pause_key TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            paused_at REAL NOT NULL
        )""",
    ),
    (
        # Retention (RETENTION_DAYS): finished requests older than that are deleted, and what reports need of them
        # stays as tallies per workflow, step, measure and UTC day (bot/engine/purged.py `PurgedTally`): counts and
        # summed seconds, no person and no request. `step_id` is '' for the request itself.
        """CREATE TABLE purged_tallies (
            workflow TEXT NOT NULL,
            step_id TEXT NOT NULL,
            measure TEXT NOT NULL,
            day REAL NOT NULL,
            count INTEGER NOT NULL,
            seconds REAL NOT NULL,
            with_due INTEGER NOT NULL,
            overdue INTEGER NOT NULL,
            PRIMARY KEY (workflow, step_id, measure, day)
        )""",
        "CREATE INDEX purged_tallies_by_day ON purged_tallies (day)",
        # Finds the requests that finished before the retention cutoff without reading every request, and what they
        # own in the tables not yet indexed by request.
        "CREATE INDEX instances_by_finish ON instances (finished_at)",
        "CREATE INDEX outbox_by_instance ON outbox (instance_id)",
        "CREATE INDEX timers_by_instance ON timers (instance_id)",
        # The highest request number purged, so that SQLite never gives a purged request's number to a new one
        # (PostgreSQL draws numbers from a sequence).
        """CREATE TABLE retention_marks (
            mark_name TEXT PRIMARY KEY,
            mark INTEGER NOT NULL
        )""",
        # The secret that makes `forget`'s pseudonyms (forgotten-<hash>) impossible to recompute from a user id
        # by anyone who does not hold this database: one row, made by the first erasure.
        """CREATE TABLE pseudonym_keys (
            key_name TEXT PRIMARY KEY,
            secret TEXT NOT NULL
        )""",
    ),
    # 13, no statement: task titles, notify texts and delegation notes inside `instances.state` are worded text
    # (parts: written, typed, a person; bot/engine/wording.py), which a Baton of schema 12 cannot read. The
    # version tells it so (its /readyz says `schema`, and it will not start on this database) instead of each
    # request failing on it. States written before are read as they are (bot/store/older_states.py).
    (),
    (
        # 14: reports read a year of events (bot/store/report_sums.py) from indexes alone, never
        # the events' rows: the (kind, at) and (workflow, kind, at) ranges carry each event's request and task, and
        # a request's task events come grouped by task with their kind and time. A report reads its requests and
        # their tasks' workflow through a narrow copy of the requests' columns, not their state.
        "DROP INDEX events_by_kind",
        "CREATE INDEX events_by_kind ON events (kind, at, instance_id, task_id)",
        "DROP INDEX events_by_workflow",
        "CREATE INDEX events_by_workflow ON events (workflow, kind, at, instance_id, task_id)",
        "CREATE INDEX events_by_task ON events (instance_id, task_id, kind, at)",
        "CREATE INDEX instances_reported ON instances (id, workflow, status, requester, created_at, finished_at)",
    ),
    (
        # 15: reports read one row per finished request and per task of it (bot/store/report_rows.py), written in
        # the transaction that finishes the request, instead of walking a year of events; times in whole
        # microseconds. The rows of the requests finished before are written by the step after these statements
        # (bot/store/report_rows.py `complete_migration`). Requests still running are found by their status.
        """CREATE TABLE report_requests (
            instance_id INTEGER NOT NULL PRIMARY KEY,
            workflow TEXT NOT NULL,
            requester TEXT NOT NULL,
            status TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            finished_us INTEGER,
            flow_started_us INTEGER,
            flow_finished_us INTEGER,
            touch_us INTEGER,
            wait_us INTEGER,
            last_end_us INTEGER,
            flow_steps TEXT
        )""",
        # Each index holds what its report reads (a year over every workflow is read in index order alone).
        "CREATE INDEX report_requests_by_start ON report_requests "
        "(workflow, created_us, requester, status, finished_us)",
        "CREATE INDEX report_requests_by_finish ON report_requests "
        "(workflow, finished_us, status, created_us, requester)",
        "CREATE INDEX report_requests_by_flow ON report_requests "
        "(workflow, flow_finished_us, flow_started_us, touch_us, wait_us)",
        """CREATE TABLE report_tasks (
            task_id TEXT NOT NULL PRIMARY KEY,
            instance_id INTEGER NOT NULL,
            workflow TEXT NOT NULL,
            step_id TEXT NOT NULL,
            status TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            acted_us INTEGER,
            due_us INTEGER,
            closing_before_us INTEGER,
            closing_after_us INTEGER,
            waited_us INTEGER NOT NULL,
            late INTEGER NOT NULL,
            assignees TEXT NOT NULL,
            request_created_us INTEGER NOT NULL,
            request_end_us INTEGER
        )""",
        "CREATE INDEX report_tasks_by_instance ON report_tasks (instance_id)",
        "CREATE INDEX report_tasks_by_step ON report_tasks (workflow, step_id, acted_us, status, closing_before_us, "
        "closing_after_us, due_us, late, waited_us, assignees)",
        "CREATE INDEX report_tasks_by_assignees ON report_tasks (assignees, workflow, acted_us, status, "
        "closing_before_us, closing_after_us, late, waited_us)",
        "CREATE INDEX report_tasks_by_end ON report_tasks "
        "(workflow, request_end_us, request_created_us, created_us, status, acted_us)",
        "CREATE INDEX instances_by_status ON instances (status, workflow)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_POSTGRESQL_SPELLING = (
    (re.compile(r"\bINTEGER PRIMARY KEY\b"), "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def migration_statements(version: int, dialect: DatabaseKind) -> tuple[str, ...]:
    """The statements of migration `version` (1-based), spelled for `dialect`."""
    statements = MIGRATIONS[version - 1]
    if dialect == "sqlite":
        return statements
    translated = []
    for statement in statements:
        for pattern, replacement in _POSTGRESQL_SPELLING:
            statement = pattern.sub(replacement, statement)
        translated.append(statement)
    return tuple(translated)


def migrations_to_apply(current: int, *, database: str, apply: bool) -> range:
    """The versions to apply to a database at `current`; raise StoreError when Baton must not run on it."""
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"the database {database} has schema version {current}, newer than this Baton "
            f"({SCHEMA_VERSION}); upgrade Baton or use another DATABASE_URL"
        )
    if current < SCHEMA_VERSION and not apply:
        found = "has no schema yet" if current == 0 else f"has schema version {current}, older than this Baton"
        raise StoreError(
            f"the database {database} {found} (Baton needs version {SCHEMA_VERSION}); run `python -m bot migrate` "
            "once with the same DATABASE_URL, or start with AUTO_MIGRATE=true"
        )
    return range(current + 1, SCHEMA_VERSION + 1)
