"""Several Baton processes on one PostgreSQL database: every decision, reminder and escalation happens once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import yaml

from bot.app import Baton
from bot.emulator import Delay, Message, Response, SlackDriver, SlackEmulator, find_action
from bot.emulator.payloads import team_join_event
from bot.migrate import migrate

from .conftest import SIGNING_SECRET, baton_settings
from .databases import fresh_postgres
from .processes import BatonProcess
from .story import (
    ALWAYS_OPEN,
    dm_containing,
    field_values,
    manager_approval,
    start_expense,
    start_with_form,
    task_message,
    text_of,
    told,
)

ALICE, MARIA, HANNA, NEWBIE = "U0ALICE", "U0MARIA", "U0HANNA", "U0NEWBIE"
SWIFT = manager_approval("swift", due="2s", escalate_after="2s")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres() as url:
        await migrate(url)
        yield url


# ---- two Batons in this process, one database ----------------------------------------------------------------


@pytest.fixture
async def two_batons(
    tmp_path: Path, slack: SlackEmulator, postgres_url: str
) -> AsyncIterator[tuple[SlackDriver, SlackDriver]]:
    batons = [Baton(baton_settings(tmp_path, slack, database_url=postgres_url)) for _ in range(2)]
    drivers = []
    try:
        for baton in batons:
            await baton.start()
            port = await baton.serve("127.0.0.1", 0)
            drivers.append(SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack))
        yield drivers[0], drivers[1]
    finally:
        for driver in drivers:
            await driver.aclose()
        for baton in batons:
            await baton.stop()


async def kinds(url: str, instance_id: int) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT kind FROM events WHERE instance_id = $1 ORDER BY id", instance_id)
    finally:
        await connection.close()
    return [row[0] for row in rows]


async def test_a_double_click_landing_on_two_processes_records_one_decision(
    two_batons: tuple[SlackDriver, SlackDriver], slack: SlackEmulator, postgres_url: str
) -> None:
    first, second = two_batons
    await start_with_form(first, slack, ALICE, "expense-approval", amount=20, currency=("select", "EUR"),
                          reason="Coffee beans")
    approval = await task_message(slack, MARIA, "task_approve")
    answers = await asyncio.gather(
        first.click_button_in(approval, MARIA, "task_approve"), second.click_button_in(approval, MARIA, "task_approve")
    )
    assert [answer.status for answer in answers] == [200, 200]
    await told(slack, MARIA, "already approved")
    await dm_containing(slack, ALICE, "was *completed*")
    log = await kinds(postgres_url, 1)
    assert log.count("task_approved") == 1 and log.count("instance_completed") == 1


async def test_a_retried_event_landing_on_another_process_starts_onboarding_once(
    two_batons: tuple[SlackDriver, SlackDriver], slack: SlackEmulator, postgres_url: str
) -> None:
    first, second = two_batons
    event = team_join_event({"id": NEWBIE, "name": "newbie", "real_name": "New Hire"})
    answers = await asyncio.gather(
        first.send_event(event, event_id="Ev0JOIN1"), second.send_event(event, event_id="Ev0JOIN1", retry_num=1)
    )
    assert [answer.status for answer in answers] == [200, 200]
    await task_message(slack, HANNA, "task_complete")
    await asyncio.sleep(0.3)
    assert await kinds(postgres_url, 1) and await kinds(postgres_url, 2) == []


async def test_two_processes_share_one_pace_into_a_conversation(
    two_batons: tuple[SlackDriver, SlackDriver], slack: SlackEmulator
) -> None:
    # Twelve requests for Maria's approval, started through both processes at once: together they may post into
    # her DM a burst of five and then about one a second, as one process would, not a burst from each.
    first, second = two_batons

    async def requests_of(person: str, driver: SlackDriver) -> None:
        for number in range(4):
            await start_expense(driver, slack, person, 10 + number, f"Taxi ride {person[3:]} {number}")

    await asyncio.gather(requests_of(ALICE, first), requests_of("U0BOB", second), requests_of(NEWBIE, first))
    await slack.wait_for(
        lambda: len([m for m in slack.dm_messages(MARIA) if find_action(m.blocks, "task_approve")]) == 12,
        30,
        what="Maria's twelve tasks",
    )
    posts = sorted(c.at for c in slack.calls_to("chat.postMessage") if c.ok and c.args.get("channel") == MARIA)
    assert len(posts) == 12
    gaps = [posts[i + 5] - posts[i] for i in range(len(posts) - 5)]
    assert min(gaps) >= 0.9, gaps  # six posts need a second at least (burst five, one a second)


# ---- three real processes, one killed ------------------------------------------------------------------------


def big_org(workflows: Path, *, directors: int, managers_each: int, employees_each: int) -> list[tuple[str, str, str]]:
    """An org.yaml of directors, their managers and the managers' teams; return (employee, manager, director)."""
    people: dict[str, dict[str, str]] = {}
    chains = []
    for d in range(directors):
        director = f"U0D{d:03d}"
        people[director] = {"name": f"Director {d}", "tz": "UTC"}
        for m in range(managers_each):
            manager = f"U0M{d:03d}{m:02d}"
            people[manager] = {"name": f"Manager {d}-{m}", "manager": director, "tz": "UTC"}
            for e in range(employees_each):
                employee = f"U0E{d:03d}{m:02d}{e:02d}"
                people[employee] = {"name": f"Employee {d}-{m}-{e}", "manager": manager, "tz": "UTC"}
                chains.append((employee, manager, director))
    org = {"people": people, "groups": {"admins": ["U0ADMIN"]}, "calendar": ALWAYS_OPEN}
    (workflows / "org.yaml").write_text(yaml.safe_dump(org))
    return chains


class Fleet:
    """Signed requests spread round-robin over the processes still alive; a request to a dead one goes elsewhere."""

    def __init__(self, processes: list[BatonProcess], slack: SlackEmulator) -> None:
        self.processes = processes
        self.alive = list(range(len(processes)))
        self.drivers = [SlackDriver(p.url, SIGNING_SECRET, slack, timeout=30) for p in processes]
        self._turn = itertools.count()

    async def send(self, request: Callable[[SlackDriver], Awaitable[Response]]) -> Response:
        for _attempt in range(6):
            index = self.alive[next(self._turn) % len(self.alive)]
            try:
                return await request(self.drivers[index])
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)  # that process just died: a person would click again
        raise AssertionError("no Baton process answered")

    def two_processes(self) -> tuple[SlackDriver, SlackDriver]:
        """Drivers for two different live processes, taking turns."""
        first = next(self._turn) % len(self.alive)
        return self.drivers[self.alive[first]], self.drivers[self.alive[(first + 1) % len(self.alive)]]

    async def close(self) -> None:
        for driver in self.drivers:
            await driver.aclose()


def posted(slack: SlackEmulator) -> Counter[tuple[str, str]]:
    """Every message Baton posted, by (conversation, text), from the emulator's record of calls."""
    counts: Counter[tuple[str, str]] = Counter()
    for call in slack.calls_to("chat.postMessage"):
        if call.ok:
            counts[(str(call.args.get("channel")), str(call.args.get("text")))] += 1
    return counts


def task_dm(slack: SlackEmulator, manager: str, item: str) -> Message | None:
    return next(
        (m for m in slack.dm_messages(manager) if find_action(m.blocks, "task_approve") and item in m.text), None
    )


@pytest.mark.slow
async def test_three_processes_run_300_workflows_once_each_while_one_is_killed(
    tmp_path: Path, slack: SlackEmulator, postgres_url: str
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "swift.yaml").write_text(SWIFT)
    chains = big_org(workflows, directors=25, managers_each=3, employees_each=4)  # 300 requesters
    for person in {p for chain in chains for p in chain}:
        slack.add_user(person, name=person.lower(), tz="UTC")
    for manager in {chain[1] for chain in chains}:  # each team starts its requests in its own channel
        slack.add_channel(f"C{manager[1:]}", f"team-{manager.lower()}")
    processes = [
        # 300 requests in seconds are far beyond Slack's chat.update/views.publish tiers; this test is about
        # exactly-once across processes, so tier pacing is off (per-conversation pacing stays on).
        BatonProcess(
            slack, postgres_url, workflows, tmp_path / f"baton-{n}.log", outbox_lease_seconds="24",
            slack_api_timeout_seconds="5", slack_tier_pacing="false",
        )
        for n in range(3)
    ]
    fleet = Fleet(processes, slack)
    victim = 1
    in_flight: list[tuple[str, str]] = []  # what the victim had claimed but not recorded as sent when it died
    started = 0
    limit = asyncio.Semaphore(40)
    try:
        await asyncio.gather(*(process.start(timeout=30) for process in processes))

        async def kill_midway() -> None:
            while started < 150:
                await asyncio.sleep(0.05)
            slack.inject("chat.postMessage", Delay(0.4), times=30)  # calls in flight at the moment of death
            connection = await asyncpg.connect(postgres_url)
            claimed = "SELECT conversation, args FROM outbox WHERE status = 'pending' AND locked_by LIKE $1"
            mine = f"%:{processes[victim].pid}:%"
            for _ in range(500):  # kill the victim while it holds claims, so that the takeover is exercised
                if await connection.fetchval(f"SELECT EXISTS ({claimed})", mine):
                    break
                await asyncio.sleep(0.01)
            fleet.alive.remove(victim)
            processes[victim].kill()
            rows = await connection.fetch(claimed, mine)
            await connection.close()
            in_flight.extend((row[0], str(json.loads(row[1]).get("text"))) for row in rows)

        async def run(number: int, employee: str, manager: str, director: str) -> None:
            nonlocal started
            item = f"item {number:03d}"
            async with limit:
                view = None
                for _attempt in range(3):  # a process killed between its ack and views.open shows no form:
                    await fleet.send(  # the person types the command again
                        lambda d: d.send_command(employee, "start swift", channel_id=f"C{manager[1:]}")
                    )
                    with contextlib.suppress(TimeoutError):
                        view = await slack.wait_for(lambda: (slack.open_views(employee) or [None])[-1], 15)
                        break
                assert view is not None, f"no start form for {employee}"
                submitted = await fleet.send(lambda d: d.submit_view(employee, view, field_values(item=item)))
                assert submitted.status == 200, submitted.body
                started += 1
            task = await slack.wait_for(lambda: task_dm(slack, manager, item), 60, what=f"the task for {item}")
            await slack.wait_for(
                lambda: any(m.text.startswith("Reminder") and item in text_of(m) for m in slack.dm_messages(manager)),
                60,
                what=f"the reminder of {item}",
            )
            await slack.wait_for(
                lambda: any("Stuck" in m.text and item in text_of(m) for m in slack.dm_messages(director)),
                60,
                what=f"the escalation of {item}",
            )
            async with limit:
                if number % 10 == 0:  # a double click, its two requests landing on two processes at once
                    clicks = [driver.click_button_in(task, manager, "task_approve") for driver in fleet.two_processes()]
                    assert [answer.status for answer in await asyncio.gather(*clicks)] == [200, 200]
                else:
                    clicked = await fleet.send(lambda d: d.click_button_in(task, manager, "task_approve"))
                    assert clicked.status == 200
            await slack.wait_for(
                lambda: any("*completed*" in text_of(m) and item in text_of(m) for m in slack.dm_messages(employee)),
                60,
                what=f"the end of {item}",
            )

        await asyncio.gather(kill_midway(), *(run(n, *chain) for n, chain in enumerate(chains)))
        connection = await asyncpg.connect(postgres_url)
        try:
            for _ in range(600):  # the last in-place updates are still on their way (paced per conversation)
                if not await connection.fetchval("SELECT COUNT(*) FROM outbox WHERE status = 'pending'"):
                    break
                await asyncio.sleep(0.1)
            states = dict(await connection.fetch("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
            rows = await connection.fetch(
                "SELECT instance_id, kind, COUNT(*) FROM events GROUP BY instance_id, kind"
            )
            instances = [row[0] for row in await connection.fetch("SELECT id FROM instances")]
        finally:
            await connection.close()
        log = {(row[0], row[1]): row[2] for row in rows}
        assert len(instances) == len(chains)  # a start the killed process left unfinished leaves a gap in the ids
        for instance_id in instances:  # the event log: exactly once each
            for kind in ("instance_started", "reminder_sent", "escalated", "task_approved", "instance_completed"):
                assert log.get((instance_id, kind)) == 1, (instance_id, kind, log.get((instance_id, kind)))
        assert set(states) == {"sent"}, states  # all delivered, nothing given up
        # Slack: one task DM, one reminder and one escalation per request; a message the killed process had
        # sent but not yet recorded may go out again (delivery is at least once), and nothing else.
        twice = {key: count for key, count in posted(slack).items() if count > 1}
        assert set(twice) <= set(in_flight) and sum(twice.values()) - len(twice) <= len(in_flight), (twice, in_flight)
        assert in_flight, "the killed process held no outbox claims; the takeover was not exercised"
    finally:
        await fleet.close()
        for process in processes:
            process.stop()
