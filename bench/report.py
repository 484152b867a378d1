"""How long does a KPI report take on a year of history: 50 workflows, about a million events?

Run: `.venv/bin/python bench/report.py [--events 1000000] [--workflows 50] [--db PATH [--reuse]]
[--repeats 3] [--compare-with DIR]` (`--reuse`: the database generated at PATH before, if any)

1. Create a SQLite store with the real `SQLiteStore` (its schema, migrations and pragmas), then write a year
   of generated history straight into it with `executemany` in one transaction: per request an `instances`
   row, two tasks (a manager's approval due in 24 h, then a group task due in 48 h, two assignees) with their
   `task_assignees`, and the events the engine writes (`instance_started`, `task_assigned`, `task_approved` /
   `task_rejected`, `task_completed`, `instance_*`), plus some `reminder_sent`, `escalated`, `task_timed_out`
   and `delivery_failed`. Outcomes: about 78% completed, 8% rejected, 8% cancelled, the rest still running.
   Times are whole microseconds, as Baton's (they come from datetimes). The finished requests' report rows
   (bot/store/report_rows.py), which a store writes as each request finishes, are then written as migration 15
   writes them for the history before it.
2. Time `build_report` (the store's sums in one read-only snapshot, then the pure figures) for one workflow
   over 30 days and 12 weeks and a year, and for every workflow over the year; each several times, with the
   longest single unit of work (code before this read facts a month per transaction on the store's one
   connection, holding writers meanwhile; a report's snapshot now has a connection of its own). Finished
   requests are summed from their report rows, running ones from their events. Show the `EXPLAIN QUERY PLAN`
   of an instance query over the events, which uses the `events_by_workflow` index.
3. Drop `events_by_workflow` (the index migration 6 added) and time the one-workflow reports again, so the
   gain of reading one workflow's events only is a ratio measured in the same run on the same data.

With `--repeats N` or `--compare-with DIR`, step 2 runs N times, each in a fresh process on the one generated
database, alternating with the same script over the code in DIR (e.g. `git worktree add /tmp/before main`:
`build_report` is the interface both have), and prints min / median / max of the runs; step 3 is skipped. The
database is generated with the schema of DIR's code (older code refuses a newer one), and each checkout times
its own copy of it, migrated by its own code before the first run (migration 15 writes the year's report rows).

Timings are printed, never asserted. The report's own figures are checked against counts made while
generating (started and completed), and the script exits 1 if they differ.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.engine import OrgChart, OrgDirectory, Person
from bot.engine.kpis import KpiReport, Period, parse_period
from bot.reporting.kpi_report import build_report
from bot.store import SQLiteStore, UnitOfWork

PROJECT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
HOUR = 3600.0
EVENTS_PER_REQUEST = 5.93  # on average, with the mix below


_CREATE = """# the store's schema as the code on PYTHONPATH makes it (or migrates an existing one to)
import asyncio, sys
from pathlib import Path
from bot.store import SQLiteStore

async def create(path):
    store = SQLiteStore(path)
    await store.open()
    await store.close()

asyncio.run(create(Path(sys.argv[1])))
"""


class History:
    """Rows to insert, and what the generator knows the report must find."""

    def __init__(self) -> None:
        self.instances: list[tuple[Any, ...]] = []
        self.tasks: list[tuple[Any, ...]] = []
        self.assignees: list[tuple[str, str]] = []
        self.events: list[tuple[Any, ...]] = []
        self.started: dict[str, int] = {}
        self.completed: dict[str, int] = {}


def generate(workflows: int, target_events: int, seed: int = 6) -> History:
    rng = random.Random(seed)
    history = History()
    requests = int(target_events / EVENTS_PER_REQUEST)
    start_of_year = (NOW - YEAR).timestamp()
    for number in range(1, requests + 1):
        workflow = f"workflow-{number % workflows:02d}"
        created = round(start_of_year + rng.random() * YEAR.total_seconds(), 6)  # whole microseconds, as Baton's
        requester = f"U{rng.randrange(1000):04d}"
        manager = f"UM{int(requester[1:]) // 8:03d}"
        history.started[workflow] = history.started.get(workflow, 0) + (created >= (NOW - YEAR).timestamp())
        events: list[tuple[Any, ...]] = [(number, "instance_started", created, requester, None, "{}")]
        first = f"{number}.approve"
        approve_at = round(created + rng.expovariate(1 / (18 * HOUR)), 6)
        roll = rng.random()
        status, finished_at = "running", None
        if approve_at > NOW.timestamp():  # the manager has not decided yet
            history.tasks.append((first, number, "manager_ok", "open", created, created + 24 * HOUR, None, None))
            events.append((number, "task_assigned", created, None, first, "{}"))
        elif roll < 0.08:  # cancelled while the manager still had it
            cancel_at = min(round(created + rng.random() * 10 * HOUR, 6), NOW.timestamp())
            history.tasks.append((first, number, "manager_ok", "cancelled", created, created + 24 * HOUR, None, None))
            events += [
                (number, "task_assigned", created, None, first, "{}"),
                (number, "task_cancelled", cancel_at, requester, first, "{}"),
                (number, "instance_cancelled", cancel_at, requester, None, "{}"),
            ]
            status, finished_at = "cancelled", cancel_at
        elif roll < 0.16:  # rejected by the manager
            history.tasks.append(
                (first, number, "manager_ok", "rejected", created, created + 24 * HOUR, manager, approve_at)
            )
            events += [
                (number, "task_assigned", created, None, first, "{}"),
                (number, "task_rejected", approve_at, manager, first, "{}"),
                (number, "instance_rejected", approve_at, manager, None, "{}"),
            ]
            status, finished_at = "rejected", approve_at
        else:
            second = f"{number}.order"
            done_at = round(approve_at + rng.expovariate(1 / (30 * HOUR)), 6)
            still_running = roll > 0.95 or done_at > NOW.timestamp()
            history.tasks.append(
                (first, number, "manager_ok", "approved", created, created + 24 * HOUR, manager, approve_at)
            )
            history.tasks.append(
                (second, number, "order", "open" if still_running else "done", approve_at, approve_at + 48 * HOUR,
                 None if still_running else "U9FIN", None if still_running else done_at)
            )  # fmt: skip
            history.assignees += [(second, "U9FIN"), (second, "U9FIM")]
            events += [
                (number, "task_assigned", created, None, first, "{}"),
                (number, "task_approved", approve_at, manager, first, "{}"),
                (number, "task_assigned", approve_at, None, second, "{}"),
            ]
            if not still_running:
                events += [
                    (number, "task_completed", done_at, "U9FIN", second, "{}"),
                    (number, "instance_completed", done_at, "U9FIN", None, "{}"),
                ]
                status, finished_at = "completed", done_at
                history.completed[workflow] = history.completed.get(workflow, 0) + 1
            if done_at - approve_at > 48 * HOUR:
                events.append((number, "reminder_sent", approve_at + 48 * HOUR, None, second, "{}"))
                events.append((number, "escalated", approve_at + 60 * HOUR, None, second, "{}"))
        history.assignees.append((first, manager))
        if rng.random() < 0.01:
            events.append((number, "delivery_failed", created + 1, None, None, '{"error": "channel_not_found"}'))
        if rng.random() < 0.005:
            events.append((number, "task_timed_out", created + 24 * HOUR, None, first, "{}"))
        events = [event for event in events if event[2] <= NOW.timestamp()]  # nothing from the future
        updated = max(e[2] for e in events)
        history.instances.append(
            (number, workflow, f"v-{workflow}", requester, status, "{}", created, updated, finished_at)
        )
        history.events += events
    return history


async def create_store(path: Path) -> None:
    store = SQLiteStore(path)
    await store.open()
    await store.close()


def fill(path: Path, history: History, workflows: int) -> None:
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO definitions (version, name, body, stored_at) VALUES (?, ?, '{}', 0)",
            [(f"v-workflow-{n:02d}", f"workflow-{n:02d}") for n in range(workflows)],
        )
        db.executemany(
            "INSERT INTO instances (id, workflow, definition_version, requester, status, state, created_at, "
            "updated_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            history.instances,
        )
        db.executemany(
            "INSERT INTO tasks (id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            history.tasks,
        )
        db.executemany("INSERT INTO task_assignees (task_id, user_id) VALUES (?, ?)", history.assignees)
        history.events.sort(key=lambda e: e[2])
        workflow_of = {row[0]: row[1] for row in history.instances}
        db.executemany(  # as append_events writes them: each with its request's workflow
            "INSERT INTO events (instance_id, workflow, kind, at, actor, task_id, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((event[0], workflow_of[event[0]], *event[1:]) for event in history.events),
        )
        db.execute("ANALYZE")


async def write_report_rows(path: Path) -> None:
    """The report rows of the finished requests (bot/store/report_rows.py), as migration 15 writes them for the
    history before it (a store writes them as each request finishes)."""
    import aiosqlite

    from bot.store.report_rows import backfill_report_rows

    async with aiosqlite.connect(path) as db:

        async def fetch(sql: str, params: Any) -> list[Any]:
            return list(await db.execute_fetchall(sql, params))

        await backfill_report_rows(fetch, db.executemany)
        await db.commit()


def explain(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "EXPLAIN QUERY PLAN SELECT i.id FROM instances i WHERE i.id IN (SELECT e.instance_id FROM events e "
            "WHERE e.kind IN ('instance_started', 'instance_completed') AND e.at >= ? AND e.at < ? "
            "AND e.workflow IN (?)) AND i.workflow IN (?)",
            ((NOW - timedelta(days=30)).timestamp(), NOW.timestamp(), "workflow-01", "workflow-01"),
        ).fetchall()
    return [str(row[-1]) for row in rows]


class TimedStore:
    """The store, timing each transaction: how long a report holds the database."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self.longest = 0.0

    @property
    def outbox_lease(self) -> timedelta | None:
        return self._store.outbox_lease

    @property
    def writers_at_once(self) -> int:
        return self._store.writers_at_once

    async def open(self) -> None:
        await self._store.open()

    async def close(self) -> None:
        await self._store.close()

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[UnitOfWork]:
        began = time.perf_counter()
        async with self._store.transaction(read_only=read_only) as work:
            yield work
        self.longest = max(self.longest, time.perf_counter() - began)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UnitOfWork]:
        """A report's snapshot on its own connection: it holds no writer, but it is timed as one would be."""
        began = time.perf_counter()
        async with self._store.reading() as work:
            yield work
        self.longest = max(self.longest, time.perf_counter() - began)


async def timed(store: TimedStore, period: Period, workflows: list[str] | None, runs: int) -> tuple[float, KpiReport]:
    people = {f"U{n:04d}": Person(name=f"Person {n}", manager=f"UM{n // 8:03d}") for n in range(1000)}
    directory = OrgDirectory(OrgChart(people=people))  # 125 teams of 8
    seconds = []
    report = None
    for _ in range(runs):
        began = time.perf_counter()
        report = await build_report(store, period, now=NOW, workflows=workflows, directory=directory)
        seconds.append(time.perf_counter() - began)
    assert report is not None
    return statistics.median(seconds), report


ONE_WORKFLOW_CASES = [
    ("one workflow, 30 days", parse_period("30d", NOW), ["workflow-01"], 5),
    ("one workflow, 12 weeks", parse_period("12w", NOW), ["workflow-01"], 5),
    ("one workflow, whole year", parse_period("52w", NOW), ["workflow-01"], 3),
]


async def measure(path: Path, counts: dict[str, int], *, whole_year: bool = True) -> tuple[int, dict[str, float]]:
    store = TimedStore(SQLiteStore(path))
    await store.open()
    problems = 0
    timings: dict[str, float] = {}
    try:
        cases: list[tuple[str, Period, list[str] | None, int]] = list(ONE_WORKFLOW_CASES)
        if whole_year:
            cases.append(("all workflows, whole year", Period(NOW - YEAR, NOW, "the year"), None, 1))
        for label, period, workflows, runs in cases:
            store.longest = 0.0
            seconds, report = await timed(store, period, workflows, runs)
            timings[label] = seconds
            timings[f"{label} longest"] = store.longest
            total = report.total
            print(
                f"  {label:<28} {seconds * 1000:8.1f} ms, longest transaction {store.longest * 1000:5.0f} ms "
                f"(median of {runs}; started {total.started}, "
                f"completed {total.completed}, tasks {total.tasks}, cycle median "
                f"{(total.cycle_time.median or 0) / HOUR:.1f} h, p90 {(total.cycle_time.p90 or 0) / HOUR:.1f} h)"
            )
            if workflows is None and (total.started != counts["started"] or total.completed != counts["completed"]):
                print("  MISMATCH: the year's report does not count what was generated", file=sys.stderr)
                problems += 1
    finally:
        await store.close()
    return problems, timings


def expected(history: History) -> dict[str, int]:
    return {"started": sum(history.started.values()), "completed": sum(history.completed.values())}


def build(path: Path, workflows: int, events: int, *, reuse: bool = False, schema_of: Path = PROJECT) -> dict[str, int]:
    """Write the generated year into a fresh store at `path` (with the schema of the code in `schema_of`); what
    the year's report must count. With `reuse`, a database this script generated before with the same sizes (its
    counts beside it) is taken as it is."""
    counts_file = path.with_name(f"{path.name}.{workflows}-{events}.counts.json")
    if reuse and path.exists() and counts_file.exists():
        print(f"reusing {path} ({path.stat().st_size / 2**20:.0f} MiB), generated before", flush=True)
        counts: dict[str, int] = json.loads(counts_file.read_text())
        return counts
    counts_file.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    began = time.perf_counter()
    history = generate(workflows, events)
    if schema_of == PROJECT:
        asyncio.run(create_store(path))
    else:  # the other checkout's schema: older code refuses a database migrated further than it knows
        creator = [sys.executable, "-c", _CREATE, str(path)]
        # in that checkout: `python -c` finds modules in its working directory before PYTHONPATH
        subprocess.run(creator, env=os.environ | {"PYTHONPATH": str(schema_of)}, cwd=schema_of, check=True)
    fill(path, history, workflows)
    if schema_of == PROJECT:  # the rows written straight into the tables: their report rows as migration 15 writes
        asyncio.run(write_report_rows(path))
    print(
        f"generated {len(history.instances):,} requests, {len(history.tasks):,} tasks and "
        f"{len(history.events):,} events for {workflows} workflows over one year in "
        f"{time.perf_counter() - began:.1f} s ({path.stat().st_size / 2**20:.0f} MiB)",
        flush=True,
    )
    counts = expected(history) | {"events": len(history.events)}
    counts_file.write_text(json.dumps(counts))
    return counts


def repeat(args: argparse.Namespace, scratch: Path) -> int:
    """Time the reports `--repeats` times in fresh processes, on one generated database, alternating with the
    code in `--compare-with` (another checkout) if given; min / median / max of the runs."""
    path = args.db or scratch / "report-bench.db"
    trees = {"this code": PROJECT}
    if args.compare_with:
        trees = {str(args.compare_with): Path(args.compare_with).resolve(), **trees}
    counts = build(path, args.workflows, args.events, reuse=args.reuse, schema_of=next(iter(trees.values())))
    copies = {}  # each checkout times its own copy of the one generated year, migrated to its own schema
    for index, name in enumerate(trees):
        copies[name] = path.with_name(f"{path.stem}-{index}{path.suffix}")
        if not (args.reuse and copies[name].exists()):
            shutil.copyfile(path, copies[name])
        # migrated by its own code before any timing (migration 15 writes a year's report rows: not a report)
        migrate = [sys.executable, "-c", _CREATE, str(copies[name])]
        subprocess.run(migrate, env=os.environ | {"PYTHONPATH": str(trees[name])}, cwd=trees[name], check=True)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    failed = False
    for number in range(args.repeats):
        for name, tree in trees.items():
            out = scratch / f"run-{number}-{tree.name}.json"
            command = [sys.executable, __file__, "--measure", str(copies[name]), "--json", str(out)]
            command += ["--expect", json.dumps(counts)]
            done = subprocess.run(command, env=os.environ | {"PYTHONPATH": str(tree)}, capture_output=True, text=True)
            if done.returncode != 0 or not out.exists():
                failed = True
                print(f"run {number + 1} of {name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
                continue
            results[name].append(json.loads(out.read_text()))
            print(f"run {number + 1} ({name}):\n{done.stdout.rstrip()}", flush=True)
    print(f"\nmedian of each case's timings in a run, then min / median / max over {args.repeats} runs (ms):")
    for label in [case[0] for case in ONE_WORKFLOW_CASES] + ["all workflows, whole year"]:
        cells = [f"{name}: {spread([r[label] * 1000 for r in results[name] if label in r])}" for name in trees]
        print(f"  {label:<28}" + "    ".join(cells))
        cells = [
            f"{name}: {spread([r[label + ' longest'] * 1000 for r in results[name] if label in r])}" for name in trees
        ]
        print(f"  {'  longest transaction':<28}" + "    ".join(cells))
    return 1 if failed else 0


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return " / ".join(f"{v:.1f}" for v in (min(values), statistics.median(values), max(values)))


def measure_only(args: argparse.Namespace) -> int:
    """One repeated run: the indexed cases on an existing database, figures to --json."""
    counts = json.loads(args.expect)
    problems, timings = asyncio.run(measure(args.measure, counts))
    args.json.write_text(json.dumps(timings))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--db", type=Path, help="where to write the database (default: a temporary file)")
    parser.add_argument(
        "--reuse", action="store_true", help="with --db: take the database generated there before, if any"
    )
    parser.add_argument("--repeats", type=int, default=1, help="time the reports this many times, in fresh processes")
    parser.add_argument("--compare-with", type=Path, metavar="DIR", help="also time the code in DIR (another checkout)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # a repeated run: this database
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure_only(args)
    with tempfile.TemporaryDirectory() as scratch:
        if args.repeats > 1 or args.compare_with:
            return repeat(args, Path(scratch))
        path = args.db or Path(scratch) / "report-bench.db"
        counts = build(path, args.workflows, args.events)
        print("instance query plan: " + " | ".join(explain(path)))
        print("report timings (the store's sums in one snapshot, then the figures):")
        problems, indexed = asyncio.run(measure(path, counts))
        with sqlite3.connect(path) as db:
            db.execute("DROP INDEX events_by_workflow")
        print("the same one-workflow reports without the events_by_workflow index (every workflow's events read):")
        more, unindexed = asyncio.run(measure(path, counts, whole_year=False))
        problems += more
        for label, seconds in indexed.items():
            if label in unindexed:
                print(f"  {label:<28} {unindexed[label] / seconds:5.1f}x faster with the index")
        print(json.dumps({"events": counts["events"], "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
