"""The versioned schema: each migration is a list of portable SQL statements, applied in order."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

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
)

SCHEMA_VERSION = len(MIGRATIONS)
