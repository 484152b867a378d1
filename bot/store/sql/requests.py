"""Requests: workflow definitions, instances and their tasks, and the questions asked about them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from bot.engine import Instance, Task, WorkflowDefinition
from bot.engine.digest import Assignment
from bot.store.older_states import instance_from_state
from bot.store.rows import epoch, holders_of_work, instance_row, moment, task_row, task_writes
from bot.store.session import Statement

from .part import SQLPart

__all__ = ["SQLRequests"]

_SAVE_INSTANCE = """INSERT INTO instances
       (id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, state = excluded.state,
       updated_at = excluded.updated_at, finished_at = excluded.finished_at"""
_SAVE_TASK = """INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at)
   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (id) DO UPDATE SET status = excluded.status, due_at = excluded.due_at,
       acted_by = excluded.acted_by, acted_at = excluded.acted_at"""
_ADD_ASSIGNEE = "INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)"


class SQLRequests(SQLPart):
    """Definitions, instances and tasks."""

    async def next_instance_id(self) -> int:
        row = await self._db.one(self._dialect.next_instance_id)  # a refused start leaves a gap on PostgreSQL
        return int(row[0])

    async def save_definition(self, definition: WorkflowDefinition, now: datetime) -> None:
        version = definition.version
        if version in self._definitions:
            return
        await self._db.write(
            "INSERT INTO definitions (version, name, body, stored_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (version) DO NOTHING",
            (version, definition.name, definition.model_dump_json(), epoch(now)),
        )

    async def definition(self, version: str) -> WorkflowDefinition | None:
        cached = self._definitions.get(version)
        if cached is not None:
            return cached
        row = await self._db.one("SELECT body FROM definitions WHERE version = ?", (version,))
        if row is None:
            return None
        definition = WorkflowDefinition.model_validate_json(row[0])
        self._definitions[version] = definition
        return definition

    async def instance(self, instance_id: int) -> Instance | None:
        # Locked until commit (where locks are taken): whoever loads an instance may decide on it, one at a time.
        row = await self._db.one(f"SELECT state FROM instances WHERE id = ?{self._row_lock}", (instance_id,))
        return instance_from_state(row[0]) if row else None

    async def instances(self, instance_ids: Collection[int]) -> dict[int, Instance]:
        """Several instances by id, locked as `instance` locks one (those that do not exist are left out)."""
        rows = await self._all_among(
            f"SELECT id, state FROM instances WHERE {{among}} ORDER BY id{self._row_lock}",
            "id",
            list(dict.fromkeys(instance_ids)),
            "bigint",
        )
        return {row[0]: instance_from_state(row[1]) for row in rows}

    async def instance_of_task(self, task_id: str) -> Instance | None:
        lock = f"{self._row_lock} OF i" if self._row_lock else ""
        row = await self._db.one(
            f"SELECT i.state FROM instances i JOIN tasks t ON t.instance_id = i.id WHERE t.id = ?{lock}", (task_id,)
        )
        return instance_from_state(row[0]) if row else None

    async def instances_of_tasks(self, task_ids: Collection[str]) -> dict[str, Instance]:
        """The instance of each of these tasks, in one query, locked as `instance_of_task` locks one (tasks that
        do not exist are left out; tasks of one request share one loaded instance)."""
        lock = f"{self._row_lock} OF i" if self._row_lock else ""
        rows = await self._all_among(
            f"SELECT t.id, i.id, i.state FROM instances i JOIN tasks t ON t.instance_id = i.id "
            f"WHERE {{among}} ORDER BY i.id{lock}",
            "t.id",
            list(dict.fromkeys(task_ids)),
            "text",
        )
        loaded: dict[int, Instance] = {}
        for _task_id, instance_id, state in rows:
            if instance_id not in loaded:
                loaded[instance_id] = instance_from_state(state)
        return {row[0]: loaded[row[1]] for row in rows}

    async def save_instance(self, instance: Instance) -> None:
        """Upsert the instance and its tasks; rewrite the assignees of the tasks whose status or due time changed."""
        await self._db.write(_SAVE_INSTANCE, instance_row(instance))
        self._reported[instance.id] = instance.status.is_finished
        changed = f" WHERE tasks.status <> excluded.status OR tasks.due_at {self._dialect.differs} excluded.due_at"
        for task in instance.tasks:
            await self._db.write_if_changed(_SAVE_TASK + changed, task_row(task), _assignees_of(task))

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        """Save these states in order, with what save_instance would write for each, in a few statements."""
        if not instances:
            return
        await self._db.write_many(_SAVE_INSTANCE, [instance_row(instance) for instance in instances])
        self._reported.update((instance.id, instance.status.is_finished) for instance in instances)
        tasks = [task for instance in instances for task in instance.tasks]
        rows = await self._all_among(
            "SELECT id, status, due_at FROM tasks WHERE {among}", "id", list(dict.fromkeys(t.id for t in tasks)), "text"
        )
        written, assignees = task_writes(tasks, {row[0]: (row[1], row[2]) for row in rows})
        if not written:
            return
        await self._db.write_many(_SAVE_TASK, written)
        for condition, params in self._dialect.member_of("task_id", list(assignees), "text"):
            await self._db.write(f"DELETE FROM task_assignees WHERE {condition}", params)
        await self._db.write_many(_ADD_ASSIGNEE, [(task, user) for task, users in assignees.items() for user in users])

    async def open_tasks_of(self, user_id: str, *, limit: int = 50) -> list[Task]:
        rows = await self._db.all(
            """SELECT i.state, t.id FROM task_assignees a
               JOIN tasks t ON t.id = a.task_id JOIN instances i ON i.id = t.instance_id
               WHERE a.user_id = ? AND t.status = 'open'
               ORDER BY COALESCE(t.due_at, 1e18), t.created_at LIMIT ?""",
            (user_id, limit),
        )
        tasks = []
        for state, task_id in rows:
            task = instance_from_state(state).task(task_id)
            if task is not None:
                tasks.append(task)
        return tasks

    async def instances_requested_by(self, user_id: str, *, limit: int = 20) -> list[Instance]:
        rows = await self._db.all(
            "SELECT state FROM instances WHERE requester = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (user_id, limit),
        )
        return [instance_from_state(row[0]) for row in rows]

    async def open_assignments(self) -> list[Assignment]:
        rows = await self._db.all(
            """SELECT a.user_id, t.id, t.instance_id, t.created_at, t.due_at
               FROM tasks t JOIN task_assignees a ON a.task_id = t.id WHERE t.status = 'open'"""
        )
        return [Assignment(r[0], r[1], r[2], moment(r[3]), moment(r[4]) if r[4] is not None else None) for r in rows]


def _assignees_of(task: Task) -> list[Statement]:
    """The statements that rewrite a task's assignees."""
    return [
        ("DELETE FROM task_assignees WHERE task_id = ?", [(task.id,)]),
        (_ADD_ASSIGNEE, [(task.id, user) for user in holders_of_work(task)]),
    ]
