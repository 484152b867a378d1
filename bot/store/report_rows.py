"""Reports' rows of finished requests: one per request and one per task, with every figure a report sums of them.

A finished request no longer changes what reports count of it (its later events, a rating or a failed delivery,
are read from the events), so its figures are worked out once, from its rows and events by the same functions as
the walk over events (bot/store/report_facts.py `flow_facts`, bot/engine/kpi_facts.py `request_flow`), and
stored: in the transaction that finishes it or rewrites it (bot/store/sql/__init__.py `settle_reports`), and by
migration 15 for the history before it. A report sums these rows (bot/store/report_sums.py); requests still
running are few and are read from their events as before. Times are whole microseconds.

`report_requests`: its workflow, requester, status, created and finished times; its first start and end events
and the touch and wait time between them (flow); its latest end event (tasks per week); each task's step and
seconds in hand (JSON, for a cost per hour). `report_tasks`: its workflow, step, status, times, due time, the
closing events nearest its decision (a task counts as decided in a period when both its decision and a closing
event fall in it), how long it waited and whether it was late, its assignees (comma-joined), its request's
created time and latest end event.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.engine.kpi_facts import request_flow
from bot.engine.kpis import CLOSING_TASK_EVENTS, FINISHING_EVENTS

from .report_facts import _us, flow_facts
from .reporting import Fetch, _Query

if TYPE_CHECKING:
    from .sql import SQLUnitOfWork


__all__ = [
    "REQUEST_COLUMNS",
    "TASK_COLUMNS",
    "WriteMany",
    "backfill_report_rows",
    "complete_migration",
    "final_rows",
    "write_final_rows",
    "write_missing_report_rows",
]

WriteMany = Callable[[str, Sequence[Sequence[Any]]], Awaitable[Any]]

REQUEST_COLUMNS = (
    "instance_id",
    "workflow",
    "requester",
    "status",
    "created_us",
    "finished_us",
    "flow_started_us",
    "flow_finished_us",
    "touch_us",
    "wait_us",
    "last_end_us",
    "flow_steps",
)
TASK_COLUMNS = (
    "task_id",
    "instance_id",
    "workflow",
    "step_id",
    "status",
    "created_us",
    "acted_us",
    "due_us",
    "closing_before_us",
    "closing_after_us",
    "waited_us",
    "late",
    "assignees",
    "request_created_us",
    "request_end_us",
)
_ENDS = FINISHING_EVENTS[1:]
_BATCH = 500  # requests per statement
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # flow_facts' period, unused when it is given the requests


def _upsert(table: str, columns: Sequence[str]) -> str:
    """Write a row, or rewrite the one of the same key (the first column): two units of work that rewrite one
    request's rows at once each leave whole rows, the later commit's."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns[1:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({columns[0]}) DO UPDATE SET {updates}"
    )


_WRITE_REQUEST = _upsert("report_requests", REQUEST_COLUMNS)
_WRITE_TASK = _upsert("report_tasks", TASK_COLUMNS)


async def final_rows(fetch: Fetch, instance_ids: Sequence[int]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The report rows (REQUEST_COLUMNS, TASK_COLUMNS) of those of these requests that are finished: in two
    statements (a unit of work that finishes a request runs them before its commit)."""
    requests, tasks, holders, moments = await _rows_of(fetch, instance_ids)
    if not requests:
        return [], []
    ids = [int(r[0]) for r in requests]
    workflows = {str(r[1]) for r in requests}
    flows = {
        request.instance_id: request
        for request in await flow_facts(fetch, _NEVER, _NEVER, among=ids, rated_workflows=workflows)
    }
    last_end: dict[int, int] = {}
    closings: dict[str, list[int]] = defaultdict(list)
    for instance_id, task_id, kind, at in moments:
        if kind in _ENDS:
            last_end[int(instance_id)] = max(int(at), last_end.get(int(instance_id), int(at)))
        elif task_id is not None:
            closings[str(task_id)].append(int(at))
    assignees: dict[str, list[str]] = defaultdict(list)
    for task_id, user_id in holders:
        assignees[str(task_id)].append(str(user_id))
    request_rows: list[tuple[Any, ...]] = []
    created_of: dict[int, int] = {}
    workflow_of: dict[int, str] = {}
    for instance_id, workflow, requester, status, created, finished in requests:
        number = int(instance_id)
        created_of[number], workflow_of[number] = int(created), str(workflow)
        flow = flows.get(number)
        started_us = finished_us = touch = wait = None
        steps = None
        if flow is not None:
            touch, seconds = request_flow(flow)
            started_us, finished_us, wait = flow.started, flow.finished, max(0, flow.finished - flow.started - touch)
            steps = json.dumps([[step, value] for step, value in seconds])
        request_rows.append(
            (number, workflow, requester, status, created, finished, started_us, finished_us, touch, wait,
             last_end.get(number), steps)
        )  # fmt: skip
    task_rows = [
        _task_row(r, workflow_of, created_of, last_end, closings, assignees) for r in tasks if int(r[1]) in created_of
    ]
    return request_rows, task_rows


_BIGINT, _TEXT = "CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)"


async def _rows_of(fetch: Fetch, instance_ids: Sequence[int]) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Those of these requests that are finished (id, workflow, requester, status, created, finished), the tasks of
    these requests (id, request, step, status, created, decided, due), their assignees (task, person), the end
    events and the tasks' closing events (request, task, kind, at): one statement, each part tagged, its numbers
    and texts in columns of their own (one type a column, as PostgreSQL's UNION wants)."""
    q = _Query()
    among = q.many(instance_ids)
    requests = (
        f"SELECT 'r' AS part, id AS n1, {_us('created_at')} AS n2, {_us('finished_at')} AS n3, {_BIGINT} AS n4, "
        f"workflow AS s1, requester AS s2, status AS s3 FROM instances WHERE id IN ({among}) AND status <> 'running'"
    )
    among = q.many(instance_ids)
    tasks = (
        f"SELECT 't', t.instance_id, {_us('t.created_at')}, {_us('t.acted_at')}, {_us('t.due_at')}, t.id, t.step_id, "
        f"t.status FROM tasks t WHERE t.instance_id IN ({among})"
    )
    among = q.many(instance_ids)
    holders = (
        f"SELECT 'a', t.instance_id, {_BIGINT}, {_BIGINT}, {_BIGINT}, a.task_id, a.user_id, {_TEXT} "
        f"FROM task_assignees a JOIN tasks t ON t.id = a.task_id WHERE t.instance_id IN ({among})"
    )
    among = q.many(instance_ids)
    kinds = q.many((*_ENDS, *CLOSING_TASK_EVENTS))
    moments = (  # by events_by_task
        f"SELECT 'e', e.instance_id, {_us('e.at')}, {_BIGINT}, {_BIGINT}, e.task_id, e.kind, {_TEXT} FROM events e "
        f"WHERE e.instance_id IN ({among}) AND e.kind IN ({kinds})"
    )
    parts: dict[str, list[Any]] = {"r": [], "t": [], "a": [], "e": []}
    for row in await fetch(f"{requests} UNION ALL {tasks} UNION ALL {holders} UNION ALL {moments}", q.params):
        parts[row[0]].append(row)
    return (
        sorted((r[1], r[5], r[6], r[7], r[2], r[3]) for r in parts["r"]),
        sorted((r[5], r[1], r[6], r[7], r[2], r[3], r[4]) for r in parts["t"]),
        sorted((r[5], r[6]) for r in parts["a"]),
        [(r[1], r[5], r[6], r[2]) for r in parts["e"]],
    )


def _task_row(
    row: Sequence[Any],
    workflow_of: dict[int, str],
    created_of: dict[int, int],
    last_end: dict[int, int],
    closings: dict[str, list[int]],
    assignees: dict[str, list[str]],
) -> tuple[Any, ...]:
    task_id, instance_id, step_id, status, created, acted, due = row
    number = int(instance_id)
    before = after = None
    if acted is not None:  # the closing events nearest the decision: one of them in a period that holds it
        before = max((at for at in closings[task_id] if at <= acted), default=None)
        after = min((at for at in closings[task_id] if at > acted), default=None)
    waited = 0 if acted is None else max(0, acted - created)
    late = 1 if due is not None and acted is not None and acted > due else 0
    return (
        task_id, number, workflow_of[number], step_id, status, created, acted, due, before, after, waited, late,
        ",".join(assignees[task_id]), created_of[number], last_end.get(number),
    )  # fmt: skip


async def write_final_rows(fetch: Fetch, write_many: WriteMany, instance_ids: Sequence[int]) -> int:
    """Write (or rewrite) the report rows of those of these requests that are finished; how many. A request keeps
    its tasks once it has them, and stays finished: no row is ever left over."""
    written = 0
    for offset in range(0, len(instance_ids), _BATCH):
        requests, tasks = await final_rows(fetch, list(instance_ids[offset : offset + _BATCH]))
        await write_many(_WRITE_REQUEST, requests)
        await write_many(_WRITE_TASK, tasks)
        written += len(requests)
    return written


async def backfill_report_rows(fetch: Fetch, write_many: WriteMany) -> int:
    """Write the report rows of every finished request (migration 15), a batch at a time; how many."""
    written, after = 0, -1
    while True:
        rows = await fetch(
            "SELECT id FROM instances WHERE id > ? AND status <> 'running' ORDER BY id LIMIT ?", (after, _BATCH)
        )
        if not rows:
            return written
        ids = [int(r[0]) for r in rows]
        written += await write_final_rows(fetch, write_many, ids)
        after = ids[-1]


async def complete_migration(version: int, fetch: Fetch, write_many: WriteMany) -> None:
    """The step in Python that completes a migration after its statements, in the same transaction: 15 writes the
    report rows of the requests finished before it."""
    if version == 15:
        await backfill_report_rows(fetch, write_many)


class _SQLStore(Protocol):
    """A store whose units of work are SQL ones (both stores)."""

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[SQLUnitOfWork]: ...


async def write_missing_report_rows(store: _SQLStore) -> None:
    """The report rows of the finished requests that have none (an older Baton finished them), written as a
    store opens."""
    async with store.transaction(read_only=True) as work:
        missing = await work.missing_report_rows()
    if missing:
        async with store.transaction() as work:
            await work.write_report_rows(missing)
