"""What bench/ack.py and bench/scale.py share: signed Slack requests built ahead of time, and the load generator
that fires them (in a spawned child process, so that its own work is not on the measured process's cores)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from bot.emulator import Message, SlackEmulator, find_action, signature_headers
from bot.emulator.driver import SLACK_USER_AGENT
from bot.emulator.payloads import DEFAULT_VERIFICATION_TOKEN, block_actions

SIGNING_SECRET = "bench-signing-secret"
APPROVE = "task_approve"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
REQUEST_TIMEOUT = 10.0

T = TypeVar("T")
# A request ready to send: where to, the body, the headers (signature included). Plain tuples cross processes.
Shot = tuple[str, bytes, dict[str, str]]


class BenchError(RuntimeError):
    """Something the benchmark needed did not happen; the message says what was seen."""


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


# --------------------------------------------------------------------------------------------------------
# The load generator (runs in a spawned child process)


def ready() -> int:
    """Called once to spawn the load process before the clock starts."""
    return os.getpid()


def fire(shots: list[Shot], warmups: list[Shot], concurrency: int, time_limit: float) -> dict[str, Any]:
    """Send `warmups` (untimed), then every shot with `concurrency` requests in flight; return the timings."""
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
