"""How long does one scheduler sweep take on a store with many open tasks, and how late are its reminders?

Run: `.venv/bin/python bench/scheduler.py [--tasks 100000] [--due 1000]`

1. Fill a temporary SQLite store (the real `SQLiteStore`, its schema and pragmas) with `--tasks` open approval
   tasks. One instance is started through the real engine (`start(...)` of a one-step approval workflow with
   `due` and `remind: {at_due: true}`, assigned to a person whose calendar is open every day 00:00-23:59:59 UTC,
   so working hours never defer a reminder) and stored through the store's own methods. The others are copies
   of it with their own ids and due times, written with `executemany` on the store's connection in chunked
   transactions, in the exact columns and JSON shapes the store writes: an `instances` row (state is
   `Instance.model_dump_json()`), a `tasks` row, a `task_assignees` row, the two start events and one pending
   `remind_due` timer per task. Exactly `--due` timers fall due in the second before the reference time; all
   others are spread over the 30 days after it (none sooner than one hour, so the sweep under test cannot
   pick up a timer that falls due while it runs).
2. Run one sweep, `WorkflowService.fire_due_timers()`, on an `OffsetClock` set to the reference time, and check
   that it fired exactly `--due` timers and wrote `--due` outbox rows and `reminder_sent` events.
   Lateness of each reminder against its timer's due time is reported three ways: the engine's own
   `late_by_seconds` (whole seconds, in the `reminder_sent` event), the moment the reminder was put in the
   outbox (`outbox.created_at`, read from the clock per reminder), and the moment its batch committed (when
   the reminder became visible to the outbox sender).
3. Run idle sweeps (nothing due), time the claim query alone over the `timers_due` index, show its
   `EXPLAIN QUERY PLAN`, and the database's size.

Timings are printed, never asserted: machines here are small and noisy. Correctness checks (counts) make the
script exit 1 if they fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite

from bot.catalog import Catalog
from bot.clock import OffsetClock
from bot.engine import (
    AddTimers,
    OrgChart,
    OrgDirectory,
    Person,
    StartWorkflow,
    TimerKind,
    Transition,
    WorkflowDefinition,
    WorkingCalendar,
    start,
)
from bot.service import WorkflowService
from bot.store.sqlite import SQLiteStore

APPROVER, REQUESTER = "U0APPROVER", "U0REQUESTER"
# A Wednesday at noon UTC: the middle of the (all-day) working hours, far from the 23:59:59 closing time.
REFERENCE = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SPREAD = timedelta(days=30)
NOT_BEFORE = timedelta(hours=1)  # no future timer falls due while the measured sweep runs
CHUNK = 10_000
IDLE_PASSES = 5

# Exactly the claim query of SQLiteUnitOfWork.claim_due_timers (the UPDATE per row that follows uses the primary key).
CLAIM_SQL = (
    "SELECT id, instance_id, task_id, kind, due_at, recipient, level FROM timers "
    "WHERE status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?"
)

WORKFLOW = {
    "name": "bench-approval",
    "title": "Bench approval",
    "form": [{"id": "item", "label": "Item"}],
    "steps": [
        {
            "id": "approve",
            "type": "approval",
            "title": "Approve {form.item}",
            "assignee": APPROVER,
            "due": "30d",
            "remind": {"at_due": True},
        }
    ],
}


class BenchError(RuntimeError):
    pass


def org_chart() -> OrgChart:
    """Two people; every day is a working day from 00:00 to 23:59:59 UTC."""
    calendar = WorkingCalendar(
        days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start="00:00", end="23:59:59", timezone="UTC"
    )
    people = {
        APPROVER: Person(name="Approver", tz="UTC"),
        REQUESTER: Person(name="Requester", manager=APPROVER, tz="UTC"),
    }
    return OrgChart(calendar=calendar, people=people)


def ts(moment: datetime) -> float:
    return moment.timestamp()  # as the store writes it (bot.store.sqlite._ts)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


# --------------------------------------------------------------------------------------------------------
# Filling the store


def template(definition: WorkflowDefinition, directory: OrgDirectory, now: datetime) -> Transition:
    outcome = start(definition, directory, StartWorkflow(1, REQUESTER, {"item": "the invoice"}), now)
    if not isinstance(outcome, Transition):
        raise BenchError(f"the engine refused to start the template instance: {outcome.reason}")
    timers = [t for e in outcome.effects if isinstance(e, AddTimers) for t in e.timers]
    if len(outcome.instance.tasks) != 1 or len(timers) != 1 or timers[0].kind is not TimerKind.REMIND_DUE:
        raise BenchError(f"expected one task with one remind_due timer, got {outcome.instance.tasks} / {timers}")
    return outcome


def due_times(tasks: int, due: int, rng: random.Random) -> tuple[dict[int, datetime], set[int]]:
    """Due time per copied instance id (2..tasks); `due` of them in the second before REFERENCE."""
    ids = range(2, tasks + 1)
    overdue = set(rng.sample(ids, due))
    span = (SPREAD - NOT_BEFORE).total_seconds()
    times = {}
    for i in ids:
        if i in overdue:
            times[i] = REFERENCE - timedelta(seconds=rng.uniform(0.0, 0.999))
        else:
            times[i] = REFERENCE + NOT_BEFORE + timedelta(seconds=rng.uniform(0.0, span))
    return times, overdue


def copy_rows(
    seed: Transition, definition: WorkflowDefinition, ids: Sequence[int], due: dict[int, datetime]
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows save_instance, append_events and add_timers would write for copies of the seed instance."""
    base = seed.instance
    base_task = base.tasks[0]
    timer = next(t for e in seed.effects if isinstance(e, AddTimers) for t in e.timers)
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("instances", "tasks", "assignees", "events", "timers")}
    for i in ids:
        created = REFERENCE - timedelta(seconds=60 + i % 86_400)
        task_id = f"{i}.{base_task.step_id}"  # the engine's task id scheme
        task = base_task.model_copy(update={"id": task_id, "instance_id": i, "created_at": created, "due_at": due[i]})
        instance = base.model_copy(
            update={
                "id": i,
                "title": f"{definition.title} #{i}",
                "tasks": (task,),
                "created_at": created,
                "updated_at": created,
            }
        )
        rows["instances"].append(
            (
                i,
                instance.workflow,
                instance.definition_version,
                instance.requester,
                instance.status.value,
                instance.model_dump_json(),
                ts(created),
                ts(created),
                None,
            )
        )
        rows["tasks"].append((task_id, i, task.step_id, task.status.value, ts(created), ts(due[i]), None, None))
        rows["assignees"].extend((task_id, user) for user in task.assignees)
        for event in seed.events:
            rows["events"].append(
                (
                    i,
                    seed.instance.workflow,
                    event.kind,
                    ts(created),
                    event.actor,
                    task_id if event.task_id is not None else None,
                    json.dumps(event.data, default=str),
                )
            )
        rows["timers"].append((task_id, i, timer.kind.value, ts(due[i]), timer.recipient, timer.level, "pending"))
    return rows


INSERTS = {
    "instances": "INSERT INTO instances (id, workflow, definition_version, requester, status, state, created_at, "
    "updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "tasks": "INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "assignees": "INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)",
    "events": "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "timers": "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
}


async def fill(
    store: SQLiteStore, definition: WorkflowDefinition, directory: OrgDirectory, tasks: int, due: int
) -> tuple[set[int], float, float]:
    """Fill the store; return the ids of the instances whose timer is due, the fill time and the build share."""
    started = time.perf_counter()
    # The seed instance through the real engine and the store's own methods; its timer is 30 days out.
    seed = template(definition, directory, REFERENCE - timedelta(seconds=60))
    async with store.transaction() as work:
        await work.save_definition(definition, REFERENCE)
        await work.save_instance(seed.instance)
        await work.append_events(seed.instance.id, seed.events)
        for effect in seed.effects:
            if isinstance(effect, AddTimers):
                await work.add_timers(seed.instance.id, effect.timers)

    times, overdue = due_times(tasks, due, random.Random(20261202))
    connection = store._connection
    assert connection is not None
    build = 0.0
    ids = list(times)
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        built = time.perf_counter()
        rows = copy_rows(seed, definition, chunk, times)
        build += time.perf_counter() - built
        async with store.transaction():  # the store's lock and BEGIN IMMEDIATE ... COMMIT
            for table, sql in INSERTS.items():
                await connection.executemany(sql, rows[table])
        done = 1 + offset + len(chunk)
        print(f"  fill: {done:>9,}/{tasks:,} tasks  {time.perf_counter() - started:6.1f}s", flush=True)
    return overdue, time.perf_counter() - started, build


# --------------------------------------------------------------------------------------------------------
# Measuring


async def scalar(connection: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    async with connection.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return row[0] if row else None


async def rows_of(connection: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    async with connection.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


def timed_batches(
    service: WorkflowService, clock: OffsetClock, log: list[tuple[int, datetime, float]]
) -> Callable[[], None]:
    """Record (claimed, clock time, duration) after each of the sweep's batches; each batch commits before it
    returns, so the clock time is when its reminders became visible to the outbox sender."""
    original: Callable[[int], Awaitable[int]] = service._fire_batch

    async def wrapper(batch: int) -> int:
        began = time.perf_counter()
        count = await original(batch)
        log.append((count, clock.now(), time.perf_counter() - began))
        return count

    service._fire_batch = wrapper  # type: ignore[method-assign]

    def restore() -> None:
        service._fire_batch = original  # type: ignore[method-assign]

    return restore


async def measure(args: argparse.Namespace, directory: Path) -> int:
    definition = WorkflowDefinition.model_validate(WORKFLOW)
    org = org_chart()
    catalog = Catalog(org=org, workflows={definition.name: definition})
    path = directory / "baton.db"
    store = SQLiteStore(path)
    await store.open()
    failures: list[str] = []
    try:
        connection = store._connection
        assert connection is not None
        print(f"filling {path} with {args.tasks:,} open tasks ({args.due:,} due) ...", flush=True)
        overdue, fill_seconds, build_seconds = await fill(store, definition, OrgDirectory(org), args.tasks, args.due)
        pending = await scalar(connection, "SELECT COUNT(*) FROM timers WHERE status = 'pending'")
        instances = await scalar(connection, "SELECT COUNT(*) FROM instances")
        if pending != args.tasks or instances != args.tasks:
            failures.append(f"fill: {instances} instances and {pending} pending timers, expected {args.tasks}")
        await connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # start the sweep from a settled file

        # --- the EXPLAIN QUERY PLAN of the claim query
        plan = await rows_of(connection, "EXPLAIN QUERY PLAN " + CLAIM_SQL, (ts(REFERENCE), 500))
        plan_lines = [str(row[3]) for row in plan]

        # --- one sweep with --due timers due
        clock = OffsetClock(start=REFERENCE)
        service = WorkflowService(store, catalog, admins=(), clock=clock)
        batches: list[tuple[int, datetime, float]] = []
        restore = timed_batches(service, clock, batches)
        sweep_start = ts(clock.now())
        began = time.perf_counter()
        fired = await service.fire_due_timers()
        sweep_seconds = time.perf_counter() - began
        restore()

        outbox = await scalar(connection, "SELECT COUNT(*) FROM outbox")
        reminder_events = await rows_of(connection, "SELECT data FROM events WHERE kind = 'reminder_sent'")
        fired_rows = await rows_of(
            connection,
            "SELECT t.instance_id, t.due_at, t.fired_at, o.created_at FROM timers t "
            "LEFT JOIN outbox o ON o.instance_id = t.instance_id WHERE t.status = 'fired'",
        )
        failed_timers = await scalar(connection, "SELECT COUNT(*) FROM timers WHERE status = 'failed'")
        fired_ids = {row[0] for row in fired_rows}
        if fired != args.due:
            failures.append(f"the sweep fired {fired} timers, expected {args.due}")
        if outbox != args.due:
            failures.append(f"{outbox} outbox rows were written, expected {args.due}")
        if len(reminder_events) != args.due:
            failures.append(f"{len(reminder_events)} reminder_sent events were written, expected {args.due}")
        if fired_ids != overdue:
            failures.append(f"the fired timers are not the due ones ({len(fired_ids ^ overdue)} differ)")
        if failed_timers:
            failures.append(f"{failed_timers} timers were marked failed")

        engine_late = [float(json.loads(row[0])["late_by_seconds"]) for row in reminder_events]
        enqueue_late = [row[3] - row[1] for row in fired_rows if row[3] is not None]
        commit_at = sorted({row[2] for row in fired_rows})  # one `now` (fired_at) per batch, in batch order
        commits = [ts(at) for count, at, _ in batches if count]
        visible = dict(zip(commit_at, commits, strict=False))
        commit_late = [visible[row[2]] - row[1] for row in fired_rows if row[2] in visible]
        enqueue_delay = [row[3] - sweep_start for row in fired_rows if row[3] is not None]
        commit_delay = [visible[row[2]] - sweep_start for row in fired_rows if row[2] in visible]

        # --- idle sweeps: nothing due
        idle = []
        for _ in range(IDLE_PASSES):
            began = time.perf_counter()
            extra = await service.fire_due_timers()
            idle.append(time.perf_counter() - began)
            if extra:
                failures.append(f"an idle sweep fired {extra} timers")
        query = []
        for _ in range(IDLE_PASSES):
            began = time.perf_counter()
            await rows_of(connection, CLAIM_SQL, (ts(clock.now()), 500))
            query.append(time.perf_counter() - began)
        # the same query on a plain sqlite3 connection: no aiosqlite thread hop
        with sqlite3.connect(path) as plain:
            direct = []
            for _ in range(IDLE_PASSES):
                began = time.perf_counter()
                plain.execute(CLAIM_SQL, (ts(clock.now()), 500)).fetchall()
                direct.append(time.perf_counter() - began)
        db_mb, wal_mb = size_mb(path), size_mb(path.with_name(path.name + "-wal"))
    finally:
        await store.close()

    report(
        args,
        fill_seconds=fill_seconds,
        build_seconds=build_seconds,
        sweep_seconds=sweep_seconds,
        fired=fired,
        outbox=outbox,
        reminder_events=len(reminder_events),
        batches=batches,
        lateness={
            "engine late_by_seconds": engine_late,
            "enqueued - due_at": enqueue_late,
            "committed - due_at": commit_late,
            "enqueued - sweep start (Baton's share)": enqueue_delay,
            "committed - sweep start (Baton's share)": commit_delay,
        },
        idle=idle,
        query=query,
        direct=direct,
        db_mb=db_mb,
        wal_mb=wal_mb,
        plan_lines=plan_lines,
    )
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    if not failures:
        print(f"checks: fired {fired} = outbox rows {outbox} = reminder_sent events {len(reminder_events)} = --due")
    return 1 if failures else 0


def report(
    args: argparse.Namespace,
    *,
    fill_seconds: float,
    build_seconds: float,
    sweep_seconds: float,
    fired: int,
    outbox: int,
    reminder_events: int,
    batches: list[tuple[int, datetime, float]],
    lateness: dict[str, list[float]],
    idle: list[float],
    query: list[float],
    direct: list[float],
    db_mb: float,
    wal_mb: float,
    plan_lines: list[str],
) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print()
    print(
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, CPUs: {cpus} (usable: {usable}); "
        f"{args.tasks:,} open tasks, {args.due:,} due"
    )
    rate = args.tasks / fill_seconds if fill_seconds else float("nan")
    print(
        f"fill: {fill_seconds:.1f}s ({rate:,.0f} tasks/s; {build_seconds:.1f}s of it building rows and JSON in Python)"
    )
    print()
    width = 46
    print(f"{'':<{width}}{'value':>14}")
    print("-" * (width + 14))
    per_second = fired / sweep_seconds if sweep_seconds else float("nan")
    print(f"{'sweep with --due due: duration':<{width}}{sweep_seconds * 1000:>11.0f} ms")
    print(f"{'  timers fired / per second':<{width}}{f'{fired} / {per_second:,.0f}':>14}")
    print(f"{'  outbox rows / reminder_sent events':<{width}}{f'{outbox} / {reminder_events}':>14}")
    shown = ", ".join(f"{count} in {seconds * 1000:.0f} ms" for count, _, seconds in batches)
    print(f"{'  batches (500 each)':<{width}}{'':>14}  {shown}")
    print(f"{'idle sweep (nothing due): median / min':<{width}}{fmt_ms(idle):>14}")
    print(f"{'claim query alone, aiosqlite: median / min':<{width}}{fmt_ms(query):>14}")
    print(f"{'claim query alone, sqlite3: median / min':<{width}}{fmt_ms(direct):>14}")
    print(f"{'database file / WAL':<{width}}{f'{db_mb:.0f} / {wal_mb:.1f} MB':>14}")
    print("-" * (width + 14))
    print()
    header = f"{'reminder lateness (s)':<{width}}{'p50':>8}{'p99':>8}{'max':>8}{'n':>7}"
    print(header)
    print("-" * len(header))
    for name, values in lateness.items():
        print(
            f"{name:<{width}}{percentile(values, 50):>8.3f}{percentile(values, 99):>8.3f}"
            f"{max(values, default=float('nan')):>8.3f}{len(values):>7}"
        )
    print("-" * len(header))
    print("(due times lie 0-1 s before the sweep starts, so the first three rows include up to 1 s of waiting;")
    print(" the engine's late_by_seconds is truncated to whole seconds; 'committed' = when the reminder's batch")
    print(" committed and the outbox sender could see it)")
    print()
    print("EXPLAIN QUERY PLAN " + CLAIM_SQL)
    for line in plan_lines:
        print(f"  {line}")
    print(f"uses timers_due: {'yes' if any('timers_due' in line for line in plan_lines) else 'NO'}")
    print()


def fmt_ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values) * 1000:.3f} / {min(values) * 1000:.3f} ms"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks in the store (default 100000)")
    parser.add_argument("--due", type=int, default=1000, help="how many of their timers are due (default 1000)")
    args = parser.parse_args(argv)
    if args.tasks < 2 or not 0 <= args.due < args.tasks:
        parser.error("need --tasks >= 2 and 0 <= --due < --tasks (the engine-started seed task is never due)")
    return args


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="baton-scheduler-bench-") as directory:
        try:
            return await measure(args, Path(directory))
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
