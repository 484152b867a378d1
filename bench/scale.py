"""Approve-click throughput and ack latency: one Baton process on SQLite, one on PostgreSQL, three on PostgreSQL.

Run: `.venv/bin/python bench/scale.py [--workflows N] [--concurrency C]` (PostgreSQL from BATON_BENCH_POSTGRES,
default postgresql://postgres@127.0.0.1:5432/postgres; a database is created for the run and dropped after).

For each configuration, in one run:
1. start the Slack emulator and K real `python -m bot serve` processes on one database (SQLite: a temporary
   file, K=1; PostgreSQL: a fresh database, migrated with `python -m bot migrate`);
2. open N approvals through `/workflow start` and the start modal, spread round-robin over the processes:
   N requesters in teams of 5, so that no manager's DMs wait for the outbox's pacing (burst 5);
3. pre-build and pre-sign one Approve click per approval DM, then fire them from a separate load process,
   round-robin over the processes, C requests in flight, timing each ack; then wait until every decision is
   in the event log;
4. print one table, with ratios against one process on SQLite. Timings are reported, never asserted.

The machine's cores are shared by the load generator, the emulator (in this process), the Baton processes and
PostgreSQL: on a small machine, three processes compete for the same cores, and the table shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import yaml
from load import (  # bench/load.py: what this script shares with bench/ack.py
    APPROVE,
    JSON,
    SIGNING_SECRET,
    BenchError,
    Shot,
    approve_click,
    fire,
    max_ms,
    percentile_ms,
    ratio,
    ready,
    signed,
    wait_until,
)

from bot.emulator import Message, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import (
    plain_text_value,
    url_verification,
)

PROJECT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "xoxb-bench-token"
ADMIN = "U0ADMIN"
POSTGRES = os.environ.get("BATON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
TEAM_SIZE = 5
WORKFLOW = """
name: purchase
title: Purchase
form:
  - {id: item, label: Item}
steps:
  - id: approval
    type: approval
    title: Approve {form.item}
    assignee: requester.manager
"""



# --------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """What one configuration measured."""

    name: str
    processes: int
    concurrency: int
    latencies: list[float]
    statuses: list[int]
    errors: list[str]
    elapsed: float
    started_wall: float
    started_mono: float = math.nan
    decided_after: float = math.nan  # seconds from the first click to the last decision in the event log
    decided: int = 0
    setup_seconds: float = math.nan

    @property
    def throughput(self) -> float:
        return len(self.statuses) / self.elapsed if self.elapsed > 0 else math.nan

    def percentile_ms(self, q: int) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def max_ms(self) -> float:
        return max_ms(self.latencies)

    @property
    def not_200(self) -> int:
        return sum(1 for status in self.statuses if status != 200)

    @property
    def decisions_per_second(self) -> float:
        return self.decided / self.decided_after if self.decided and self.decided_after > 0 else math.nan


# --------------------------------------------------------------------------------------------------------
# Helpers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_workflows(directory: Path, workflows: int) -> list[tuple[str, str]]:
    """The bench's workflow and an org of teams of five; return (requester, manager) pairs."""
    directory.mkdir()
    (directory / "purchase.yaml").write_text(WORKFLOW)
    people: dict[str, dict[str, str]] = {}
    pairs = []
    for number in range(workflows):
        manager = f"U0M{number // TEAM_SIZE:04d}"
        requester = f"U0E{number:05d}"
        people.setdefault(manager, {"name": f"Manager {number // TEAM_SIZE}", "tz": "UTC"})
        people[requester] = {"name": f"Employee {number}", "manager": manager, "tz": "UTC"}
        pairs.append((requester, manager))
    (directory / "org.yaml").write_text(yaml.safe_dump({"people": people}))
    return pairs


class Fleet:
    """K `python -m bot serve` processes on one database."""

    def __init__(self, count: int, database_url: str, emulator: SlackEmulator, workflows: Path, logs: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{port}/slack/events" for port in self.ports]
        self._env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": emulator.api_url,
            "DATABASE_URL": database_url,
            "WORKFLOWS_DIR": str(workflows),
            "BATON_ADMINS": ADMIN,
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
        self._logs = logs
        self._processes: list[subprocess.Popen[bytes]] = []

    async def start(self) -> None:
        for index, port in enumerate(self.ports):
            with (self._logs / f"baton-{port}.log").open("ab") as log:
                self._processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot", "serve"],
                        cwd=PROJECT,
                        env={**self._env, "PORT": str(port)},
                        stdout=log,
                        stderr=log,
                    )
                )
            await self._healthy(index, port)

    async def _healthy(self, index: int, port: int) -> None:
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._processes[index].poll() is not None:
                    break
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        log = (self._logs / f"baton-{port}.log").read_text()[-2000:]
        raise BenchError(f"Baton on port {port} did not start:\n{log}")

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


async def open_approvals(drivers: Sequence[SlackDriver], emulator: SlackEmulator, pairs: list[tuple[str, str]]) -> None:
    """Start one approval per requester (command, then the modal), round-robin over the processes."""
    limit = asyncio.Semaphore(16)

    async def one(number: int, requester: str, manager: str) -> None:
        async with limit:
            driver = drivers[number % len(drivers)]
            reply = await driver.send_command(requester, "start purchase", channel_id=f"C{manager[1:]}")
            if reply.status != 200:
                raise BenchError(f"/workflow start answered {reply.status}: {reply.body[:200]}")
            view = await wait_until(lambda: (emulator.open_views(requester) or [None])[-1], 30, "the start form")
            submitted = await drivers[(number + 1) % len(drivers)].submit_view(
                requester, view, {"field:item": {"value": plain_text_value(f"thing {number}")}}
            )
            if submitted.status != 200 or '"errors"' in submitted.body:
                raise BenchError(f"form submission answered {submitted.status}: {submitted.body[:300]}")

    await asyncio.gather(*(one(n, requester, manager) for n, (requester, manager) in enumerate(pairs)))


def approval_dms(emulator: SlackEmulator, managers: set[str]) -> list[tuple[str, Message]]:
    """Each approval DM with the manager it went to."""
    return [
        (manager, m) for manager in sorted(managers) for m in emulator.dm_messages(manager)
        if find_action(m.blocks, APPROVE)
    ]


def clicks(emulator: SlackEmulator, messages: Sequence[tuple[str, Message]], urls: Sequence[str]) -> list[Shot]:
    """One signed Approve click per approval DM, by the manager it went to, round-robin over the processes."""
    timestamp = int(time.time())
    return [
        approve_click(emulator, manager, message, urls[index % len(urls)], timestamp)
        for index, (manager, message) in enumerate(messages)
    ]


def warmups(urls: Sequence[str], per_url: int) -> list[Shot]:
    timestamp = int(time.time())
    return [
        signed(url, json.dumps(url_verification(f"warm-{number}")), JSON, timestamp)
        for url in urls
        for number in range(per_url)
    ]


async def decision_times(database_url: str) -> list[float]:
    """When each `task_approved` was written (epoch seconds)."""
    sql = "SELECT at FROM events WHERE kind = 'task_approved'"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return [row[0] for row in db.execute(sql)]
    connection = await asyncpg.connect(database_url)
    try:
        return [row[0] for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def create_postgres_database() -> str:
    admin = await asyncpg.connect(POSTGRES, timeout=5)
    name = f"baton_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{name}"))


async def drop_postgres_database(url: str) -> None:
    admin = await asyncpg.connect(POSTGRES, timeout=5)
    await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')
    await admin.close()


# --------------------------------------------------------------------------------------------------------
# The benchmark


async def measure(
    name: str, processes: int, database: str, args: argparse.Namespace, pool: ProcessPoolExecutor, scratch: Path
) -> Result:
    directory = scratch / name.replace(" ", "-").replace("×", "x")
    directory.mkdir()
    pairs = write_workflows(directory / "workflows", args.workflows)
    managers = {manager for _requester, manager in pairs}
    if database == "sqlite":
        database_url = f"sqlite:///{directory / 'baton.db'}"
    else:
        database_url = await create_postgres_database()
        migrated = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=PROJECT, capture_output=True,
                                  text=True, env={**os.environ, "DATABASE_URL": database_url}, timeout=60)
        if migrated.returncode != 0:
            raise BenchError(f"migrate failed: {migrated.stderr}")
    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    for requester, manager in pairs:
        emulator.add_user(requester, name=requester.lower(), tz="UTC")
        if emulator.user(manager) is None:
            emulator.add_user(manager, name=manager.lower(), tz="UTC")
            emulator.add_channel(f"C{manager[1:]}", f"team-{manager.lower()}")
    emulator.add_user(ADMIN, name="admin")
    await emulator.start()
    fleet = Fleet(processes, database_url, emulator, directory / "workflows", directory)
    drivers = [SlackDriver(url, SIGNING_SECRET, emulator, timeout=30) for url in fleet.urls]
    try:
        await fleet.start()
        setup_started = time.monotonic()
        await open_approvals(drivers, emulator, pairs)
        messages = await wait_until(
            lambda: (found if len(found := approval_dms(emulator, managers)) >= len(pairs) else None),
            120,
            f"{len(pairs)} approval DMs",
            poll=0.1,
        )
        setup_seconds = time.monotonic() - setup_started
        await asyncio.sleep(1.0)  # let the outbox settle before the clock starts
        shots = clicks(emulator, messages, fleet.urls)
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(
            pool, fire, shots, warmups(fleet.urls, args.concurrency), args.concurrency, args.time_limit
        )
        result = Result(name=name, processes=processes, concurrency=args.concurrency, **raw)
        result.setup_seconds = setup_seconds
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            times = await decision_times(database_url)
            if len(times) >= len(pairs):
                break
            await asyncio.sleep(0.1)
        result.decided = len(times)
        if times:
            result.decided_after = max(times) - result.started_wall
        return result
    finally:
        for driver in drivers:
            await driver.aclose()
        fleet.stop()
        await emulator.stop()
        if database != "sqlite":
            await drop_postgres_database(database_url)


def report(results: list[Result]) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(f"Python {platform.python_version()}, CPUs: {cpus} (usable: {usable}); {len(results[0].statuses)} "
          f"Approve clicks per configuration, {results[0].concurrency} in flight, round-robin over the processes")
    print()
    header = (f"{'configuration':<18}{'clicks/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-200':>9}"
              f"{'decided/s':>11}{'x clicks/s':>12}{'x p99':>8}")
    print(header)
    print("-" * len(header))
    base = results[0]
    for result in results:
        print(
            f"{result.name:<18}{result.throughput:>9.0f}{result.percentile_ms(50):>9.1f}"
            f"{result.percentile_ms(99):>9.1f}{result.max_ms:>9.1f}{result.not_200:>9}"
            f"{result.decisions_per_second:>11.0f}{ratio(result.throughput, base.throughput):>12}"
            f"{ratio(result.percentile_ms(99), base.percentile_ms(99)):>8}"
        )
    print("-" * len(header))
    print(f"ratios are against {base.name}; decided/s: decisions in the event log per second from the first click")
    for result in results:
        if result.decided < len(result.statuses):
            print(f"{result.name}: only {result.decided} of {len(result.statuses)} decisions were recorded")
        for error in result.errors[:3]:
            print(f"{result.name}: {error}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=300, help="open approvals to click (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="give up a burst after this many seconds")
    args = parser.parse_args(argv)
    if args.workflows < 1 or args.concurrency < 1:
        parser.error("--workflows and --concurrency must be at least 1")
    return args


async def main_async(args: argparse.Namespace) -> int:
    context = multiprocessing.get_context("spawn")  # never fork a process with a running loop and threads
    configurations = [
        ("1 × SQLite", 1, "sqlite"),
        ("1 × PostgreSQL", 1, "postgresql"),
        ("3 × PostgreSQL", 3, "postgresql"),
    ]
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool, tempfile.TemporaryDirectory(
        prefix="baton-scale-"
    ) as scratch:
        await asyncio.get_running_loop().run_in_executor(pool, ready)
        results = []
        try:
            for name, processes, database in configurations:
                results.append(await measure(name, processes, database, args, pool, Path(scratch)))
        except (BenchError, OSError, asyncpg.PostgresError) as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
    report(results)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
