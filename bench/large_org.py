"""A large organisation: how long a serve process takes to load org.yaml, and its RSS once started, before and after.

Run: `.venv/bin/python bench/large_org.py [--people 20000] [--tasks 100000] [--runs 3] [--scratch DIR]
[--compare-with DIR]`.

1. Generate, in the scratch directory (kept, and reused by the next run with the same P and T; not timed):
   - `workflows/`: the shipped workflows and an org.yaml in YAML, as a person edits it, with the shipped people
     and groups plus P generated ones: teams of 10 under a manager (so five levels of managers for 20,000),
     each team a group, four time zones, names, emails and titles;
   - `baton.db`: a SQLite database with T open expense approvals by generated people, each started through
     Baton's own WorkflowService (one open task for the requester's manager, its assignee, events, reminder,
     escalation and deadline timers, the approval DM in the outbox). The DMs are then marked sent and the timers
     moved a year ahead, so that a start neither sends T messages nor fires T reminders before it is measured.
     For T = 100,000 this takes several minutes, once.
2. Three ways to start, each `runs` times in turn, each run a fresh `serve` process (this script's own `--serve`,
   which is `python -m bot serve` with the start's switches set before Baton is imported) against the Slack
   emulator (in this process) and a fresh copy of the database:
   - `before`: the org as Baton read it before this benchmark's change: pure-Python YAML (PyYAML's SafeLoader,
     as without libyaml), no compiled copy, no `gc.freeze()` (people as slotted records, which cannot be
     switched back);
   - `first start`: libyaml's parser, no compiled copy yet: the first start after org.yaml changed, which writes
     the copy (ORG_CACHE, deleted before each run);
   - `later starts`: the copy written by a start before, org.yaml unchanged (every start until org.yaml changes).
   With `--compare-with DIR` (another checkout, e.g. `git archive main | tar -x -C DIR`), the code in DIR is
   started as well, as it is (`DIR`) and with pure-Python YAML and no `gc.freeze()` (`DIR, before`), in turn with
   the others.
   Each run waits until /readyz answers 200 (no Slack request is made) and 3 s more, then reads the process's
   RSS and peak RSS (VmRSS, VmHWM) from /proc, its org load time from its start-up log line (`... an org of P
   people in S s`), and the wall time from spawning it to the first 200. min / median / max of each are printed.
   Figures are reported, never asserted; on a busy machine they are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

PROJECT = Path(__file__).resolve().parents[1]
CODE = Path(os.environ.get("BENCH_ORG_CODE", PROJECT))  # the code Baton runs from: this tree, or --compare-with's
sys.path.insert(0, str(CODE))

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
TITLES = ("Engineer", "Analyst", "Designer", "Accountant", "Support Specialist", "Team Lead")
TEAM = 10
BOT_TOKEN = "xoxb-bench-org"
SIGNING_SECRET = "bench-org-signing-secret"
YEAR = 365 * 86400.0
SETTLE_SECONDS = 3.0
LOADED = re.compile(r"loaded \d+ workflows and an org of (\d+) people in ([0-9.]+)s")

@dataclass(frozen=True)
class Start:
    """One way to start a serve process: a label, what it means, the code it runs and how it reads org.yaml."""

    label: str
    how: str
    code: Path
    way: str  # pure: pure-Python YAML, no copy, no gc.freeze; libyaml: no copy yet; copy: the copy of a start before


def starts(compare_with: Path | None) -> list[Start]:
    here = [
        Start("before", "pure-Python YAML, no copy, no gc.freeze", PROJECT, "pure"),
        Start("first start", "libyaml, no copy yet (writes it)", PROJECT, "libyaml"),
        Start("later starts", "libyaml's copy, org.yaml unchanged", PROJECT, "copy"),
    ]
    if compare_with is None:
        return here
    there = [
        Start("DIR, before", "pure-Python YAML, no gc.freeze", compare_with, "pure"),
        Start("DIR", "its own loading (libyaml when it has it)", compare_with, "libyaml"),
    ]
    return there + here


def person_id(index: int) -> str:
    return f"U9{index:08d}"


def write_workflows(target: Path, people: int) -> None:
    """The shipped workflows, with the shipped org plus `people` generated people, their managers and teams."""
    if target.exists():
        return
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(PROJECT / "workflows", partial)
    org = yaml.safe_load((PROJECT / "workflows" / "org.yaml").read_text())
    for index in range(people):
        person = {
            "name": f"Person {index}",
            "title": TITLES[index % len(TITLES)],
            "email": f"person{index}@example.com",
            "tz": ZONES[index % len(ZONES)],
        }
        if index:
            person["manager"] = person_id((index - 1) // TEAM)
        org["people"][person_id(index)] = person
    for team in range(people // TEAM):
        org["groups"][f"team-{team}"] = [person_id(i) for i in range(team * TEAM, min(team * TEAM + TEAM, people))]
    (partial / "org.yaml").write_text(yaml.safe_dump(org, sort_keys=False, allow_unicode=True))
    partial.rename(target)


async def write_database(path: Path, workflows: Path, people: int, tasks: int) -> None:
    """`tasks` open expense approvals by generated people (never the first, who has no manager)."""
    from bot.catalog import load_catalog
    from bot.clock import SystemClock
    from bot.service import Started, WorkflowService
    from bot.slack.outgoing import BlockKitRenderer
    from bot.store import store_for
    from bot.workspace import Workspace

    if path.exists():
        return
    partial = path.with_suffix(".partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    store = store_for(f"sqlite:///{partial}", auto_migrate=True)
    await store.open()
    workspace = Workspace(store, load_catalog(workflows), admins=(), clock=SystemClock())
    service = WorkflowService(workspace, renderer=BlockKitRenderer())
    started_at = time.monotonic()
    try:
        for number in range(tasks):
            requester = person_id(1 + number % (people - 1))
            form = {"amount": 10 + number % 900, "currency": "EUR", "reason": f"bench expense {number}"}
            started = await service.start("expense-approval", requester, form)  # type: ignore[arg-type]
            if not isinstance(started, Started):
                raise SystemExit(f"bench: could not start an expense approval: {started}")
            if number and number % 10_000 == 0:
                print(f"  {number} open tasks ({time.monotonic() - started_at:.0f} s)", flush=True)
    finally:
        await store.close()
    with sqlite3.connect(partial) as database:
        database.execute("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE status = 'pending'")
        database.execute("UPDATE timers SET due_at = due_at + ? WHERE status = 'pending'", (YEAR,))
        open_tasks = database.execute("SELECT count(*) FROM tasks WHERE status = 'open'").fetchone()[0]
    with sqlite3.connect(partial) as database:
        database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(f"  {open_tasks} open tasks in {time.monotonic() - started_at:.0f} s", flush=True)
    partial.rename(path)


@dataclass(frozen=True)
class Run:
    org_seconds: float
    ready_seconds: float
    rss_mib: float
    peak_mib: float


def _memory(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB to MiB
    return fields


def _free_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


async def measure_once(api_url: str, start: Start, workflows: Path, database: Path, scratch: Path) -> Run:
    """One fresh serve process, started the given way, measured once it is ready and has settled."""
    run_database = scratch / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run_database}{suffix}").unlink(missing_ok=True)
    shutil.copy(database, run_database)
    cache = scratch / "org-cache.json"
    if start.way != "copy":
        cache.unlink(missing_ok=True)
    port = _free_port()
    log_path = scratch / "serve.log"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": f"sqlite:///{run_database}",
        "WORKFLOWS_DIR": str(workflows),
        "ORG_CACHE": "off" if start.way == "pure" else str(cache),  # code before ORG_CACHE ignores it
        "BENCH_ORG_CODE": str(start.code),
        "LOG_LEVEL": "INFO",
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    spawned = time.monotonic()
    with log_path.open("wb") as log:
        command = [sys.executable, str(Path(__file__).resolve()), "--serve", start.way]
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=log)
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if process.poll() is not None or time.monotonic() > spawned + 300:
                    raise SystemExit(f"bench: Baton did not become ready; log:\n{log_path.read_text()[-3000:]}")
                await asyncio.sleep(0.05)
        ready = time.monotonic() - spawned
        await asyncio.sleep(SETTLE_SECONDS)
        memory = _memory(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    found = LOADED.search(log_path.read_text())
    if found is None:
        raise SystemExit(f"bench: no org load line in the log:\n{log_path.read_text()[-3000:]}")
    return Run(float(found.group(2)), ready, memory["VmRSS"], memory["VmHWM"])


def _spread(values: Sequence[float], unit: str, digits: int) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{low:.{digits}f} / {middle:.{digits}f} / {high:.{digits}f} {unit}"


async def main_async(args: argparse.Namespace) -> int:
    from bot.emulator import SlackEmulator

    scratch = Path(args.scratch or Path(tempfile.gettempdir()) / f"baton-bench-org-{args.people}-{args.tasks}")
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"bench/large_org.py: {args.people} people, {args.tasks} open tasks, {args.runs} runs; scratch {scratch}")
    workflows = scratch / "workflows"
    write_workflows(workflows, args.people)
    database = scratch / "baton.db"
    if not database.exists():
        print(f"generating {args.tasks} open tasks (once; kept in {database})", flush=True)
    await write_database(database, workflows, args.people, args.tasks)
    size = (workflows / "org.yaml").stat().st_size / 1e6
    print(f"org.yaml {size:.1f} MB; database {database.stat().st_size / 1e6:.0f} MB")
    slack = SlackEmulator(bot_token=BOT_TOKEN)
    await slack.start()
    compare_with = Path(args.compare_with).resolve() if args.compare_with else None
    if compare_with:
        print(f"DIR: {compare_with}")
    ways = starts(compare_with)
    results: dict[Start, list[Run]] = {start: [] for start in ways}
    try:
        for _ in range(args.runs):  # the ways in turn, so that a busy spell of the machine hits each alike
            for start in ways:
                results[start].append(await measure_once(slack.api_url, start, workflows, database, scratch))
    finally:
        await slack.stop()
    print(f"{'start':<13} {'how':<40} {'org load':<24} {'spawn to ready':<24} {'RSS':<28} {'peak RSS':<28}")
    for start, runs in results.items():
        org, ready = _spread([r.org_seconds for r in runs], "s", 2), _spread([r.ready_seconds for r in runs], "s", 2)
        rss, peak = _spread([r.rss_mib for r in runs], "MiB", 0), _spread([r.peak_mib for r in runs], "MiB", 0)
        print(f"{start.label:<13} {start.how:<40} {org:<24} {ready:<24} {rss:<28} {peak:<28}")
    print("(min / median / max; RSS once /readyz answered 200 and 3 s more, before any Slack request)")
    return 0


def serve(way: str) -> int:
    """`python -m bot serve`, started the given way (the switches are set before Baton starts)."""
    import gc

    import bot.catalog
    from bot.__main__ import main

    if way == "pure":
        bot.catalog._C_LOADER = None  # as PyYAML without libyaml: the pure-Python SafeLoader
        gc.freeze = lambda: None  # as before the composition root froze start-up's objects
    return main(["serve"])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", help="where the generated org and database are kept (default: the temp dir)")
    parser.add_argument(
        "--compare-with", metavar="DIR", help="also start the code in DIR (e.g. `git archive main | tar -x -C DIR`)"
    )
    parser.add_argument("--serve", choices=("pure", "libyaml", "copy"), help=argparse.SUPPRESS)  # one measured process
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args.serve)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
