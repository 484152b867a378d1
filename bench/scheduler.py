"""How long does one scheduler sweep take on a store with many open tasks, and how late are its reminders?

Run: `.venv/bin/python bench/scheduler.py [--tasks 100000] [--due 1000] [--clicks N] [--repeats 3]
[--compare-with DIR]`

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
2. Run one sweep, `TimerSweep.fire_due_timers()`, on an `OffsetClock` set to the reference time, and check
   that it fired exactly `--due` timers and wrote `--due` outbox rows and `reminder_sent` events.
   Lateness of each reminder against its timer's due time is reported three ways: the engine's own
   `late_by_seconds` (whole seconds, in the `reminder_sent` event), the moment the reminder was put in the
   outbox (`outbox.created_at`, read from the clock per reminder), and the moment its batch committed (when
   the reminder became visible to the outbox sender).
3. Run idle sweeps (nothing due), time the claim query alone over the `timers_due` index, show its
   `EXPLAIN QUERY PLAN`, and the database's size.

With `--clicks N` the sweep runs inside a serving Baton instead (the real `Baton`, its scheduler and HTTP server,
the Slack emulator in the same process as in bench/ack.py): the store is filled as above with every timer an
hour away, N bench approvals are started through signed `/workflow` commands and start modals, and their DMs'
Approve clicks are pre-signed. Then the `--due` timers are moved to fall due one second before the scheduler's
next tick, and the N clicks are fired at `--concurrency` in flight from a spawned load process (bench/load.py),
starting at that moment. Reported: how long the sweep took from its start to its last batch's commit, how late
the reminders were committed after falling due, the APScheduler warnings about skipped or missed runs, the gaps
between sweep starts, and the clicks' ack latencies.

`--repeats R` runs the benchmark R times, each in a fresh process, and prints min / median / max;
`--compare-with DIR` runs this same script on the code in DIR as well (e.g. `git worktree add /tmp/main main`, or
`git archive main | tar -x -C /tmp/main`), alternating the two, so that both meet the same noise.

Timings are printed, never asserted: machines here are small and noisy. Correctness checks (counts) make the
script exit 1 if they fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import yaml
from load import APPROVE, JSON, SIGNING_SECRET, BenchError, approve_click, fire, ready, signed, wait_until

from bot.app import Baton
from bot.catalog import Catalog
from bot.clock import OffsetClock
from bot.emulator import Message, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import plain_text_value, url_verification
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
from bot.pacing import Limit
from bot.service import WorkflowService
from bot.settings import Settings
from bot.slack.outgoing import BlockKitRenderer
from bot.slack.refusals import refusal_text
from bot.store.sqlite import SQLiteStore
from bot.workspace import Workspace

PROJECT = Path(__file__).resolve().parents[1]

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
        raise BenchError(f"the engine refused to start the template instance: {refusal_text(outcome)}")
    timers = [t for e in outcome.effects if isinstance(e, AddTimers) for t in e.timers]
    if len(outcome.instance.tasks) != 1 or len(timers) != 1 or timers[0].kind is not TimerKind.REMIND_DUE:
        raise BenchError(f"expected one task with one remind_due timer, got {outcome.instance.tasks} / {timers}")
    return outcome


def due_times(
    tasks: int, due: int, rng: random.Random, reference: datetime = REFERENCE
) -> tuple[dict[int, datetime], set[int]]:
    """Due time per copied instance id (2..tasks); `due` of them in the second before `reference`."""
    ids = range(2, tasks + 1)
    overdue = set(rng.sample(ids, due))
    span = (SPREAD - NOT_BEFORE).total_seconds()
    times = {}
    for i in ids:
        if i in overdue:
            times[i] = reference - timedelta(seconds=rng.uniform(0.0, 0.999))
        else:
            times[i] = reference + NOT_BEFORE + timedelta(seconds=rng.uniform(0.0, span))
    return times, overdue


def copy_rows(
    seed: Transition,
    definition: WorkflowDefinition,
    ids: Sequence[int],
    due: dict[int, datetime],
    reference: datetime = REFERENCE,
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows save_instance, append_events and add_timers would write for copies of the seed instance."""
    base = seed.instance
    base_task = base.tasks[0]
    timer = next(t for e in seed.effects if isinstance(e, AddTimers) for t in e.timers)
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("instances", "tasks", "assignees", "events", "timers")}
    for i in ids:
        created = reference - timedelta(seconds=60 + i % 86_400)
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
    "events": "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "timers": "INSERT INTO timers (task_id, instance_id, kind, due_at, recipient, level, status) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
}


async def fill(
    store: SQLiteStore,
    definition: WorkflowDefinition,
    directory: OrgDirectory,
    tasks: int,
    due: int,
    *,
    reference: datetime = REFERENCE,
    quiet: bool = False,
) -> tuple[set[int], float, float]:
    """Fill the store; return the ids of the instances whose timer is due, the fill time and the build share."""
    started = time.perf_counter()
    # The seed instance through the real engine and the store's own methods; its timer is 30 days out.
    seed = template(definition, directory, reference - timedelta(seconds=60))
    async with store.transaction() as work:
        await work.save_definition(definition, reference)
        await work.save_instance(seed.instance)
        await work.append_events(seed.instance.id, seed.events)
        for effect in seed.effects:
            if isinstance(effect, AddTimers):
                await work.add_timers(seed.instance.id, effect.timers)

    times, overdue = due_times(tasks, due, random.Random(20261202), reference)
    connection = store._connection
    assert connection is not None
    build = 0.0
    ids = list(times)
    for offset in range(0, len(ids), CHUNK):
        chunk = ids[offset : offset + CHUNK]
        built = time.perf_counter()
        rows = copy_rows(seed, definition, chunk, times, reference)
        build += time.perf_counter() - built
        async with store.transaction():  # the store's lock and BEGIN IMMEDIATE ... COMMIT
            for table, sql in INSERTS.items():
                await connection.executemany(sql, rows[table])
        done = 1 + offset + len(chunk)
        if not quiet:
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
    original = service.timer_sweep._fire_batch

    async def wrapper(batch: int) -> int:
        began = time.perf_counter()
        count = await original(batch)
        log.append((count, clock.now(), time.perf_counter() - began))
        return count

    service.timer_sweep._fire_batch = wrapper  # type: ignore[method-assign]

    def restore() -> None:
        service.timer_sweep._fire_batch = original  # type: ignore[method-assign]

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
        overdue, fill_seconds, build_seconds = await fill(
            store, definition, OrgDirectory(org), args.tasks, args.due, quiet=args.quiet
        )
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
        service = WorkflowService(Workspace(store, catalog, admins=(), clock=clock), renderer=BlockKitRenderer())
        batches: list[tuple[int, datetime, float]] = []
        restore = timed_batches(service, clock, batches)
        sweep_start = ts(clock.now())
        began = time.perf_counter()
        fired = await service.timer_sweep.fire_due_timers()
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
            extra = await service.timer_sweep.fire_due_timers()
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
    save_summary(
        args,
        {
            "sweep_seconds": sweep_seconds,
            "fired": fired,
            "batches": sum(1 for count, _, _ in batches if count),
            "committed_after_p50": percentile(commit_delay, 50),
            "committed_after_max": max(commit_delay, default=float("nan")),
            "failures": failures,
        },
    )
    return 1 if failures else 0


def save_summary(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    """For --repeats: the child run's figures, read back by the parent."""
    if args.json:
        Path(args.json).write_text(json.dumps(summary))


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
    print(f"{'  batches':<{width}}{'':>14}  {shown}")
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


# --------------------------------------------------------------------------------------------------------
# The sweep inside a serving Baton while a burst of clicks comes in (--clicks)

BOT_TOKEN = "xoxb-bench-token"
REQUESTERS = tuple(f"U0REQUESTER{lane}" for lane in range(4))  # one modal at a time each: four lanes of starts
SWEEP_JOB = "timer-sweep"
LEAD = 1.0  # seconds: the timers fall due, and the clicks start, this long before the scheduler's next tick


def click_workflows(directory: Path) -> Path:
    """A workflows directory with the bench workflow and an org whose calendar is open at every hour."""
    workflows = directory / "workflows"
    workflows.mkdir()
    (workflows / "bench-approval.yaml").write_text(yaml.safe_dump(WORKFLOW, sort_keys=False))
    calendar = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "23:59:59"}
    people = {APPROVER: {"name": "Approver", "tz": "UTC"}, REQUESTER: {"name": "Requester", "tz": "UTC"}}
    people.update({user: {"name": f"Requester {user[-1]}", "tz": "UTC"} for user in REQUESTERS})
    (workflows / "org.yaml").write_text(yaml.safe_dump({"calendar": calendar | {"timezone": "UTC"}, "people": people}))
    return workflows


async def open_click_targets(driver: SlackDriver, emulator: SlackEmulator, count: int) -> list[Message]:
    """Start `count` bench approvals through /workflow and the start modal; return the approver's DMs."""

    async def lane(user: str, numbers: range) -> None:
        def form() -> dict[str, Any] | None:
            views = emulator.open_views(user)
            return views[-1] if views else None

        for number in numbers:
            reply = await driver.send_command(user, f"start {WORKFLOW['name']}")
            if reply.status != 200:
                raise BenchError(f"/workflow start as {user} answered {reply.status}: {reply.body[:200]}")
            view = await wait_until(form, 10, f"the start form for {user}")
            values = {"field:item": {"value": plain_text_value(f"click target {number}")}}
            submitted = await driver.submit_view(user, view, values)
            if submitted.status != 200:
                raise BenchError(f"the start form as {user} answered {submitted.status}: {submitted.body[:300]}")

    lanes = len(REQUESTERS)
    await asyncio.gather(*(lane(user, range(k, count, lanes)) for k, user in enumerate(REQUESTERS)))

    def dms() -> list[Message] | None:
        found = [m for m in emulator.dm_messages(APPROVER) if find_action(m.blocks, APPROVE)]
        return found if len(found) >= count else None

    found: list[Message] = await wait_until(dms, 120, f"{count} approval DMs", poll=0.05)
    return found


def move_due(path: Path, instance_ids: set[int], due_at: datetime) -> None:
    """Make the chosen timers fall due in the second before `due_at` (another connection, as an operator would)."""
    rng = random.Random(7)
    with sqlite3.connect(path, timeout=30) as db:
        db.executemany(
            "UPDATE timers SET due_at = ? WHERE task_id = ? AND status = 'pending'",  # timers_by_task
            [(ts(due_at) - rng.uniform(0.0, 0.999), f"{i}.approve") for i in sorted(instance_ids)],
        )


async def measure_under_clicks(args: argparse.Namespace, directory: Path, pool: ProcessPoolExecutor) -> int:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(pool, ready)  # spawn the load process now, not on the clock
    definition = WorkflowDefinition.model_validate(WORKFLOW)
    org = org_chart()
    workflows = click_workflows(directory)
    path = directory / "baton.db"
    # 1. The open tasks, before Baton opens the file: every timer an hour or more away for now.
    store = SQLiteStore(path)
    await store.open()
    try:
        print(f"filling {path} with {args.tasks:,} open tasks ...", flush=True)
        placeholder = datetime.now(UTC) + timedelta(hours=1)
        overdue, _fill, _build = await fill(
            store, definition, OrgDirectory(org), args.tasks, args.due, reference=placeholder, quiet=True
        )
    finally:
        await store.close()

    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    for user in (APPROVER, REQUESTER, *REQUESTERS):
        emulator.add_user(user, name=user.lower(), real_name=user, tz="UTC")
    emulator.add_channel("C0GENERAL", "general")
    await emulator.start()
    baton: Baton | None = None
    tally = LogTally()
    logging.getLogger().addHandler(tally)
    try:
        settings = Settings(
            _env_file=None,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=emulator.api_url,
            database_url=f"sqlite:///{path}",
            workflows_dir=workflows,
            slack_tier_pacing=False,
        )
        baton = Baton(settings)
        await baton.start()
        baton.sender.conversation_limit = Limit(per_second=1e9, burst=1e9)  # every DM goes to one person
        port = await baton.serve("127.0.0.1", 0)
        url = f"http://127.0.0.1:{port}/slack/events"

        # 2. Requests to click, started through Slack's HTTP path.
        print(f"starting {args.clicks} approvals to click ...", flush=True)
        async with SlackDriver(url, SIGNING_SECRET, emulator) as driver:
            messages = await open_click_targets(driver, emulator, args.clicks)
        timestamp = int(time.time())
        shots = [approve_click(emulator, APPROVER, message, url, timestamp) for message in messages[: args.clicks]]
        warmups = [signed(url, json.dumps(url_verification(f"warm-{i}")), JSON, timestamp) for i in range(8)]
        while await outbox_pending(baton):
            await asyncio.sleep(0.05)

        # 3. Watch every sweep and batch from here on.
        sweeps: list[tuple[float, float, int]] = []  # (started, ended, fired), monotonic
        batches: list[tuple[float, float, int]] = []
        service = baton.service
        sweep, fire_batch = service.timer_sweep.fire_due_timers, service.timer_sweep._fire_batch

        async def watched_sweep(**kwargs: Any) -> int:
            began = time.monotonic()
            fired = await sweep(**kwargs)
            sweeps.append((began, time.monotonic(), fired))
            return fired

        async def watched_batch(batch: int) -> int:
            began = time.monotonic()
            count = await fire_batch(batch)
            batches.append((began, time.monotonic(), count))
            return count

        service.timer_sweep.fire_due_timers = watched_sweep  # type: ignore[method-assign]
        service.timer_sweep._fire_batch = watched_batch  # type: ignore[method-assign]

        # 4. The due timers fall due half a second before the scheduler's next tick, and the clicks start then.
        interval = settings.scheduler_interval_seconds
        tick = next_tick(baton, interval)
        while tick < datetime.now(UTC) + timedelta(seconds=2):
            tick += timedelta(seconds=interval)
        due_at = tick - timedelta(seconds=LEAD)
        await asyncio.to_thread(move_due, path, overdue, due_at)
        await asyncio.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()))
        logged = tally.count
        burst = loop.run_in_executor(pool, fire, shots, warmups, args.concurrency, 120.0)

        def all_fired() -> bool:  # and the sweeps that fired them have returned
            return bool(sum(fired for _, _, fired in sweeps) >= args.due)

        raw = await burst
        burst_end = time.monotonic()  # the load process's last answer arrived before this
        await wait_until(all_fired, 120, f"{args.due} timers fired")
        count = len(sweeps)  # and the sweep after the one that fired them (a skipped tick shows as a long gap)
        await wait_until(lambda: len(sweeps) > count, 3 * interval, "the next sweep", poll=0.05)
        mono_minus_wall = time.monotonic() - time.time()
        due_mono = ts(due_at) + mono_minus_wall
        firing = [b for b in batches if b[2]]
        sweep_start = next(began for began, ended, _ in sweeps if began <= firing[0][0] <= ended)
        statuses = raw["statuses"]
        latencies = [v for v in raw["latencies"] if not math.isnan(v)]
        starts = [began for began, _, _ in sweeps if sweep_start <= began]
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]  # from the firing sweep on
        skipped = [line for line in tally.lines[logged:] if "skipped" in line or "missed" in line]
        summary = {
            "sweep_seconds": firing[-1][1] - sweep_start,
            "fired": sum(b[2] for b in firing),
            "batches": len(firing),
            "committed_after_p50": statistics.median(end - sweep_start for _, end, _ in firing),
            "committed_after_max": firing[-1][1] - sweep_start,
            "sweep_started_after_due": sweep_start - due_mono,
            "all_committed_after_due": firing[-1][1] - due_mono,
            "burst_seconds": raw["elapsed"],
            "sweep_from_burst_start": sweep_start - raw["started_mono"],
            "sweep_inside_burst": raw["started_mono"] <= sweep_start and firing[-1][1] <= burst_end,
            "clicks": len(statuses),
            "clicks_not_200": sum(1 for status in statuses if status != 200),
            "ack_p50_ms": percentile(latencies, 50) * 1000,
            "ack_p99_ms": percentile(latencies, 99) * 1000,
            "ack_max_ms": max(latencies, default=float("nan")) * 1000,
            "ticks_skipped_or_missed": len(skipped),
            "largest_gap_between_sweeps": max(gaps, default=float("nan")),
            "interval": interval,
            "warnings": skipped[:3],
            "failures": [],
        }
        if summary["fired"] != args.due:
            summary["failures"].append(f"fired {summary['fired']} timers, expected {args.due}")
        if summary["clicks_not_200"]:
            summary["failures"].append(f"{summary['clicks_not_200']} clicks were not answered 200: {raw['errors'][:3]}")
    finally:
        logging.getLogger().removeHandler(tally)
        if baton is not None:
            await baton.stop()
        await emulator.stop()
    report_clicks(summary)
    save_summary(args, summary)
    for failure in summary["failures"]:
        print(f"CHECK FAILED: {failure}")
    return 1 if summary["failures"] else 0


def next_tick(baton: Baton, interval: float) -> datetime:
    """When the timer sweep is next due (this code's Scheduler says so; older ones: guessed from the last run)."""
    scheduler: Any = baton.scheduler
    if hasattr(scheduler, "next_run"):
        when = scheduler.next_run(SWEEP_JOB)
        if when is not None:
            return when  # type: ignore[no-any-return]
    job = scheduler._scheduler.get_job(SWEEP_JOB)
    return job.next_run_time  # type: ignore[no-any-return]


async def outbox_pending(baton: Baton) -> int:
    async with baton.store.transaction(read_only=True) as work:
        return await work.outbox_depth()


class LogTally(logging.Handler):
    """Every warning logged while the benchmark runs (APScheduler says so when it skips or misses a run)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


def report_clicks(summary: dict[str, Any]) -> None:
    print()
    print(
        f"sweep of {summary['fired']} due timers while {summary['clicks']} clicks came in "
        f"({summary['burst_seconds']:.2f} s of clicks; the sweep started {summary['sweep_from_burst_start']:.2f} s "
        "into them)"
    )
    if not summary["sweep_inside_burst"]:
        print("NOTE: the sweep did not run entirely while the clicks came in; use more --clicks")
    rows = [
        ("sweep: start to last batch committed", f"{summary['sweep_seconds'] * 1000:.0f} ms"),
        ("  batches that fired timers", f"{summary['batches']}"),
        ("  half the timers committed after", f"{summary['committed_after_p50'] * 1000:.0f} ms"),
        ("sweep started after the timers fell due", f"{summary['sweep_started_after_due']:.2f} s"),
        ("all timers committed after they fell due", f"{summary['all_committed_after_due']:.2f} s"),
        ("ticks skipped or missed (APScheduler warnings)", f"{summary['ticks_skipped_or_missed']}"),
        ("largest gap between sweep starts", f"{summary['largest_gap_between_sweeps']:.2f} s"),
        (
            "clicks: ack p50 / p99 / max",
            f"{summary['ack_p50_ms']:.0f} / {summary['ack_p99_ms']:.0f} / {summary['ack_max_ms']:.0f} ms",
        ),
        ("clicks not answered 200", f"{summary['clicks_not_200']}"),
    ]
    for name, value in rows:
        print(f"{name:<48}{value:>20}")
    for line in summary["warnings"]:
        print(f"  {line}")
    print()


# --------------------------------------------------------------------------------------------------------
# Repeats, and this code next to another checkout (--repeats, --compare-with)

SHOWN = {
    False: [("sweep_seconds", "sweep (s)"), ("committed_after_p50", "half committed (s)")],
    True: [
        ("sweep_seconds", "sweep (s)"),
        ("all_committed_after_due", "all committed after due (s)"),
        ("ticks_skipped_or_missed", "ticks skipped"),
        ("largest_gap_between_sweeps", "largest gap (s)"),
        ("ack_p99_ms", "ack p99 (ms)"),
        ("ack_max_ms", "ack max (ms)"),
    ],
}


def repeat(args: argparse.Namespace) -> int:
    """Run the benchmark `--repeats` times in fresh processes, alternating with the other checkout if given."""
    trees = {"this code": PROJECT}
    if args.compare_with:
        trees = {f"{args.compare_with}": Path(args.compare_with).resolve(), **trees}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    passed = child_arguments(sys.argv[1:])
    failed = False
    with tempfile.TemporaryDirectory(prefix="baton-scheduler-repeats-") as scratch:
        for number in range(args.repeats):
            for name, tree in trees.items():
                out = Path(scratch) / f"{number}-{len(results[name])}-{tree.name}.json"
                env = os.environ | {"PYTHONPATH": str(tree)}
                command = [sys.executable, __file__, *passed, "--quiet", "--json", str(out)]
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
                if done.returncode != 0 or not out.exists():
                    failed = True
                    print(f"run {number + 1} of {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
                    continue
                summary = json.loads(out.read_text())
                results[name].append(summary)
                shown = ", ".join(f"{label} {summary[key]:.3g}" for key, label in SHOWN[bool(args.clicks)])
                print(f"run {number + 1} ({name}): {shown}", flush=True)
    print()
    load = f", {args.clicks} clicks at {args.concurrency} in flight" if args.clicks else ""
    print(f"{args.tasks:,} open tasks, {args.due:,} due{load}; min / median / max of {args.repeats} runs")
    for key, label in SHOWN[bool(args.clicks)]:
        cells = [f"{name}: {spread([r[key] for r in results[name]])}" for name in trees]
        print(f"  {label:<30}" + "    ".join(cells))
    return 1 if failed else 0


def child_arguments(argv: Sequence[str]) -> list[str]:
    """The command line for one repeated run: without --repeats and --compare-with (and their values)."""
    own = ("--repeats", "--compare-with")
    kept: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument in own:
            skip = True
        elif not argument.startswith(tuple(f"{flag}=" for flag in own)):
            kept.append(argument)
    return kept


def spread(values: Sequence[float]) -> str:
    if not values:
        return "n/a"
    return " / ".join(f"{v:.3g}" for v in (min(values), statistics.median(values), max(values)))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks in the store (default 100000)")
    parser.add_argument("--due", type=int, default=1000, help="how many of their timers are due (default 1000)")
    parser.add_argument(
        "--clicks", type=int, default=0, help="sweep inside a serving Baton while this many Approve clicks come in"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="clicks in flight (default 8)")
    parser.add_argument("--repeats", type=int, default=1, help="run this many times, each in a fresh process")
    parser.add_argument(
        "--compare-with", metavar="DIR", help="also run the same benchmark on the code in DIR (another checkout)"
    )
    parser.add_argument("--json", help=argparse.SUPPRESS)  # where a repeated run leaves its figures
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tasks < 2 or not 0 <= args.due < args.tasks:
        parser.error("need --tasks >= 2 and 0 <= --due < --tasks (the engine-started seed task is never due)")
    if args.clicks < 0 or args.repeats < 1 or args.concurrency < 1:
        parser.error("need --clicks >= 0, --repeats >= 1 and --concurrency >= 1")
    if args.clicks and args.due < 1:
        parser.error("--clicks needs --due >= 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="baton-scheduler-bench-") as directory:
        try:
            if not args.clicks:
                return await measure(args, Path(directory))
            context = multiprocessing.get_context("spawn")  # never fork a process with a running loop and threads
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                return await measure_under_clicks(args, Path(directory), pool)
        except BenchError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.repeats > 1 or args.compare_with:
        return repeat(args)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
