"""Clicks that arrive together are committed together (group commit), and each is still a promise on its own.

While one transaction holds the store, the clicks that arrive wait in a queue; the next transaction takes all
of them, decides each in turn, and commits them at once. Each click is answered only after that commit, a
second click on the same request is decided on what the first left, and a click that fails does not take the
others down with it. Driven through Baton's real HTTP path with signed clicks, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.app import Baton
from bot.emulator import Message, SlackDriver, SlackEmulator
from bot.pipeline import MOST_AT_ONCE

from .story import big_org, commits_of_clicks, copy_workflows, field_values, task_message, told, while_the_store_is_busy

TEAMS = 16


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    workflows = copy_workflows(tmp_path / "workflows")
    big_org(workflows, teams=TEAMS, team_size=1)  # one approver each: no DM queue is paced for long
    return workflows


def pairs() -> list[tuple[str, str]]:
    return [(f"U0E{team:04d}00", f"U0M{team:04d}") for team in range(TEAMS)]


async def approvals_waiting(driver: SlackDriver, slack: SlackEmulator) -> list[tuple[str, int, Message]]:
    """One expense per employee, started one after another: (manager, request number, the manager's task DM)."""
    waiting = []
    for number, (employee, manager) in enumerate(pairs(), start=1):
        slack.add_user(employee, name=employee.lower())
        slack.add_user(manager, name=manager.lower())
        await driver.send_command(employee, "start expense-approval")
        view = await slack.wait_for(lambda employee=employee: (slack.open_views(employee) or [None])[-1])
        values = field_values(amount=10 + number, currency=("select", "EUR"), reason=f"Item {number}")
        assert (await driver.submit_view(employee, view, values)).status == 200
        waiting.append((manager, number, await task_message(slack, manager, "task_approve")))
    return waiting


async def approvals_committed(baton: Baton, request: int) -> int:
    """How many approvals of this request a fresh snapshot of the store holds (what is committed, nothing else)."""
    async with baton.store.reading() as work:
        return [entry.kind for entry in await work.audit_trail(request)].count("task_approved")


async def test_simultaneous_clicks_share_commits_and_each_is_committed_when_it_is_answered(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    waiting = await approvals_waiting(driver, slack)
    before = commits_of_clicks(baton)

    async def click(manager: str, request: int, task: Message) -> int:
        response = await driver.click_button_in(task, manager, "task_approve")
        assert response.status == 200
        return await approvals_committed(baton, request)  # read at once: the answer came after the commit

    requests = [request for _, request, _ in waiting]
    seen = await while_the_store_is_busy(baton, requests, [click(*waiting_one) for waiting_one in waiting])
    assert seen == [1] * TEAMS
    count, total = (after - earlier for after, earlier in zip(commits_of_clicks(baton), before, strict=True))
    assert total == TEAMS
    # Each committer took the clicks that waited when it began (PostgreSQL runs two: one click each, held by
    # the rows' locks); then one took all the rest.
    most = baton.store.writers_at_once + 1
    assert count <= most, f"{TEAMS} clicks that waited together took {count} transactions"


async def broken_state(database_url: str, request: int) -> None:
    """Edit one request's stored state by hand so that it names a workflow version the store does not have."""
    select, update = "SELECT state FROM instances WHERE id = {}", "UPDATE instances SET state = {} WHERE id = {}"
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            state = json.loads(db.execute(select.format("?"), (request,)).fetchone()[0])
            state["definition_version"] = "edited-by-hand"
            db.execute(update.format("?", "?"), (json.dumps(state), request))
            db.commit()
        return
    connection = await asyncpg.connect(database_url)
    try:
        state = json.loads(await connection.fetchval(select.format("$1"), request))
        state["definition_version"] = "edited-by-hand"
        await connection.execute(update.format("$1", "$2"), json.dumps(state), request)
    finally:
        await connection.close()


async def test_a_click_that_cannot_be_recorded_fails_alone_and_the_others_commit(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str
) -> None:
    waiting = await approvals_waiting(driver, slack)
    broken = waiting[len(waiting) // 2]
    await broken_state(database_url, broken[1])

    clicks = [driver.click_button_in(task, manager, "task_approve") for manager, _, task in waiting]
    answers = await while_the_store_is_busy(baton, [request for _, request, _ in waiting], clicks)
    assert all(answer.status == 200 for answer in answers)  # never a 5xx for a click
    for _manager, request, _task in waiting:
        assert await approvals_committed(baton, request) == (0 if request == broken[1] else 1), request
    await told(slack, broken[0], "went wrong")  # the one person whose click failed is told so


async def test_clicks_while_the_store_cannot_be_opened_are_answered_with_a_failure_at_once(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    """The committer opens the store before it takes the waiting clicks: if that fails, every one of them hears
    why at once (the old path's answer), rather than waiting on a committer that tries again and again."""
    waiting = (await approvals_waiting(driver, slack))[:3]
    await baton.store.close()  # as if the database went away under a running Baton
    clicks = [driver.click_button_in(task, manager, "task_approve") for manager, _, task in waiting]
    answers = await asyncio.wait_for(asyncio.gather(*clicks), timeout=10)
    assert all(answer.status == 200 for answer in answers)
    for manager, _request, _task in waiting:
        await told(slack, manager, "went wrong")
    assert baton.service.commands_in_flight == 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_a_click_on_a_request_another_process_holds_does_not_hold_up_the_others(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton, database_url: str
) -> None:
    """Another process's transaction holds one request's row: the click on it waits for that, and the clicks on
    other requests are committed and answered meanwhile (a second committer takes them)."""
    (held_manager, held, held_task), *others = (await approvals_waiting(driver, slack))[:4]
    other_process = await asyncpg.connect(database_url)
    try:
        transaction = other_process.transaction()
        await transaction.start()
        await other_process.execute("SELECT id FROM instances WHERE id = $1 FOR UPDATE", held)
        waiting = asyncio.ensure_future(driver.click_button_in(held_task, held_manager, "task_approve"))
        await asyncio.sleep(0.2)  # its batch now waits on the row
        answers = await asyncio.wait_for(
            asyncio.gather(*(driver.click_button_in(task, manager, "task_approve") for manager, _, task in others)), 5
        )
        assert [answer.status for answer in answers] == [200] * len(others)
        assert not waiting.done()
        for _manager, request, _task in others:
            assert await approvals_committed(baton, request) == 1
        await transaction.rollback()
    finally:
        await other_process.close()
    assert (await asyncio.wait_for(waiting, 5)).status == 200
    assert await approvals_committed(baton, held) == 1


async def test_a_flood_of_clicks_on_one_task_does_not_hold_up_the_clicks_on_other_requests(
    driver: SlackDriver, slack: SlackEmulator, baton: Baton
) -> None:
    """More clicks on one task than a transaction takes (a double-clicking bot, a large group step) queue ahead
    of clicks on other requests: each transaction decides one of them, on what the one before left, and takes
    the other requests' clicks with it rather than leaving them behind the flood."""
    (manager, flooded, task), *others = await approvals_waiting(driver, slack)
    flood = MOST_AT_ONCE + 8  # and the others: within the driver's 100 connections
    transactions_before_answer: list[float] = []

    async def click_other(manager: str, task: Message) -> None:
        assert (await driver.click_button_in(task, manager, "task_approve")).status == 200
        transactions_before_answer.append(commits_of_clicks(baton)[0] - before)

    before = commits_of_clicks(baton)[0]
    loop = asyncio.get_running_loop()
    async with baton.store.transaction() as work:  # the store is busy: everything below queues up, in order
        await work.instances([flooded, *(request for _, request, _ in others)])
        sent = [asyncio.ensure_future(driver.click_button_in(task, manager, "task_approve")) for _ in range(flood)]
        deadline = loop.time() + 10
        while baton.service.commands_in_flight < flood and loop.time() < deadline:
            await asyncio.sleep(0.01)
        sent += [asyncio.ensure_future(click_other(manager, task)) for manager, _, task in others]
        while baton.service.commands_in_flight < flood + len(others) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert baton.service.commands_in_flight == flood + len(others), "not every click reached the queue"
    await asyncio.wait_for(asyncio.gather(*sent), timeout=60)
    assert await approvals_committed(baton, flooded) == 1  # the first click decided it; the rest were refused
    for _manager, request, _task in others:
        assert await approvals_committed(baton, request) == 1
    # The transactions that held the flood's first clicks (one per committer), then the one that took the rest.
    most = baton.store.writers_at_once + 1
    assert max(transactions_before_answer) <= most, sorted(transactions_before_answer)
