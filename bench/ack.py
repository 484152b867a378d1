"""How many Approve clicks per second does Baton commit, next to a bare Bolt app that only acks them?

Run: `.venv/bin/python bench/ack.py [--workflows N] [--concurrency C] [--rounds R]` (defaults 300, 32, 3)

Baton answers Slack only after the decision is committed (Bolt's `process_before_response`), so a 200 is a
promise. This script measures what that promise costs, with four processes on one machine:

- Baton, a real `python -m bot serve` on a temporary SQLite file (the environment tests/processes.py gives it);
- the bare Bolt app, bench/bare_bolt.py: one `task_approve` listener that only acks, with Baton's Bolt options
  (`process_before_response=True`), served through aiohttp the way Baton serves Bolt;
- the load generator, a spawned child process (bench/load.py `fire`), C requests in flight;
- this process: the Slack emulator (bot/emulator), which answers Baton's Web API calls, and the commit watch.

Steps:
1. Write a generated org.yaml (R×N requesters in teams of five, one manager each) and a one-step workflow in
   which the requester's manager approves; open R×N approvals through `/workflow start` and the start modal,
   and wait for every approval DM and an empty outbox. Not timed.
2. R rounds, interleaved: bare Bolt, Baton, bare Bolt, Baton... Each round takes N approval DMs not clicked
   before and signs one Approve click per DM, just before the round (Slack signatures go stale after 5
   minutes). The bare Bolt run gets exactly those bodies and signatures, then Baton does.
3. For each run: the ack latency of every click (from sending the request to reading the whole answer).
   For Baton, also **committed decisions**: while the burst runs, this process polls its own SQLite connection
   (autocommit, every 5 ms) for the number of `task_approved` events, and takes the moment each new one
   became visible. Committed decisions/s = N / (moment the N-th became visible - first click). Then the end
   to end figure: the moment the last of the N approval DMs was edited in Slack (the emulator's `chat.update`).
   A check of the promise: the last decision must be seen at most about one poll after the last answer.
   Before the next round: every DM edited and Baton's outbox empty (/healthz).
4. Print each round, then min / median / max over the rounds for each figure, and the ratio Baton committed
   decisions/s ÷ bare Bolt acks/s (per round pair, and of the medians). The goal of issue 11 (at 32 in
   flight: ratio at least 0.7, Baton's ack p99 under 50 ms) is printed beside the figures, never asserted.

Pacing. Baton's outbox sends at most about one message a second into one conversation (burst 5). Rather than
lift that, the org has one manager per five requesters, so every manager gets five approval DMs and, after
the clicks, five edits: each within one burst, and the rounds use different managers. The Web API method-tier
pacing (chat.update is tier 3, 50 a minute) is turned off with SLACK_TIER_PACING=false, or the end-to-end
figure would measure that pacing (300 edits: six minutes). With it off, Baton's outbox delivers the edits
during the burst, competing with the commits for the CPU: the committed figure includes that work.

The machine's cores are shared by all four processes (and, on this project's machines, other people's work):
figures are noisy, and the emulator's work for Baton's calls (done by Slack, elsewhere, in production) is on
the same cores. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from load import (  # bench/load.py: what this script shares with bench/scale.py
    BOT_TOKEN,
    SIGNING_SECRET,
    TEAM_SIZE,
    BenchError,
    DecisionCounter,
    ServerProcess,
    Shot,
    aimed_at,
    bare_bolt_process,
    baton_process,
    clicks,
    fire,
    max_ms,
    open_approvals,
    percentile_ms,
    ready,
    seed_emulator,
    wait_for_approval_dms,
    wait_for_quiet_outbox,
    wait_until,
    warmups,
    watch_commits,
    write_workflows,
)

from bot.emulator import RecordedCall, SlackDriver, SlackEmulator
from bot.pacing import CONVERSATION_LIMIT

# How long an emptied conversation bucket of Baton's outbox takes to fill up again (5 tokens at 1 a second).
REFILL_SECONDS = CONVERSATION_LIMIT.burst / CONVERSATION_LIMIT.per_second
GOAL_RATIO = 0.7  # issue 11: committed decisions/s at 32 in flight >= 0.7 x bare Bolt acks/s
GOAL_P99_MS = 50.0  # issue 11: Baton's ack p99


# --------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Run:
    """What one burst of clicks at one server measured."""

    server: str
    latencies: list[float]
    statuses: list[int]
    errors: list[str]
    elapsed: float
    started_wall: float
    started_mono: float
    committed: int = 0
    committed_after: float = math.nan  # seconds from the first click until the last decision was visible
    edited: int = 0
    edited_after: float = math.nan  # seconds from the first click until the last approval DM was edited
    cpu_to_answer: float = math.nan  # the server's CPU seconds from before the burst to its last answer
    cpu_to_quiet: float = math.nan  # ... to an empty outbox (Baton: every DM sent and edited)

    @property
    def cpu_ms_per_click(self) -> float:
        return self.cpu_to_answer * 1000 / self.requests if self.requests else math.nan

    @property
    def cpu_ms_per_click_all(self) -> float:
        return self.cpu_to_quiet * 1000 / self.requests if self.requests else math.nan

    @property
    def requests(self) -> int:
        return len(self.statuses)

    @property
    def acks_per_second(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else math.nan

    @property
    def committed_per_second(self) -> float:
        return self.committed / self.committed_after if self.committed and self.committed_after > 0 else math.nan

    @property
    def visible_after_last_ack_ms(self) -> float:
        """From the last answer to the moment the last decision was seen: at most about one poll, when every
        answer waited for its commit."""
        return (self.committed_after - self.elapsed) * 1000

    @property
    def edits_per_second(self) -> float:
        return self.edited / self.edited_after if self.edited and self.edited_after > 0 else math.nan

    @property
    def not_200(self) -> int:
        return sum(1 for status in self.statuses if status != 200)

    def p(self, q: int) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def max_ms(self) -> float:
        return max_ms(self.latencies)


@dataclass
class Outcome:
    bolt: list[Run] = field(default_factory=list)
    baton: list[Run] = field(default_factory=list)
    setup_seconds: float = math.nan
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------
# The benchmark


class Benchmark:
    """The processes, the emulator and the opened approvals of one run."""

    def __init__(self, args: argparse.Namespace, pool: ProcessPoolExecutor, scratch: Path) -> None:
        self.args = args
        self.pool = pool
        self.scratch = scratch
        self.outcome = Outcome()
        self.emulator = SlackEmulator(bot_token=BOT_TOKEN)
        self.database_url = f"sqlite:///{scratch / 'baton.db'}"
        self.baton: ServerProcess | None = None
        self.bolt: ServerProcess | None = None

    async def run(self, deadline: float) -> Outcome:
        args, emulator = self.args, self.emulator
        n, rounds = args.workflows, args.rounds
        pairs = write_workflows(self.scratch / "workflows", n * rounds)
        seed_emulator(emulator, pairs)
        await emulator.start()
        counter: DecisionCounter | None = None
        try:
            self.baton = baton_process(
                emulator, self.database_url, self.scratch / "workflows", self.scratch / "baton.log",
                slack_tier_pacing="false",
            )
            self.bolt = bare_bolt_process(emulator, self.scratch / "bare-bolt.log")
            await self.baton.start()
            await self.bolt.start()

            setup_started = time.monotonic()
            async with SlackDriver(self.baton.url, SIGNING_SECRET, emulator, timeout=30) as driver:
                await open_approvals([driver], emulator, pairs)
            per_round = [pairs[k * n : (k + 1) * n] for k in range(rounds)]
            for chunk in per_round:
                await wait_for_approval_dms(emulator, chunk, timeout=max(1.0, deadline - time.monotonic()))
            await wait_for_quiet_outbox([self.baton], timeout=60)
            self.outcome.setup_seconds = time.monotonic() - setup_started
            await asyncio.sleep(REFILL_SECONDS)  # the managers' conversation buckets fill up again: edits not paced

            counter = await DecisionCounter.open(self.database_url)
            for chunk in per_round:
                messages = await wait_for_approval_dms(emulator, chunk, timeout=10)
                shots = clicks(emulator, messages, [self.baton.url])
                self.outcome.bolt.append(await self.bolt_round(shots, deadline))
                self.outcome.baton.append(await self.baton_round(shots, {m.ts for _, m in messages}, counter, deadline))
            return self.outcome
        finally:
            if counter is not None:
                await counter.close()
            await self.stop()

    async def bolt_round(self, shots: list[Shot], deadline: float) -> Run:
        assert self.bolt is not None
        to_bolt = aimed_at(shots, self.bolt.url)
        # The extra warm-up click: the bare app's first click does its one-time auth.test (Baton's did at setup).
        warm = [*warmups([self.bolt.url], self.args.concurrency), to_bolt[0]]
        cpu = self.bolt.cpu_seconds()
        raw = await asyncio.get_running_loop().run_in_executor(
            self.pool, fire, to_bolt, warm, self.args.concurrency, max(1.0, deadline - time.monotonic())
        )
        run = Run(server="bare Bolt", **raw)
        run.cpu_to_answer = run.cpu_to_quiet = self.bolt.cpu_seconds() - cpu
        return run

    async def baton_round(self, shots: list[Shot], targets: set[str], counter: DecisionCounter, deadline: float) -> Run:
        assert self.baton is not None
        n = len(shots)
        edited_at: dict[str, float] = {}

        async def on_call(call: RecordedCall) -> None:
            if call.method == "chat.update" and call.ok:
                ts = str(call.args.get("ts"))
                if ts in targets and ts not in edited_at:
                    edited_at[ts] = time.monotonic()

        unsubscribe: Callable[[], None] = self.emulator.on_call(on_call)
        try:
            cpu = self.baton.cpu_seconds()
            burst = asyncio.get_running_loop().run_in_executor(
                self.pool,
                fire,
                shots,
                warmups([self.baton.url], self.args.concurrency),
                self.args.concurrency,
                max(1.0, deadline - time.monotonic()),
            )
            seen = await watch_commits(counter, n, burst, poll=self.args.poll)
            run = Run(server="Baton", **await burst)
            run.cpu_to_answer = self.baton.cpu_seconds() - cpu
            run.committed = len(seen)
            if seen:
                run.committed_after = max(seen) - run.started_mono
            try:
                await wait_until(lambda: len(edited_at) >= n, min(60.0, max(1.0, deadline - time.monotonic())), "")
            except BenchError:
                self.outcome.notes.append(f"only {len(edited_at)} of {n} approval DMs were edited within 60 s")
            run.edited = len(edited_at)
            if edited_at:
                run.edited_after = max(edited_at.values()) - run.started_mono
            await wait_for_quiet_outbox([self.baton], timeout=60)
            run.cpu_to_quiet = self.baton.cpu_seconds() - cpu
            return run
        finally:
            unsubscribe()

    async def stop(self) -> None:
        for process in (self.bolt, self.baton):
            if process is not None:
                status = await process.stop()
                if status not in (0, None):
                    self.outcome.notes.append(f"{process.name} exited with status {status} after SIGTERM")
        await self.emulator.stop()
        refusals = sum(len(self.emulator.ephemerals(user.id)) for user in self.emulator.users)
        if refusals:
            self.outcome.notes.append(f"{refusals} ephemeral notes were sent (refused or failed clicks?)")
        for name in ("baton.log", "bare-bolt.log"):
            path = self.scratch / name
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            # Bolt's start-up notice that SLACK_BOT_TOKEN is unused (the client carries it) is not news.
            lines = [line for line in lines if "`token` will be unused" not in line]
            if lines:
                self.outcome.notes.append(f"{name}: {len(lines)} lines at WARNING or above; first: {lines[0][:200]}")


# --------------------------------------------------------------------------------------------------------
# Report


def spread(values: Sequence[float], fmt: str) -> str:
    """min / median / max of the rounds' values."""
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "n/a"
    return " / ".join(format(v, fmt) for v in (min(clean), statistics.median(clean), max(clean)))


def latency_spread(runs: Sequence[Run]) -> str:
    return " | ".join(
        (spread([r.p(50) for r in runs], ".1f"), spread([r.p(99) for r in runs], ".1f"),
         spread([r.max_ms for r in runs], ".1f"))
    )


def report(outcome: Outcome, args: argparse.Namespace) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"Python {platform.python_version()}, CPUs: {cpus} (usable: {usable}), load average now: {load}")
    print(
        f"aiohttp {version('aiohttp')}, slack_bolt {version('slack_bolt')}, slack_sdk {version('slack_sdk')}; "
        f"{args.rounds} rounds of {args.workflows} Approve clicks, {args.concurrency} in flight; "
        f"setup of {args.rounds * args.workflows} approvals took {outcome.setup_seconds:.1f}s"
    )
    print()
    header = (
        f"{'round':<6}{'server':<11}{'acks/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'non-200':>8}"
        f"{'committed/s':>13}{'all in (s)':>11}{'edited (s)':>11}"
    )
    print(header)
    print("-" * len(header))
    for number, (bolt_run, baton_run) in enumerate(zip(outcome.bolt, outcome.baton, strict=False), start=1):
        for run in (bolt_run, baton_run):
            is_baton = run is baton_run
            print(
                f"{number:<6}{run.server:<11}{run.acks_per_second:>8.0f}{run.p(50):>8.1f}{run.p(99):>8.1f}"
                f"{run.max_ms:>8.1f}{run.not_200:>8}"
                + (
                    f"{run.committed_per_second:>13.0f}{run.committed_after:>11.2f}{run.edited_after:>11.2f}"
                    if is_baton
                    else ""
                )
            )
    print("-" * len(header))
    print("committed/s: decisions visible to a fresh connection / seconds from the first click to the last one;")
    print("all in: that time; edited: seconds from the first click until every approval DM was edited in Slack")
    print()
    bolt, baton = outcome.bolt, outcome.baton
    pairs = [b.committed_per_second / a.acks_per_second for a, b in zip(bolt, baton, strict=False)]
    rows = [
        ("bare Bolt acks/s", spread([r.acks_per_second for r in bolt], ".0f")),
        ("bare Bolt ack p50 | p99 | max, ms", latency_spread(bolt)),
        ("Baton acks/s", spread([r.acks_per_second for r in baton], ".0f")),
        ("Baton ack p50 | p99 | max, ms", latency_spread(baton)),
        ("Baton committed decisions/s", spread([r.committed_per_second for r in baton], ".0f")),
        ("last decision seen after last ack, ms", spread([r.visible_after_last_ack_ms for r in baton], ".1f")),
        ("Baton all DMs edited after, s", spread([r.edited_after for r in baton], ".2f")),
        ("Baton DM edits/s, end to end", spread([r.edits_per_second for r in baton], ".0f")),
        ("committed/s ÷ bare acks/s, per round", spread(pairs, ".2f")),
        ("bare Bolt CPU ms per click", spread([r.cpu_ms_per_click for r in bolt], ".2f")),
        ("Baton CPU ms per click, to its answer", spread([r.cpu_ms_per_click for r in baton], ".2f")),
        ("Baton CPU ms per click, DMs included", spread([r.cpu_ms_per_click_all for r in baton], ".2f")),
    ]
    print(f"over {len(baton)} rounds (min / median / max)")
    for name, value in rows:
        print(f"  {name:<38}{value}")
    median_ratio = statistics.median(r.committed_per_second for r in baton) / statistics.median(
        r.acks_per_second for r in bolt
    )
    median_p99 = statistics.median(r.p(99) for r in baton)
    print(
        f"  {'median committed/s ÷ median acks/s':<38}{median_ratio:.2f}   (issue 11's goal at 32 in flight: "
        f">= {GOAL_RATIO}; and Baton's ack p99, median {median_p99:.1f} ms: goal < {GOAL_P99_MS:.0f} ms)"
    )
    for run in (*bolt, *baton):
        if run.not_200:
            print(f"{run.server}: {run.not_200} answers were not 200")
        if run.server == "Baton" and run.committed < run.requests:
            print(f"Baton: only {run.committed} of {run.requests} decisions became visible")
        for error in run.errors[:3]:
            print(f"{run.server}: {error}")
    for note in outcome.notes:
        print(f"note: {note}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=300, help="Approve clicks per round (default 300)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each server, interleaved (default 3)")
    parser.add_argument("--poll", type=float, default=0.005, help="seconds between commit polls (default 0.005)")
    parser.add_argument("--time-limit", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    if args.workflows < 1 or args.concurrency < 1 or args.rounds < 1:
        parser.error("--workflows, --concurrency and --rounds must be at least 1")
    if args.workflows % TEAM_SIZE:
        parser.error(f"--workflows must be a multiple of {TEAM_SIZE}: each round clicks whole teams' approvals")
    return args


async def main_async(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.time_limit
    context = multiprocessing.get_context("spawn")  # never fork a process with a running loop and threads
    with (
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
        tempfile.TemporaryDirectory(prefix="baton-ack-") as scratch,
    ):
        await asyncio.get_running_loop().run_in_executor(pool, ready)  # spawn the load process now
        bench = Benchmark(args, pool, Path(scratch))
        try:
            async with asyncio.timeout(args.time_limit):
                outcome = await bench.run(deadline)
        except (BenchError, TimeoutError, OSError) as error:
            print(f"benchmark failed: {error or 'time limit reached'}", file=sys.stderr)
            for note in bench.outcome.notes:
                print(f"note: {note}", file=sys.stderr)
            return 1
    report(outcome, args)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
