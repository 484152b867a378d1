"""What bench/ack.py and bench/scale.py share: a generated org and workflow, real server processes, signed
Slack requests built ahead of time, the load generator that fires them (in a spawned child process), and the
watch that sees decisions commit through a database connection of its own."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import asyncpg
import yaml

from bot.emulator import Message, SlackDriver, SlackEmulator, find_action, signature_headers
from bot.emulator.driver import SLACK_USER_AGENT
from bot.emulator.payloads import DEFAULT_VERIFICATION_TOKEN, block_actions, plain_text_value, url_verification

PROJECT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
ADMIN = "U0ADMIN"
APPROVE = "task_approve"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REQUEST_TIMEOUT = 10.0
# Baton's outbox sends at most 5 messages in a burst, then one a second, into one conversation: teams of five
# keep every manager's approval DMs (and, later, the edits of them) inside one burst.
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

T = TypeVar("T")
# A request ready to send: where to, the body, the headers (signature included). Plain tuples cross processes.
Shot = tuple[str, bytes, dict[str, str]]


class BenchError(RuntimeError):
    """Something the benchmark needed did not happen; the message says what was seen."""


# --------------------------------------------------------------------------------------------------------
# The org: one workflow, requesters in teams of TEAM_SIZE under their own manager


def write_workflows(directory: Path, workflows: int) -> list[tuple[str, str]]:
    """Write the bench's workflow and an org.yaml of `workflows` requesters; return (requester, manager) pairs."""
    directory.mkdir(exist_ok=True)
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


def seed_emulator(emulator: SlackEmulator, pairs: Sequence[tuple[str, str]]) -> None:
    """The people of the generated org, a team channel per manager, and the admin."""
    for requester, manager in pairs:
        emulator.add_user(requester, name=requester.lower(), tz="UTC")
        if emulator.user(manager) is None:
            emulator.add_user(manager, name=manager.lower(), tz="UTC")
            emulator.add_channel(team_channel(manager), f"team-{manager.lower()}")
    if emulator.user(ADMIN) is None:
        emulator.add_user(ADMIN, name="admin")


def team_channel(manager: str) -> str:
    return f"C{manager[1:]}"


# --------------------------------------------------------------------------------------------------------
# Real server processes: Baton (`python -m bot serve`) and the bare Bolt app (bench/bare_bolt.py)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """One child process that serves Slack's request URL on its own port and answers GET /healthz."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/slack/events"
        self._command = list(command)
        self._env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, *, timeout: float = 30.0) -> None:
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(self._command, cwd=PROJECT, env=self._env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            if await self.health() is not None:
                return
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.name} on port {self.port} did not start:\n{self._log.read_text()[-2000:]}")

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (all its threads, user and system), from /proc."""
        if self._process is None:
            return math.nan
        try:
            fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    async def health(self) -> dict[str, Any] | None:
        """GET /healthz: its JSON when it answered 200, else None."""
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
                session.get(f"http://127.0.0.1:{self.port}/healthz") as reply,
            ):
                return dict(await reply.json(content_type=None)) if reply.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def stop(self) -> int | None:
        """SIGTERM and wait (without blocking the loop: the emulator in this process answers its last calls)."""
        process = self._process
        if process is None or process.poll() is not None:
            return None
        process.terminate()
        deadline = time.monotonic() + 15
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                return process.wait(timeout=10)
            await asyncio.sleep(0.05)
        return process.returncode


def baton_process(
    emulator: SlackEmulator, database_url: str, workflows: Path, log: Path, **settings: str
) -> ServerProcess:
    """`python -m bot serve` against the emulator, with the environment tests/processes.py gives it."""
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.api_url,
        "DATABASE_URL": database_url,
        "WORKFLOWS_DIR": str(workflows),
        "BATON_ADMINS": ADMIN,
        "LOG_LEVEL": "WARNING",
        **{name.upper(): value for name, value in settings.items()},
    }
    return ServerProcess("Baton", [sys.executable, "-m", "bot", "serve"], env, log)


def bare_bolt_process(emulator: SlackEmulator, log: Path) -> ServerProcess:
    """bench/bare_bolt.py: one Bolt listener that only acks, served the way Baton serves Bolt."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": emulator.api_url}
    return ServerProcess("bare Bolt", [sys.executable, str(BENCH / "bare_bolt.py")], env, log)


# --------------------------------------------------------------------------------------------------------
# Setting up open approvals (not timed)


async def open_approvals(
    drivers: Sequence[SlackDriver], emulator: SlackEmulator, pairs: Sequence[tuple[str, str]], *, lanes: int = 16
) -> None:
    """Start one approval per requester (the command, then the start modal), round-robin over the processes."""
    limit = asyncio.Semaphore(lanes)

    async def one(number: int, requester: str, manager: str) -> None:
        async with limit:
            driver = drivers[number % len(drivers)]
            reply = await driver.send_command(requester, "start purchase", channel_id=team_channel(manager))
            if reply.status != 200:
                raise BenchError(f"/workflow start answered {reply.status}: {reply.body[:200]}")
            view = await wait_until(lambda: next(reversed(emulator.open_views(requester)), None), 30, "the start form")
            submitted = await drivers[(number + 1) % len(drivers)].submit_view(
                requester, view, {"field:item": {"value": plain_text_value(f"thing {number}")}}
            )
            if submitted.status != 200 or '"errors"' in submitted.body:
                raise BenchError(f"form submission answered {submitted.status}: {submitted.body[:300]}")

    await asyncio.gather(*(one(n, requester, manager) for n, (requester, manager) in enumerate(pairs)))


def approval_dms(emulator: SlackEmulator, managers: set[str]) -> list[tuple[str, Message]]:
    """Each approval DM (a message with an Approve button) with the manager it went to."""
    return [
        (manager, m)
        for manager in sorted(managers)
        for m in emulator.dm_messages(manager)
        if find_action(m.blocks, APPROVE)
    ]


async def wait_for_approval_dms(
    emulator: SlackEmulator, pairs: Sequence[tuple[str, str]], timeout: float
) -> list[tuple[str, Message]]:
    managers = {manager for _requester, manager in pairs}

    def found() -> list[tuple[str, Message]] | None:
        dms = approval_dms(emulator, managers)
        return dms if len(dms) >= len(pairs) else None

    messages = await wait_until(found, timeout, f"{len(pairs)} approval DMs", poll=0.1)
    if len(messages) != len(pairs):
        raise BenchError(f"expected {len(pairs)} approval DMs, found {len(messages)}")
    return messages


async def wait_for_quiet_outbox(processes: Sequence[ServerProcess], timeout: float) -> None:
    """Until every Baton process's /healthz says nothing is pending in the outbox."""
    deadline = time.monotonic() + timeout
    for process in processes:
        while ((health := await process.health()) or {}).get("outbox_pending") != 0:
            if time.monotonic() >= deadline:
                raise BenchError(f"{process.name}'s outbox still had work after {timeout:.0f}s: {health}")
            await asyncio.sleep(0.1)


# --------------------------------------------------------------------------------------------------------
# Requests, built and signed before the clock starts


def signed(url: str, body: str, content_type: str, timestamp: int) -> Shot:
    headers = {"Content-Type": content_type, "User-Agent": SLACK_USER_AGENT}
    headers.update(signature_headers(SIGNING_SECRET, timestamp, body))
    return url, body.encode(), headers


def approve_click(emulator: SlackEmulator, user_id: str, message: Message, url: str, timestamp: int) -> Shot:
    """A signed `block_actions` request: `user_id` clicks Approve on `message`, a DM from Baton."""
    found = find_action(message.blocks, APPROVE)
    if found is None:
        raise BenchError(f"message {message.ts} has no {APPROVE} button")
    block_id, element = found
    user = emulator.user(user_id)
    payload = block_actions(
        user_id=user_id,
        action_id=APPROVE,
        value=element.get("value"),
        trigger_id=emulator.issue_trigger_id(user_id),
        block_id=block_id,
        channel_id=message.channel,
        message_ts=message.ts,
        message=message.to_slack(),
        response_url=emulator.issue_response_url(user_id=user_id, channel_id=message.channel, message_ts=message.ts),
        user_name=user.name if user is not None else None,
        channel_name="directmessage",
        team_id=emulator.team_id,
        team_domain=emulator.team_domain,
        api_app_id=emulator.app_id,
        token=DEFAULT_VERIFICATION_TOKEN,
    )
    return signed(url, urlencode({"payload": json.dumps(payload)}), FORM, timestamp)


def clicks(emulator: SlackEmulator, messages: Sequence[tuple[str, Message]], urls: Sequence[str]) -> list[Shot]:
    """One signed Approve click per approval DM, by the manager it went to, round-robin over `urls`."""
    timestamp = int(time.time())
    return [
        approve_click(emulator, manager, message, urls[index % len(urls)], timestamp)
        for index, (manager, message) in enumerate(messages)
    ]


def warmups(urls: Sequence[str], per_url: int) -> list[Shot]:
    """Signed `url_verification` requests: they open the load generator's connections and change nothing."""
    timestamp = int(time.time())
    return [
        signed(url, json.dumps(url_verification(f"warm-{number}")), JSON, timestamp)
        for url in urls
        for number in range(per_url)
    ]


def aimed_at(shots: Sequence[Shot], url: str) -> list[Shot]:
    """The same bodies and signatures, sent to another server (the signature does not cover the URL)."""
    return [(url, body, headers) for _url, body, headers in shots]


# --------------------------------------------------------------------------------------------------------
# The load generator (runs in a spawned child process)


def ready() -> int:
    """Called once to spawn the load process before the clock starts."""
    return os.getpid()


def fire(shots: list[Shot], warmups: list[Shot], concurrency: int, time_limit: float) -> dict[str, Any]:
    """Send `warmups` (untimed), then every shot with `concurrency` requests in flight; return the timings.
    `started_mono` is `time.monotonic()` at the first click: on Linux one clock for every process."""
    return asyncio.run(_fire(shots, warmups, concurrency, time_limit))


async def _fire(shots: list[Shot], warmups: list[Shot], concurrency: int, time_limit: float) -> dict[str, Any]:
    latencies = [math.nan] * len(shots)
    statuses = [0] * len(shots)
    errors: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def send(shot: Shot) -> int:
            url, body, headers = shot
            async with session.post(url, data=body, headers=headers) as reply:
                await reply.read()
                return reply.status

        # Warm-up: open the pool's connections (and let the app do one-time work) before the clock starts.
        for outcome in await asyncio.gather(*(send(shot) for shot in warmups), return_exceptions=True):
            if not isinstance(outcome, int) or outcome != 200:
                errors.append(f"warm-up request: {outcome!r}")

        pending = iter(range(len(shots)))

        async def worker() -> None:
            for index in pending:  # one shared iterator: each index is taken by exactly one worker
                started = time.perf_counter()
                try:
                    statuses[index] = await send(shots[index])
                except Exception as error:  # report, never hide
                    statuses[index] = -1
                    errors.append(f"request #{index}: {error!r}")
                latencies[index] = time.perf_counter() - started

        started_wall, started_mono, started = time.time(), time.monotonic(), time.perf_counter()
        async with asyncio.timeout(time_limit):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "latencies": latencies,
        "statuses": statuses,
        "errors": errors,
        "elapsed": elapsed,
        "started_wall": started_wall,
        "started_mono": started_mono,
    }


# --------------------------------------------------------------------------------------------------------
# Committed decisions, seen through a connection that is not Baton's

APPROVED = "SELECT COUNT(*) FROM events WHERE kind = 'task_approved'"


class DecisionCounter:
    """Counts the `task_approved` events any other connection can see: what is committed, nothing else."""

    def __init__(self, count: Callable[[], Awaitable[int]], close: Callable[[], Awaitable[None]]) -> None:
        self.count = count
        self.close = close

    @classmethod
    async def open(cls, database_url: str) -> DecisionCounter:
        if database_url.startswith("sqlite:///"):
            # Autocommit: every SELECT is its own read transaction, so each poll sees the latest commit. The
            # query is an index count of a few hundred rows (microseconds), so it runs on the loop itself.
            db = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
            db.execute("PRAGMA query_only = ON")

            async def count_sqlite() -> int:
                return int(db.execute(APPROVED).fetchone()[0])

            async def close_sqlite() -> None:
                db.close()

            return cls(count_sqlite, close_sqlite)
        connection = await asyncpg.connect(database_url)

        async def count_postgres() -> int:
            return int(await connection.fetchval(APPROVED))

        async def close_postgres() -> None:
            await connection.close()

        return cls(count_postgres, close_postgres)


async def watch_commits(
    counter: DecisionCounter,
    expected: int,
    burst: asyncio.Future[Any],
    *,
    poll: float = 0.005,
    settle: float = 10.0,
) -> list[float]:
    """Poll `counter` while `burst` runs, until `expected` more decisions are visible than at the start, or the
    burst is over and nothing new was seen for `settle` seconds. Return, for each new decision, the moment
    (`time.monotonic()`) the poll that first saw it returned: it was committed between the poll before and then."""
    baseline = await counter.count()
    seen: list[float] = []
    quiet_since = math.inf  # from when nothing new was seen after the burst ended
    while len(seen) < expected:
        visible = await counter.count() - baseline
        answered = time.monotonic()  # a row this poll saw was committed by now (late by up to one poll, never early)
        if visible > len(seen):
            seen.extend([answered] * (min(visible, expected) - len(seen)))
            quiet_since = answered if burst.done() else math.inf
        elif burst.done():
            quiet_since = min(quiet_since, answered)
            if answered - quiet_since > settle:
                break
        await asyncio.sleep(poll)
    return seen


# --------------------------------------------------------------------------------------------------------
# Waiting and reporting


async def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, poll: float = 0.01) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(poll)


def percentile_ms(latencies: Sequence[float], q: int) -> float:
    """The q-th percentile of the measured latencies (seconds; NaN: not measured), in milliseconds."""
    values = [v for v in latencies if not math.isnan(v)]
    if len(values) < 2:
        return values[0] * 1000 if values else math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def max_ms(latencies: Sequence[float]) -> float:
    values = [v for v in latencies if not math.isnan(v)]
    return max(values) * 1000 if values else math.nan


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b and not math.isnan(a) and not math.isnan(b) else "n/a"
