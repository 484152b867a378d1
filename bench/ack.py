"""How fast does Baton acknowledge a burst of Approve clicks, next to a bare Bolt app that only acks?

Run: `.venv/bin/python bench/ack.py [--workflows N] [--concurrency C]`

Slack gives an app 3 seconds to answer an interaction, so the number that matters is the time from a
signed `block_actions` request to its HTTP answer (the ack). This script:

1. starts the Slack emulator (people from workflows/org.yaml) and a real Baton (temporary SQLite file,
   the shipped workflows/) on 127.0.0.1;
2. opens N expense approvals for U0MARIA through `/workflow start expense-approval` and the start modal,
   as U0ALICE and U0BOB, and waits for the N approval DMs;
3. pre-builds and pre-signs one Approve click per DM, then fires them at Baton with C requests in flight,
   recording each request's ack latency; afterwards it waits until every decision is recorded (audit trail)
   and every approval DM was edited in Slack (end-to-end);
4. fires the same N bodies at a bare Bolt app (one `task_approve` listener that only acks), served the way
   Baton serves Bolt, with the same concurrency;
5. prints a table. Timings are reported, never asserted: machines here are small and noisy.

The load generator runs in a separate process (spawned once, before any timing), so the client's own work
does not share the event loop with the server being measured. Baton and the emulator share the server
process, as in the tests; the emulator's handling of Baton's outgoing calls is therefore counted in Baton's
process (Slack would do that work elsewhere).

Baton's outbox paces itself to about one message per second per conversation (burst 5). All N approval DMs
go to one person, so with that pacing N=300 would need about five minutes just to appear (and as long again
for the edits after the clicks). By default this benchmark relaxes that pacing on the running instance; pass
`--shipped-pacing` to keep it (then use a small N, and expect the end-to-end figure to show the pacing).
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
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from load import (  # bench/load.py: what this script shares with bench/scale.py
    APPROVE,
    JSON,
    SIGNING_SECRET,
    BenchError,
    approve_click,
    fire,
    max_ms,
    percentile_ms,
    ratio,
    ready,
    signed,
    wait_until,
)
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import MAX_BODY_BYTES, Baton
from bot.emulator import Message, RecordedCall, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import (
    number_value,
    plain_text_value,
    static_select_value,
    url_verification,
)
from bot.pacing import Limit
from bot.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
WORKFLOWS = PROJECT / "workflows"
BOT_TOKEN = "xoxb-bench-token"
ADMIN = "U0ADMIN"
REQUESTERS = ("U0ALICE", "U0BOB")  # both report to U0MARIA in org.yaml
MANAGER = "U0MARIA"
WORKFLOW = "expense-approval"


log = logging.getLogger("bench.ack")


# --------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Run:
    """What one burst of clicks measured."""

    name: str
    concurrency: int
    latencies: list[float]
    statuses: list[int]
    errors: list[str]
    elapsed: float
    started_wall: float
    started_mono: float

    @classmethod
    def of(cls, name: str, concurrency: int, raw: dict[str, Any]) -> Run:
        return cls(name=name, concurrency=concurrency, **raw)

    @property
    def requests(self) -> int:
        return len(self.statuses)

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed if self.elapsed > 0 else math.nan

    def percentile_ms(self, q: int) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def max_ms(self) -> float:
        return max_ms(self.latencies)

    @property
    def not_200(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for status in self.statuses:
            if status != 200:
                counts[status] = counts.get(status, 0) + 1
        return counts


@dataclass
class EndToEnd:
    """How long after the first click Baton had recorded, and shown in Slack, every decision."""

    expected: int
    recorded: int = 0
    recorded_after: float = math.nan  # seconds from the first click to the last task_approved
    updated: int = 0
    updated_after: float = math.nan  # seconds from the first click to the last chat.update of an approval DM
    refusals: list[str] = field(default_factory=list)


class LogTally(logging.Handler):
    """Counts (and keeps the first few of) the warnings and errors logged while the benchmark runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            self.first.append(f"{record.levelname} {record.name}: {record.getMessage()[:200]}")


# --------------------------------------------------------------------------------------------------------
# Helpers


def seed_people(emulator: SlackEmulator) -> None:
    """The people of org.yaml, as tests/conftest.py seeds them."""
    org = yaml.safe_load((WORKFLOWS / "org.yaml").read_text()) or {}
    for user_id, person in (org.get("people") or {}).items():
        emulator.add_user(
            user_id,
            name=person["name"].split()[0].lower(),
            real_name=person["name"],
            tz=person.get("tz") or "UTC",
            email=person.get("email"),
        )
    emulator.add_user(ADMIN, name="admin", real_name="Ada Admin")
    emulator.add_channel("C0GENERAL", "general")
    emulator.add_channel("C0FINANCE", "finance")


def baton_settings(directory: Path, emulator: SlackEmulator) -> Settings:
    return Settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=emulator.api_url,
        database_url=f"sqlite:///{directory / 'baton.db'}",
        workflows_dir=WORKFLOWS,
        baton_admins=(ADMIN,),
    )


def expense_form(index: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Start-form values: a small amount (manager approval only), EUR, a reason."""
    return {
        "field:amount": {"value": number_value(10 + index % 90)},
        "field:currency": {"value": static_select_value("EUR", "EUR")},
        "field:reason": {"value": plain_text_value(f"Benchmark expense number {index}")},
    }


async def open_approvals(driver: SlackDriver, emulator: SlackEmulator, count: int, timeout: float) -> None:
    """Start `count` expense approvals through the slash command and the modal, one lane per requester."""

    async def lane(user: str, indexes: range) -> None:
        def open_form() -> dict[str, Any] | None:
            views = emulator.open_views(user)
            return views[-1] if views else None

        for index in indexes:
            reply = await driver.send_command(user, f"start {WORKFLOW}")
            if reply.status != 200:
                raise BenchError(f"/workflow start as {user} answered {reply.status}: {reply.body[:200]}")
            view = await wait_until(open_form, 10, f"the {WORKFLOW} form for {user}")
            submitted = await driver.submit_view(user, view, expense_form(index))
            answer = submitted.json() if submitted.status == 200 else None
            if submitted.status != 200 or (isinstance(answer, dict) and answer.get("response_action")):
                raise BenchError(f"form submission as {user} answered {submitted.status}: {submitted.body[:300]}")

    lanes = len(REQUESTERS)
    async with asyncio.timeout(timeout):
        await asyncio.gather(*(lane(user, range(k, count, lanes)) for k, user in enumerate(REQUESTERS)))


def approval_dms(emulator: SlackEmulator) -> list[Message]:
    return [m for m in emulator.dm_messages(MANAGER) if find_action(m.blocks, APPROVE)]


async def outbox_depth(baton: Baton) -> int:
    async with baton.store.transaction() as work:
        return await work.outbox_depth()


async def wait_for_quiet_outbox(baton: Baton, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (depth := await outbox_depth(baton)) > 0:
        if time.monotonic() >= deadline:
            raise BenchError(f"Baton's outbox still had {depth} messages pending after {timeout:.0f}s")
        await asyncio.sleep(0.05)


def instance_ids(messages: Sequence[Message]) -> list[int]:
    """The request number behind each approval button (its value is `<instance>.<step>`)."""
    ids: list[int] = []
    for message in messages:
        found = find_action(message.blocks, APPROVE)
        value = str(found[1].get("value", "")) if found else ""
        head = value.split(".", 1)[0]
        if not head.isdigit():
            raise BenchError(f"cannot tell the request number from the button value {value!r}")
        ids.append(int(head))
    return ids


async def decisions_recorded(baton: Baton, ids: Sequence[int]) -> list[float]:
    """Wall-clock times of each instance's `task_approved` entry (missing ones left out)."""
    times: list[float] = []
    async with baton.store.transaction() as work:
        for instance_id in ids:
            approved = [e.at.timestamp() for e in await work.audit_trail(instance_id) if e.kind == "task_approved"]
            if approved:
                times.append(min(approved))
    return times


async def serve_bare_bolt(emulator: SlackEmulator) -> tuple[web.AppRunner, int]:
    """A Bolt app with one listener that only acks, behind the same kind of aiohttp server as Baton's."""
    # The token rides on the client, as in Baton (passing token= as well makes Bolt log that it is unused).
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(base_url=emulator.api_url, token=BOT_TOKEN),
    )

    @app.action(APPROVE)
    async def _approve(ack: AsyncAck) -> None:
        await ack()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    application = web.Application(client_max_size=MAX_BODY_BYTES)
    application.router.add_post("/slack/events", slack_events)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


# --------------------------------------------------------------------------------------------------------
# The benchmark


@dataclass
class Outcome:
    baton: Run
    bare: Run
    end_to_end: EndToEnd
    setup_seconds: float
    notes: list[str]


async def measure(args: argparse.Namespace, pool: ProcessPoolExecutor, tally: LogTally, deadline: float) -> Outcome:
    loop = asyncio.get_running_loop()
    notes: list[str] = []

    def remaining() -> float:
        return max(1.0, deadline - time.monotonic())

    await loop.run_in_executor(pool, ready)  # spawn the load process now, not on the clock
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as directory:
        emulator = SlackEmulator(bot_token=BOT_TOKEN)
        seed_people(emulator)
        await emulator.start()
        baton: Baton | None = None
        bare_runner: web.AppRunner | None = None
        unsubscribe: Callable[[], None] | None = None
        try:
            settings = baton_settings(Path(directory), emulator)
            if not args.shipped_pacing:
                settings = settings.model_copy(update={"slack_tier_pacing": False})
            baton = Baton(settings)
            await baton.start()
            if not args.shipped_pacing:
                baton.sender.conversation_limit = Limit(per_second=1e9, burst=1e9)
                notes.append(
                    "Baton's outbox pacing (1 msg/s per conversation, burst 5; Slack's method tiers) was relaxed "
                    "for this run"
                )
            port = await baton.serve("127.0.0.1", 0)
            baton_url = f"http://127.0.0.1:{port}/slack/events"
            n = args.workflows

            # --- set up N open approvals for U0MARIA
            setup_started = time.monotonic()
            async with SlackDriver(baton_url, SIGNING_SECRET, emulator) as driver:
                await open_approvals(driver, emulator, n, timeout=min(60.0, remaining()))

            def all_dms() -> list[Message] | None:
                dms = approval_dms(emulator)
                return dms if len(dms) >= n else None

            messages = await wait_until(
                all_dms,
                min(60.0, remaining()),
                f"{n} approval DMs for {MANAGER} (have {len(approval_dms(emulator))})",
                poll=0.05,
            )
            if len(messages) != n:
                raise BenchError(f"expected {n} approval DMs for {MANAGER}, found {len(messages)}")
            await wait_for_quiet_outbox(baton, min(60.0, remaining()))
            setup_seconds = time.monotonic() - setup_started
            ids = instance_ids(messages)
            targets = {m.ts for m in messages}

            # --- build and sign every click before any timing
            timestamp = int(time.time())
            shots = [approve_click(emulator, MANAGER, message, baton_url, timestamp) for message in messages]
            warmups = [
                signed(baton_url, json.dumps(url_verification(f"warm-{i}")), JSON, timestamp)
                for i in range(args.concurrency)
            ]
            c = args.concurrency

            # --- bare Bolt first (stateless), while Baton sits idle
            bare_runner, bare_port = await serve_bare_bolt(emulator)
            bare_url = f"http://127.0.0.1:{bare_port}/slack/events"
            # One extra warm-up click: the bare app's first request does its one-time auth.test
            # (Baton did its own during the setup above).
            to_bare = [(bare_url, body, headers) for _url, body, headers in [*shots, *warmups]]
            bare_shots, bare_warmups = to_bare[: len(shots)], to_bare[len(shots) :]
            raw = await loop.run_in_executor(pool, fire, bare_shots, [*bare_warmups, bare_shots[0]], c, remaining())
            bare = Run.of("bare Bolt", c, raw)
            await bare_runner.cleanup()
            bare_runner = None

            # --- Baton
            updated_at: dict[str, float] = {}

            async def on_call(call: RecordedCall) -> None:
                if call.method == "chat.update" and call.ok:
                    ts = str(call.args.get("ts"))
                    if ts in targets and ts not in updated_at:
                        updated_at[ts] = time.monotonic()

            unsubscribe = emulator.on_call(on_call)
            logged_before = tally.count
            raw = await loop.run_in_executor(pool, fire, shots, warmups, c, remaining())
            baton_run = Run.of("Baton", c, raw)

            # --- end to end: every decision recorded and every approval DM edited in Slack
            e2e = EndToEnd(expected=n)
            try:
                await wait_until(lambda: len(updated_at) >= n, min(60.0, remaining()), "", poll=0.02)
            except BenchError:
                notes.append(f"only {len(updated_at)} of {n} approval DMs were edited before the wait ran out")
            e2e.updated = len(updated_at)
            if updated_at:
                e2e.updated_after = max(updated_at.values()) - baton_run.started_mono
            recorded = await decisions_recorded(baton, ids)
            e2e.recorded = len(recorded)
            if recorded:
                e2e.recorded_after = max(recorded) - baton_run.started_wall
            e2e.refusals = [e.text for e in emulator.ephemerals(MANAGER)]
            if tally.count > logged_before:
                notes.append(f"{tally.count - logged_before} warnings/errors were logged during Baton's run")
            await wait_for_quiet_outbox(baton, min(30.0, remaining()))
            return Outcome(baton_run, bare, e2e, setup_seconds, notes)
        finally:
            if unsubscribe is not None:
                unsubscribe()
            if bare_runner is not None:
                await bare_runner.cleanup()
            if baton is not None:
                await baton.stop()
            await emulator.stop()


def report(outcome: Outcome, tally: LogTally) -> None:
    baton, bare, e2e = outcome.baton, outcome.bare, outcome.end_to_end
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), CPUs: {cpus} (usable: {usable})")
    print(
        f"aiohttp {version('aiohttp')}, slack_bolt {version('slack_bolt')}, slack_sdk {version('slack_sdk')}; "
        f"setup of {baton.requests} approvals took {outcome.setup_seconds:.1f}s"
    )
    print()
    header = f"{'':<22}{'requests':>9}{'conc':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-200':>9}"
    print(header)
    print("-" * len(header))
    for run in (baton, bare):
        bad = sum(run.not_200.values())
        print(
            f"{run.name + ' (ack)':<22}{run.requests:>9}{run.concurrency:>6}{run.throughput:>9.0f}"
            f"{run.percentile_ms(50):>9.1f}{run.percentile_ms(99):>9.1f}{run.max_ms:>9.1f}{bad:>9}"
        )
    print("-" * len(header))
    print(
        f"Baton / bare Bolt: throughput {ratio(baton.throughput, bare.throughput)}, "
        f"p50 {ratio(baton.percentile_ms(50), bare.percentile_ms(50))}, "
        f"p99 {ratio(baton.percentile_ms(99), bare.percentile_ms(99))}"
    )
    print()
    rate = e2e.recorded / e2e.recorded_after if e2e.recorded and e2e.recorded_after > 0 else math.nan
    shown = e2e.updated / e2e.updated_after if e2e.updated and e2e.updated_after > 0 else math.nan
    print(
        f"Baton end-to-end: {e2e.recorded}/{e2e.expected} decisions recorded {e2e.recorded_after:.2f}s after the "
        f"first click -> {rate:.0f} decisions/s"
    )
    print(
        f"                  {e2e.updated}/{e2e.expected} approval DMs edited in Slack {e2e.updated_after:.2f}s after "
        f"the first click -> {shown:.0f} edits/s"
    )
    for run in (baton, bare):
        if run.not_200:
            print(f"{run.name}: non-200 answers {run.not_200}")
        for error in run.errors[:5]:
            print(f"{run.name}: {error}")
    if e2e.refusals:
        print(f"{MANAGER} was told {len(e2e.refusals)} times, e.g. {e2e.refusals[0]!r}")
    for note in outcome.notes:
        print(f"note: {note}")
    if tally.count:
        print(f"log: {tally.count} warnings/errors in total; first: {tally.first}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflows", type=int, default=300, help="open approvals to click (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (default 16)")
    parser.add_argument("--time-limit", type=float, default=110.0, help="give up after this many seconds")
    parser.add_argument(
        "--shipped-pacing", action="store_true", help="keep Baton's outbox pacing (slow for large --workflows)"
    )
    args = parser.parse_args(argv)
    if args.workflows < 1 or args.concurrency < 1:
        parser.error("--workflows and --concurrency must be at least 1")
    return args


async def main_async(args: argparse.Namespace, tally: LogTally) -> int:
    deadline = time.monotonic() + args.time_limit
    context = multiprocessing.get_context("spawn")  # never fork a process with a running loop and threads
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        try:
            async with asyncio.timeout(args.time_limit):
                outcome = await measure(args, pool, tally, deadline)
        except (BenchError, TimeoutError) as error:
            print(f"benchmark failed: {error or 'time limit reached'}", file=sys.stderr)
            if tally.first:
                print(f"log: {tally.first}", file=sys.stderr)
            return 1
    report(outcome, tally)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.simplefilter("always", ResourceWarning)  # an unclosed session or socket would show up here
    tally = LogTally()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(tally)
    return asyncio.run(main_async(args, tally))


if __name__ == "__main__":
    sys.exit(main())
