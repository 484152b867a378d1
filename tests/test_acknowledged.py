"""An answer is a promise: every click Baton answered 200 is in the store, whatever happens to the process next.

A real `python -m bot serve` process takes a burst of simultaneous approvals and is killed (SIGKILL) or stopped
(SIGTERM) at a random moment of it. Only clicks that got a 200 are counted; none is clicked again. Each of
them must be committed (seen by a fresh connection right after the process is gone), and after a restart each
request completes and its task DM loses its buttons without anyone doing anything more.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.emulator import Message, SlackDriver, SlackEmulator, find_action
from bot.migrate import migrate

from .conftest import SIGNING_SECRET
from .databases import fresh_postgres
from .processes import BatonProcess
from .story import big_org, copy_workflows, dm_containing, field_values, task_message

pytestmark = pytest.mark.slow

TEAMS = 20


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'baton.db'}"
        return
    async with fresh_postgres() as url:
        await migrate(url)
        yield url


async def approved_requesters(database: str) -> dict[str, int]:
    """Per requester, how many approvals the store holds, read by a fresh connection."""
    query = (
        "SELECT i.requester, COUNT(*) FROM events e JOIN instances i ON i.id = e.instance_id "
        "WHERE e.kind = 'task_approved' GROUP BY i.requester"
    )
    if database.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database.removeprefix("sqlite:///"))) as db:
            return {str(row[0]): int(row[1]) for row in db.execute(query)}
    connection = await asyncpg.connect(database)
    try:
        return {str(row[0]): int(row[1]) for row in await connection.fetch(query)}
    finally:
        await connection.close()


@dataclass
class Burst:
    """Simultaneous approvals, and which of them Baton answered 200."""

    answered: set[str] = field(default_factory=set)  # the requesters whose manager's click got a 200
    unanswered: set[str] = field(default_factory=set)  # refused, cut off or never connected


async def requests_waiting_for_approval(
    process: BatonProcess, slack: SlackEmulator, pairs: list[tuple[str, str]]
) -> dict[str, Message]:
    """Start one expense per employee; return each manager's task DM, by employee."""
    async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:

        async def start(number: int, employee: str) -> None:
            await driver.send_command(employee, "start expense-approval")
            view = await slack.wait_for(lambda: (slack.open_views(employee) or [None])[-1], 10)
            values = field_values(amount=10 + number, currency=("select", "EUR"), reason=f"Item {number}")
            assert (await driver.submit_view(employee, view, values)).status == 200

        await asyncio.gather(*(start(number, employee) for number, (employee, _m) in enumerate(pairs)))
    return {
        employee: await task_message(slack, manager, "task_approve", timeout=30) for employee, manager in pairs
    }


async def burst_cut_short(
    process: BatonProcess,
    slack: SlackEmulator,
    pairs: list[tuple[str, str]],
    tasks: dict[str, Message],
    *,
    answers_before_the_signal: int,
    delay: float,
    signal: str,
) -> tuple[Burst, int | None]:
    """Every manager approves at once; after that many 200s (and `delay` more seconds) the process gets
    `signal`. Return who was answered, and the exit status."""
    burst = Burst()
    enough = asyncio.Event()
    async with SlackDriver(process.url, SIGNING_SECRET, slack) as driver:

        async def click(employee: str, manager: str) -> None:
            try:
                answer = await driver.click_button_in(tasks[employee], manager, "task_approve")
            except (aiohttp.ClientError, OSError, TimeoutError):
                burst.unanswered.add(employee)
                return
            (burst.answered if answer.status == 200 else burst.unanswered).add(employee)
            if len(burst.answered) >= answers_before_the_signal:
                enough.set()

        clicks = [asyncio.create_task(click(employee, manager)) for employee, manager in pairs]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), 20)
        await asyncio.sleep(delay)
        status = process.kill() if signal == "SIGKILL" else await process.terminate()
        await asyncio.gather(*clicks)
    return burst, status


async def check_every_answer_held(
    process: BatonProcess, slack: SlackEmulator, database: str, pairs: list[tuple[str, str]], burst: Burst
) -> None:
    approvals = await approved_requesters(database)  # right after the process is gone, before any restart
    lost = sorted(burst.answered - set(approvals))
    assert not lost, f"answered 200 but not in the store: {lost} ({len(burst.answered)} answered)"
    assert all(count == 1 for count in approvals.values()), approvals
    await process.start()  # nobody clicks again: the acknowledged requests finish on their own
    managers = dict(pairs)
    for employee in sorted(burst.answered):
        await dm_containing(slack, employee, "was *completed*", timeout=30)
        manager = managers[employee]
        await slack.wait_for(  # the task DM is updated in place: its buttons give way to the outcome
            lambda m=manager: not any(find_action(msg.blocks, "task_approve") for msg in slack.dm_messages(m)),
            30,
            what=f"{manager}'s task DM without its Approve button",
        )
    assert all(count == 1 for count in (await approved_requesters(database)).values())


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_approval_answered_200_survives_a_sigkill_at_a_random_moment_of_a_burst(
    tmp_path: Path, slack: SlackEmulator, database: str, seed: int
) -> None:
    pairs = org_of_one_approver_teams(tmp_path, slack)
    # On PostgreSQL the messages the killed process had claimed are taken over when their lease runs out; a
    # short lease (the shortest a 2 s call timeout allows) keeps that within the waits below.
    short_lease = {"slack_api_timeout_seconds": "2", "outbox_lease_seconds": "10"}
    process = BatonProcess(slack, database, tmp_path / "workflows", tmp_path / "baton.log", **short_lease)
    rng = random.Random(seed)
    try:
        await process.start()
        tasks = await requests_waiting_for_approval(process, slack, pairs)
        burst, _status = await burst_cut_short(
            process, slack, pairs, tasks,
            answers_before_the_signal=rng.randint(1, TEAMS // 2), delay=rng.uniform(0, 0.005), signal="SIGKILL",
        )
        assert burst.answered, "the kill came before any answer"
        await check_every_answer_held(process, slack, database, pairs, burst)
    finally:
        process.stop()


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_sigterm_in_a_burst_finishes_what_is_in_flight_exits_0_and_keeps_every_answered_approval(
    tmp_path: Path, slack: SlackEmulator, database: str, seed: int
) -> None:
    pairs = org_of_one_approver_teams(tmp_path, slack)
    process = BatonProcess(slack, database, tmp_path / "workflows", tmp_path / "baton.log")
    rng = random.Random(seed)
    try:
        await process.start()
        tasks = await requests_waiting_for_approval(process, slack, pairs)
        burst, status = await burst_cut_short(
            process, slack, pairs, tasks,
            answers_before_the_signal=rng.randint(1, TEAMS // 2), delay=rng.uniform(0, 0.005), signal="SIGTERM",
        )
        log = (tmp_path / "baton.log").read_text()
        assert status == 0, f"exit status {status}; log:\n{log[-3000:]}"
        assert "the store is not open" not in log and "Traceback" not in log, log[-3000:]
        await check_every_answer_held(process, slack, database, pairs, burst)
    finally:
        process.stop()


def org_of_one_approver_teams(tmp_path: Path, slack: SlackEmulator) -> list[tuple[str, str]]:
    """TEAMS employees, each with a manager of their own (so no DM queue is paced for long)."""
    workflows = copy_workflows(tmp_path / "workflows")
    pairs = big_org(workflows, teams=TEAMS, team_size=1)
    for employee, manager in pairs:
        slack.add_user(employee, name=employee.lower())
        slack.add_user(manager, name=manager.lower())
    return pairs
