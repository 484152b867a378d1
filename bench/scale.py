"""Approve-click throughput and ack latency: one Baton process on SQLite, one on PostgreSQL, three on PostgreSQL.

Run: `.venv/bin/python bench/scale.py [--workflows N] [--concurrency C]` (PostgreSQL from BATON_BENCH_POSTGRES,
default postgresql://postgres@127.0.0.1:5432/postgres; a database is created for the run and dropped after).

For each configuration, in one run:
1. start the Slack emulator (in this process) and K real `python -m bot serve` processes on one database
   (SQLite: a temporary file, K=1; PostgreSQL: a fresh database, migrated with `python -m bot migrate`);
2. open N approvals through `/workflow start` and the start modal, spread round-robin over the processes:
   N requesters in teams of 5 under their own manager (bench/load.py), so that no manager's DMs, nor the edits
   of them after the clicks, wait for the outbox's per-conversation pacing (burst 5); wait for every approval
   DM, an empty outbox (/healthz) and 5 s more (the conversation buckets fill up again). Not timed;
3. pre-build and pre-sign one Approve click per approval DM, then fire them from a separate load process,
   round-robin over the processes, C requests in flight, timing each ack (from sending the request to reading
   the whole answer). Meanwhile this process polls a database connection of its own (sqlite3 in autocommit,
   or asyncpg) every 5 ms for the number of `task_approved` events and takes the moment each new one became
   visible: committed decisions/s = N / (moment the N-th became visible - first click). Not `events.at`,
   which Baton stamps before it waits for the store and so overstated the rate;
4. print one table, with ratios against one process on SQLite. Timings are reported, never asserted.

Baton runs with its shipped pacing (SLACK_TIER_PACING on): the edits of the DMs go out at chat.update's tier
(50 a minute) after the burst, so, unlike bench/ack.py, the outbox does little during the burst.

The machine's cores are shared by the load generator, the emulator and the commit watch (in this process), the
Baton processes and PostgreSQL (and, on this project's machines, other people's work): figures are noisy, and
three processes compete for the same cores, as the table shows.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import platform
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

import asyncpg
from load import (  # bench/load.py: what this script shares with bench/ack.py
    BOT_TOKEN,
    SIGNING_SECRET,
    BenchError,
    DecisionCounter,
    ServerProcess,
    baton_process,
    clicks,
    fire,
    max_ms,
    open_approvals,
    percentile_ms,
    ratio,
    ready,
    seed_emulator,
    wait_for_approval_dms,
    wait_for_quiet_outbox,
    warmups,
    watch_commits,
    write_workflows,
)

from bot.emulator import SlackDriver, SlackEmulator
from bot.pacing import CONVERSATION_LIMIT

PROJECT = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get("BATON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# How long an emptied conversation bucket of Baton's outbox takes to fill up again (5 tokens at 1 a second).
REFILL_SECONDS = CONVERSATION_LIMIT.burst / CONVERSATION_LIMIT.per_second


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
    committed: int = 0  # decisions a fresh database connection saw
    committed_after: float = math.nan  # seconds from the first click until the last of them was visible
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
    def committed_per_second(self) -> float:
        return self.committed / self.committed_after if self.committed and self.committed_after > 0 else math.nan


# --------------------------------------------------------------------------------------------------------
# Helpers


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
    if database == "sqlite":
        database_url = f"sqlite:///{directory / 'baton.db'}"
    else:
        database_url = await create_postgres_database()
        migrated = subprocess.run([sys.executable, "-m", "bot", "migrate"], cwd=PROJECT, capture_output=True,
                                  text=True, env={**os.environ, "DATABASE_URL": database_url}, timeout=60)
        if migrated.returncode != 0:
            raise BenchError(f"migrate failed: {migrated.stderr}")
    emulator = SlackEmulator(bot_token=BOT_TOKEN)
    seed_emulator(emulator, pairs)
    await emulator.start()
    fleet: list[ServerProcess] = []
    drivers: list[SlackDriver] = []
    counter: DecisionCounter | None = None
    try:
        for number in range(processes):
            fleet.append(
                baton_process(emulator, database_url, directory / "workflows", directory / f"baton-{number}.log")
            )
            await fleet[-1].start()
        urls = [process.url for process in fleet]
        drivers = [SlackDriver(url, SIGNING_SECRET, emulator, timeout=30) for url in urls]
        setup_started = time.monotonic()
        await open_approvals(drivers, emulator, pairs)
        messages = await wait_for_approval_dms(emulator, pairs, timeout=120)
        await wait_for_quiet_outbox(fleet, timeout=120)
        setup_seconds = time.monotonic() - setup_started
        await asyncio.sleep(REFILL_SECONDS)  # the managers' conversation buckets fill up again before the clock
        shots = clicks(emulator, messages, urls)
        counter = await DecisionCounter.open(database_url)
        burst = asyncio.get_running_loop().run_in_executor(
            pool, fire, shots, warmups(urls, args.concurrency), args.concurrency, args.time_limit
        )
        seen = await watch_commits(counter, len(shots), burst, poll=args.poll)
        result = Result(name=name, processes=processes, concurrency=args.concurrency, **await burst)
        result.setup_seconds = setup_seconds
        result.committed = len(seen)
        if seen:
            result.committed_after = max(seen) - result.started_mono
        return result
    finally:
        if counter is not None:
            await counter.close()
        for driver in drivers:
            await driver.aclose()
        for process in fleet:
            await process.stop()
        await emulator.stop()
        if database != "sqlite":
            await drop_postgres_database(database_url)


def report(results: list[Result]) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"Python {platform.python_version()}, CPUs: {cpus} (usable: {usable}), load average now: {load}")
    print(f"{len(results[0].statuses)} Approve clicks per configuration, {results[0].concurrency} in flight, "
          "round-robin over the processes")
    print()
    header = (f"{'configuration':<16}{'clicks/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'non-200':>8}"
              f"{'committed/s':>12}{'all in (s)':>11}{'x committed/s':>15}{'x p99':>7}")
    print(header)
    print("-" * len(header))
    base = results[0]
    for result in results:
        print(
            f"{result.name:<16}{result.throughput:>9.0f}{result.percentile_ms(50):>8.1f}"
            f"{result.percentile_ms(99):>8.1f}{result.max_ms:>8.1f}{result.not_200:>8}"
            f"{result.committed_per_second:>12.0f}{result.committed_after:>11.2f}"
            f"{ratio(result.committed_per_second, base.committed_per_second):>15}"
            f"{ratio(result.percentile_ms(99), base.percentile_ms(99)):>7}"
        )
    print("-" * len(header))
    print("committed/s: decisions visible to a fresh database connection / seconds from the first click to the last")
    print(f"one (all in); ratios are against {base.name}")
    for result in results:
        if result.committed < len(result.statuses):
            print(f"{result.name}: only {result.committed} of {len(result.statuses)} decisions became visible")
        for error in result.errors[:3]:
            print(f"{result.name}: {error}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=300, help="open approvals to click (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--poll", type=float, default=0.005, help="seconds between commit polls (default 0.005)")
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
