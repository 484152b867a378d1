"""A large organisation: org load time and a serve process's memory, with P people and T open tasks.

Run: `.venv/bin/python bench/memory.py [--people 20000] [--tasks 100000] [--runs 3] [--scratch DIR]`.

1. Generate, in the scratch directory (kept, and reused by the next run with the same P and T): the shipped
   workflows with an org.yaml of the shipped people and groups plus P generated ones (teams of 10 under a
   manager, four time zones), written twice: as YAML (`yaml/`, as a person edits it) and as JSON (`json/`,
   as an HR sync would write it; JSON is YAML, and Baton reads it far faster); and a SQLite database with T
   open expense approvals, each started through Baton's own WorkflowService (one open task for the requester's
   manager). The approval DMs the starts queued are marked sent, so that the measured starts do not send
   T messages. Not timed; for T = 100,000 it takes minutes.
2. For each org form, `runs` times: start `python -m bot serve` as a real process against the Slack emulator
   (in this process) and that database (copied fresh each run), wait until /readyz answers 200 and 3 s more,
   then read the process's org load time (its start-up log line) and its RSS (VmRSS) and peak (VmHWM) from
   /proc. Print min / median / max of each. Figures are reported, never asserted; on a busy machine they are
   noisy (the load time is the process's wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from pathlib import Path

import aiohttp
import yaml

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from bot.catalog import load_catalog  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.emulator import SlackEmulator  # noqa: E402
from bot.service import Started, WorkflowService  # noqa: E402
from bot.store import store_for  # noqa: E402

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
BOT_TOKEN = "xoxb-bench-memory"
SIGNING_SECRET = "bench-memory-signing-secret"
LOADED = re.compile(r"loaded \d+ workflows and an org of (\d+) people in ([0-9.]+)s")


def person_id(index: int) -> str:
    return f"U9{index:08d}"


def write_workflows(target: Path, people: int, *, as_json: bool) -> None:
    """The shipped workflows, with the shipped org plus `people` generated people and their teams as groups."""
    if target.exists():
        return
    shutil.copytree(PROJECT / "workflows", target)
    org = yaml.safe_load((PROJECT / "workflows" / "org.yaml").read_text())
    for index in range(people):
        person = {"name": f"Person {index}", "email": f"person{index}@example.com", "tz": ZONES[index % len(ZONES)]}
        if index:
            person["manager"] = person_id((index - 1) // 10)
        org["people"][person_id(index)] = person
    for team in range(people // 10):
        org["groups"][f"team-{team}"] = [person_id(index) for index in range(team * 10, min(team * 10 + 10, people))]
    if as_json:
        text = json.dumps(org, indent=1, default=str)  # holidays are dates: JSON has them as ISO text
    else:
        text = yaml.safe_dump(org, sort_keys=False, allow_unicode=True)
    (target / "org.yaml").write_text(text)


async def write_database(path: Path, workflows: Path, people: int, tasks: int) -> None:
    """`tasks` open expense approvals by generated people (never the first, who has no manager)."""
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    store = store_for(f"sqlite:///{partial}", auto_migrate=True)
    await store.open()
    service = WorkflowService(store, load_catalog(workflows), admins=(), clock=SystemClock())
    started_at = time.monotonic()
    try:
        for number in range(tasks):
            requester = person_id(1 + number % (people - 1))
            form = {"amount": 10 + number % 900, "currency": "EUR", "reason": f"bench expense {number}"}
            started = await service.start("expense-approval", requester, form)  # type: ignore[arg-type]
            if not isinstance(started, Started):
                raise SystemExit(f"bench: could not start an expense approval: {started}")
            if number and number % 10_000 == 0:
                print(f"  {number} open tasks ({time.monotonic() - started_at:.0f}s)", flush=True)
    finally:
        await store.close()
    with sqlite3.connect(partial) as database:
        database.execute("UPDATE outbox SET status = 'sent', sent_at = created_at WHERE status = 'pending'")
    partial.rename(path)


def _status(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024  # MB (MiB)
    return fields


async def measure_once(slack: SlackEmulator, workflows: Path, database: Path, scratch: Path) -> tuple[float, int, int]:
    """One serve process: (org load seconds, RSS MiB, peak RSS MiB) once it is ready and has settled."""
    run_database = scratch / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run_database}{suffix}").unlink(missing_ok=True)
    shutil.copy(database, run_database)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    log_path = scratch / "serve.log"
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": f"sqlite:///{run_database}",
        "WORKFLOWS_DIR": str(workflows),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=PROJECT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: Baton did not become ready; log:\n{log_path.read_text()[-3000:]}")
                await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)
        status = _status(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    found = LOADED.search(log_path.read_text())
    if found is None:
        raise SystemExit(f"bench: no org load line in the log:\n{log_path.read_text()[-3000:]}")
    return float(found.group(2)), status["VmRSS"], status["VmHWM"]


def _spread(values: Sequence[float], unit: str) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} {unit}"


async def main_async(args: argparse.Namespace) -> int:
    scratch = Path(args.scratch or Path(tempfile.gettempdir()) / f"baton-bench-memory-{args.people}-{args.tasks}")
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"bench/memory.py: {args.people} people, {args.tasks} open tasks, {args.runs} runs; scratch {scratch}")
    forms = {"yaml": scratch / "yaml", "json": scratch / "json"}
    for name, directory in forms.items():
        write_workflows(directory, args.people, as_json=name == "json")
    database = scratch / "baton.db"
    if not database.exists():
        print(f"generating {args.tasks} open tasks (once; kept in {database})", flush=True)
    await write_database(database, forms["json"], args.people, args.tasks)
    slack = SlackEmulator(bot_token=BOT_TOKEN)
    await slack.start()
    try:
        print(f"{'org.yaml as':<12} {'org load (min / median / max)':<32} {'RSS':<28} {'peak RSS':<28}")
        for name, directory in forms.items():
            results = [await measure_once(slack, directory, database, scratch) for _ in range(args.runs)]
            load, rss, peak = zip(*results, strict=True)
            print(f"{name:<12} {_spread(load, 's'):<32} {_spread(rss, 'MiB'):<28} {_spread(peak, 'MiB'):<28}")
    finally:
        await slack.stop()
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", help="where the generated org and database are kept (default: the temp dir)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
