"""The figures aggregated in SQL are exactly those of the row-based report they replaced (tests/row_report.py),
on a generated history with parallel steps, rejections, cancellations, overdue tasks, deadlines, snoozes,
hand-overs, ratings and costs, on SQLite and PostgreSQL; and again once the older requests are purged for
retention, their tallies standing in."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.catalog import load_catalog
from bot.clock import Clock, OffsetClock
from bot.engine import OrgChart, OrgDirectory, Person
from bot.engine.kpi_facts import compute_report
from bot.engine.kpis import KpiReport, Period, parse_period
from bot.migrate import migrate
from bot.reporting.kpi_report import load_facts, report_for, teams_of
from bot.retention import RetentionSweep
from bot.service import Acted, Refused, Started, WorkflowService
from bot.slack.outgoing import BlockKitRenderer
from bot.store import Store, store_for
from bot.store.report_rows import REQUEST_COLUMNS, TASK_COLUMNS, final_rows
from bot.workspace import Workspace

from .databases import UNDO_15, query, run_statements
from .row_report import compute_kpis, load_rows
from .story import WORKFLOWS, copy_workflows

START = datetime(2026, 8, 3, 8, 0, tzinfo=UTC)  # a Monday
NOW = datetime(2026, 11, 18, 15, 30, 0, 250_000, tzinfo=UTC)  # a Wednesday, with microseconds
PEOPLE = [f"U0P{n:02d}" for n in range(24)]
MANAGERS = [f"U0M{n}" for n in range(4)]
FINANCE, LEGAL = ("U0FIN1", "U0FIN2"), ("U0LEG1", "U0FIN2")  # U0FIN2 sits in both queues
RATES = {("purchase", "approve"): 60.0, ("purchase", "finance"): 90.0, ("leave", "legal"): 45.5}


def manager_of(person: str) -> str:
    return MANAGERS[PEOPLE.index(person) // 6]


@dataclass
class History:
    instances: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    assignees: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)  # (instance, workflow, kind, at, actor, task, data)


def generate(requests: int = 360, seed: int = 16) -> History:
    """A history as the engine writes it, its times whole microseconds (they come from datetimes)."""
    rng = random.Random(seed)
    history = History()
    for number in range(1, requests + 1):
        _request(number, rng, history)
    history.events.sort(key=lambda event: event[3])  # written in time order, as the engine appends them
    return history


def _request(number: int, rng: random.Random, history: History) -> None:
    """One request's rows and events."""
    span = int((NOW - START).total_seconds() * 1_000_000)
    if True:
        workflow = rng.choice(("purchase", "purchase", "leave", "access"))
        requester = rng.choice(PEOPLE)
        created = START + timedelta(microseconds=rng.randrange(span))
        log: list[tuple[str, datetime, str | None, str | None, dict[str, Any]]] = []

        def emit(kind: str, when: datetime, task: str | None = None, actor: str | None = None, **data: Any) -> None:
            log.append((kind, when, actor, task, data))

        def later(moment: datetime, hours: float) -> datetime:
            return moment + timedelta(microseconds=int(rng.expovariate(1 / hours) * 3600e6) + 1)

        def task(step: str, people: Sequence[str], opened: datetime, due_hours: float | None) -> str:
            task_id = f"{number}.{step}"
            emit("task_assigned", opened, task_id, step=step, assignees=list(people))
            history.assignees.extend((task_id, person) for person in people)
            due = opened + timedelta(hours=due_hours) if due_hours is not None else None
            history.tasks.append([task_id, number, step, "open", opened, due, None, None])
            return task_id

        def close(task_id: str, status: str, when: datetime, actor: str, kind: str) -> None:
            row = next(row for row in history.tasks if row[0] == task_id)
            row[3], row[6], row[7] = status, actor, when
            emit(kind, when, task_id, actor, step=row[2])

        emit("instance_started", created, actor=requester)
        status, finished = "running", None
        approve = task("approve", [manager_of(requester)], created, 24.0)
        if rng.random() < 0.15:  # the manager snoozes it (until an aware time, a naive one or nonsense)
            snoozed = later(created, 2)
            until = rng.choice([later(snoozed, 5).isoformat(), "2026-09-01T10:00:00", "soon"])
            emit("task_snoozed", snoozed, approve, manager_of(requester), until=until)
            if rng.random() < 0.4:
                emit("task_reassigned", later(snoozed, 1), approve, manager_of(requester), to="U0P00")
        decided = later(created, 20)
        roll = rng.random()
        if decided > NOW:
            pass  # still with the manager
        elif roll < 0.08:
            cancelled = later(created, 6)
            if cancelled < NOW:
                row = next(row for row in history.tasks if row[0] == approve)
                row[3] = "cancelled"
                emit("task_cancelled", cancelled, approve, requester)
                emit("instance_cancelled", cancelled, actor=requester)
                status, finished = "cancelled", cancelled
        elif roll < 0.13:
            close(approve, "rejected", decided, manager_of(requester), "task_rejected")
            emit("instance_rejected", decided, actor=manager_of(requester))
            status, finished = "rejected", decided
        elif roll < 0.15:  # the deadline rejects it
            deadline = next(row for row in history.tasks if row[0] == approve)[5]
            if deadline < NOW:
                emit("task_timed_out", deadline, approve, action="reject")
                row = next(row for row in history.tasks if row[0] == approve)
                row[3], row[7] = "rejected", deadline
                emit("instance_rejected", deadline)
                status, finished = "rejected", deadline
        elif roll < 0.16:  # a step's call failed
            emit("instance_failed", decided, error="webhook")
            row = next(row for row in history.tasks if row[0] == approve)
            row[3] = "cancelled"
            status, finished = "failed", decided
        else:
            if 0.30 < roll < 0.36:  # sent back for changes, resubmitted, reopened: the first opening and closing count
                asked = decided - timedelta(hours=rng.randint(1, 5))
                emit("changes_requested", asked, approve, manager_of(requester), step="approve")
                emit("form_resubmitted", asked + timedelta(minutes=30), approve, requester)
                emit("revision_requested", asked + timedelta(minutes=31), approve, step="approve")
            if roll < 0.22:  # the deadline decides: approved at its due time
                deadline = next(row for row in history.tasks if row[0] == approve)[5]
                emit("task_timed_out", deadline, approve, action="approve")
                row = next(row for row in history.tasks if row[0] == approve)
                row[3], row[7] = "approved", deadline
                decided = deadline
            else:
                if roll < 0.26:
                    emit("task_timed_out", decided - timedelta(hours=1), approve, action="remind")
                close(approve, "approved", decided, manager_of(requester), "task_approved")
            finance = task("finance", FINANCE, decided, 48.0)
            legal = task("legal", LEGAL, decided + timedelta(minutes=rng.randrange(90)), None)  # side by side
            done = [later(decided, 30), later(decided, 10)]
            if all(moment < NOW for moment in done) and rng.random() < 0.9:
                close(finance, "done", done[0], FINANCE[0], "task_completed")
                if rng.random() < 0.1:
                    emit("reminder_sent", decided + timedelta(hours=47), finance)
                    emit("escalated", decided + timedelta(hours=50), finance)
                close(legal, "done", done[1], LEGAL[1], "task_completed")
                finished = max(done) + timedelta(seconds=rng.randrange(3600))
                if finished < NOW:
                    emit("instance_completed", finished, actor=FINANCE[0])
                    status = "completed"
                    if rng.random() < 0.5:
                        rated = later(finished, 12)
                        if rated < NOW:
                            comment = rng.choice([None, "", "quick", "slow"])
                            emit("request_rated", rated, actor=requester, score=rng.randint(1, 5), comment=comment)
                else:
                    finished = None
        if rng.random() < 0.03:
            emit("delivery_failed", created + timedelta(seconds=1), error="channel_not_found")
        log = [entry for entry in log if entry[1] <= NOW]
        updated = max(entry[1] for entry in log)
        history.instances.append(
            (number, workflow, f"v-{workflow}", requester, status, "{}", created, updated, finished)
        )
        for kind, when, actor, task_id, data in log:
            history.events.append((number, workflow, kind, when, actor, task_id, json.dumps(data)))


def _epoch(value: Any) -> Any:
    return value.timestamp() if isinstance(value, datetime) else value


INSERTS = [
    ("definitions", "version, name, body, stored_at"),
    ("instances", "id, workflow, definition_version, requester, status, state, created_at, updated_at, finished_at"),
    ("tasks", "id, instance_id, step_id, status, created_at, due_at, acted_by, acted_at"),
    ("task_assignees", "task_id, user_id"),
    ("events", "instance_id, workflow, kind, at, actor, task_id, data"),
]


def _rows(history: History) -> list[list[tuple[Any, ...]]]:
    definitions = [(f"v-{name}", name, "{}", 0.0) for name in ("purchase", "leave", "access")]
    tasks = [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in history.tasks]
    tables = [definitions, history.instances, tasks, history.assignees, history.events]
    return [[tuple(_epoch(value) for value in row) for row in table] for table in tables]


async def _fill(database_url: str, history: History, store: Store) -> Store:
    """Write the history straight into the tables, as a Baton of schema 14 would have (no report rows), then
    migrate to 15 again: its backfill writes the report rows; the store, reopened."""
    await _insert(database_url, history)
    await store.close()
    await run_statements(database_url, UNDO_15)
    await migrate(database_url)
    reopened = store_for(database_url)
    await reopened.open()
    return reopened


async def _insert(database_url: str, history: History) -> None:
    tables = _rows(history)
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            for (table, columns), rows in zip(INSERTS, tables, strict=True):
                marks = ", ".join("?" * len(columns.split(", ")))
                db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        return
    connection = await asyncpg.connect(database_url)
    try:
        for (table, columns), rows in zip(INSERTS, tables, strict=True):
            marks = ", ".join(f"${n + 1}" for n in range(len(columns.split(", "))))
            await connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    finally:
        await connection.close()


_REPORTS = {person: manager_of(person) for person in PEOPLE} | dict.fromkeys((*MANAGERS, *FINANCE, *LEGAL), "U0BOSS")
DIRECTORY = OrgDirectory(
    OrgChart(people={person: Person(name=person, manager=boss) for person, boss in _REPORTS.items()})
)
PERIODS = [
    parse_period("30d", NOW),
    parse_period("12w", NOW),
    parse_period("2026-10", NOW),
    parse_period("2026-Q3", NOW),
    parse_period("2026", NOW),  # ends after now: its last week is under way
    Period(START + timedelta(days=17, microseconds=3), NOW - timedelta(days=40), "an odd stretch"),
]


async def _compare(store: Any) -> KpiReport | None:
    """Both reports of every period and choice of workflows: equal; the year's over every workflow."""
    teams = teams_of(DIRECTORY)
    year = None
    for period in PERIODS:
        for workflows in (None, ["purchase"], ["leave", "access"]):
            rows = await load_rows(store, period, workflows=workflows)
            before = compute_kpis(rows, period, now=NOW, teams=teams, rates=RATES)
            facts = await load_facts(
                store, period, now=NOW, workflows=workflows, rated_workflows={name for name, _ in RATES}
            )
            after = compute_report(facts, period, now=NOW, teams=teams, rates=RATES)
            assert after == before, (period.label, workflows)
            summed = await report_for(store, period, now=NOW, workflows=workflows, teams=teams, rates=RATES)
            assert summed == before, (period.label, workflows)
            if period.label == "2026" and workflows is None:
                year = before
    return year


async def test_the_aggregated_figures_are_exactly_those_of_the_row_based_report(database_url: str) -> None:
    history = generate()
    store = store_for(database_url)
    await store.open()
    try:
        store = await _fill(database_url, history, store)
        year = await _compare(store)
    finally:
        await store.close()
    assert year is not None
    # the history exercises what the figures are made of
    assert year.total.started > 300 and year.total.completed > 150 and year.total.rejected and year.total.cancelled
    assert year.total.failed
    assert year.total.overdue and year.total.reminders and year.total.timeouts and year.total.delivery_failures
    assert year.flow.requests and year.flow.costed and 0 < (year.flow.efficiency or 0) < 1
    assert year.satisfaction.count and any(team.waiting.count for team in year.teams)
    assert any(week.open_at_end for week in year.task_weeks)


class _At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def test_with_requests_purged_for_retention_both_reports_add_their_tallies_alike(database_url: str) -> None:
    """Requests finished more than 60 days before now purged (their tallies kept, several requests a day): every
    report adds the tallies as the row-based one did, medians standing in at each day's mean included."""
    history = generate()
    store = store_for(database_url)
    await store.open()
    try:
        store = await _fill(database_url, history, store)
        clock: Clock = _At(NOW)
        purged = await RetentionSweep(store, clock, days=60).purge_expired(max_batches=None)
        async with store.transaction(read_only=True) as work:
            tallies = await work.purged_tallies(START - timedelta(days=7), NOW, workflows=None)
        requests, _ = await _stored_rows(store)  # the purged requests' report rows went with them
        year = await _compare(store)
    finally:
        await store.close()
    assert (
        purged.requests > 100
        and year is not None
        and len(requests)
        == len(history.instances) - purged.requests - sum(1 for row in history.instances if row[4] == "running")
    )
    assert any(t.measure == "completed" and t.count > 1 for t in tallies)  # a day's mean stands in for several
    assert any(t.measure == "task_decided" and t.count > 1 and t.overdue for t in tallies)
    assert any(t.measure == "reminder_sent" for t in tallies)
    assert year.total.started > 300 and year.total.completed > 150


# ---- the report rows the store writes as requests finish -----------------------------------------------------

ALICE, BOB, MARIA, FIONA = "U0ALICE", "U0BOB", "U0MARIA", "U0FIONA"
LIVE_RATES = {("expense-approval", "manager_approval"): 80.0, ("expense-approval", "finance_approval"): 120.5}


async def _stored_rows(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The report rows in the tables, and those the migration's backfill makes of the same history now."""
    async with store.transaction(read_only=True) as work:
        fetch = work._db.all  # type: ignore[attr-defined]
        stored = (
            {tuple(r) for r in await fetch(f"SELECT {', '.join(REQUEST_COLUMNS)} FROM report_requests", ())},
            {tuple(r) for r in await fetch(f"SELECT {', '.join(TASK_COLUMNS)} FROM report_tasks", ())},
        )
        finished = [int(r[0]) for r in await fetch("SELECT id FROM instances WHERE status <> 'running'", ())]
        requests, tasks = await final_rows(fetch, finished) if finished else ([], [])
    assert stored == ({tuple(r) for r in requests}, {tuple(r) for r in tasks})
    return stored


async def _exact(store: Store, now: datetime, periods: Sequence[Period]) -> KpiReport:
    """Every period's report over every workflow and over one: the row-based report's figures; the first's."""
    teams = teams_of(OrgDirectory(load_catalog(WORKFLOWS).org))
    first = None
    for period in periods:
        for workflows in (None, ["expense-approval"]):
            rows = await load_rows(store, period, workflows=workflows)
            before = compute_kpis(rows, period, now=now, teams=teams, rates=LIVE_RATES)
            summed = await report_for(store, period, now=now, workflows=workflows, teams=teams, rates=LIVE_RATES)
            assert summed == before, (period.label, workflows)
            first = first or summed
    assert first is not None
    return first


async def test_report_rows_are_written_as_requests_finish_and_reports_stay_exact_while_requests_end(
    database_url: str, tmp_path: Path
) -> None:
    """Requests decided, snoozed, handed over, rejected and cancelled through the service: each finishing
    transaction writes the request's report rows (the same rows migration 15 would write), and reports over periods
    that requests end in the middle of, before and after they end, are the row-based report's."""
    clock = OffsetClock(start=START)
    workflows = copy_workflows(tmp_path / "workflows")
    store = store_for(database_url)
    await store.open()
    service = WorkflowService(
        Workspace(store, load_catalog(workflows), admins=(FIONA,), clock=clock), renderer=BlockKitRenderer()
    )
    try:
        first_tasks: list[str] = []
        for number in range(8):
            form = {"amount": 1500 if number % 3 == 0 else 120, "currency": "EUR", "reason": f"trip number {number}"}
            started = await service.start("expense-approval", (ALICE, BOB)[number % 2], form)
            assert isinstance(started, Started), started
            first_tasks.append(started.instance.open_tasks()[0].id)
            clock.advance(timedelta(hours=5, microseconds=number))
        assert await service.snooze(first_tasks[1], MARIA, "1h")
        assert await service.reassign(first_tasks[2], MARIA, "U0DIRK")
        clock.advance(timedelta(hours=3))
        finance: list[str] = []
        for index, task_id in enumerate(first_tasks[:6]):
            actor = "U0DIRK" if index == 2 else MARIA
            decision = "reject" if index == 4 else "approve"
            acted = await service.act(task_id, actor, decision, "no receipt" if index == 4 else None)
            assert isinstance(acted, Acted), acted
            finance += [task.id for task in acted.instance.open_tasks()]
            clock.advance(timedelta(hours=2))
        assert not isinstance(await service.cancel(int(first_tasks[6].split(".")[0]), ALICE), Refused)
        middle = clock.now()
        periods = [Period(START, middle + timedelta(days=1), "so far"), Period(START, middle, "until now")]
        stored = await _stored_rows(store)
        assert len(stored[0]) == 5  # three approved under 1000 (done), one rejected, one cancelled
        await _exact(store, middle, periods)
        clock.advance(timedelta(days=1))
        for task_id in finance:  # the requests over 1000 end now, in the middle of the period below
            assert isinstance(await service.act(task_id, FIONA, "approve"), Acted)
        clock.advance(timedelta(hours=1))
        later = clock.now()
        stored = await _stored_rows(store)
        report = await _exact(store, later, [Period(START, later + timedelta(days=1), "so far"), *periods])
    finally:
        await store.close()
    assert finance and report.total.completed >= 4 and report.total.rejected == 1 and report.total.cancelled == 1
    assert report.flow.requests == len(stored[0]) and report.flow.costed and report.flow.cost


async def test_a_decision_whose_report_rows_cannot_be_written_is_not_committed(tmp_path: Path) -> None:
    """The report rows commit with the events that finish a request, or nothing does: with their write refused (a
    trigger in the database), the approval that would finish the request fails and leaves it as it was. Rows that
    an older Baton left unwritten are written when a store opens."""
    url = f"sqlite:///{tmp_path / 'baton.db'}"
    store = store_for(url)
    await store.open()
    service = WorkflowService(
        Workspace(store, load_catalog(copy_workflows(tmp_path / "workflows")), admins=(FIONA,), clock=OffsetClock()),
        renderer=BlockKitRenderer(),
    )
    try:
        started = await service.start("expense-approval", ALICE, {"amount": 120, "currency": "EUR", "reason": "a taxi"})
        assert isinstance(started, Started), started
        task_id = started.instance.open_tasks()[0].id
        refuse = "CREATE TRIGGER refused BEFORE INSERT ON report_requests BEGIN SELECT RAISE(ABORT, 'refused'); END"
        await run_statements(url, [refuse])
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            await service.act(task_id, MARIA, "approve")
        assert await query(url, "SELECT status FROM instances") == [("running",)]
        assert not await query(url, "SELECT kind FROM events WHERE kind IN ('task_approved', 'instance_completed')")
        await run_statements(url, ["DROP TRIGGER refused"])
        assert isinstance(await service.act(task_id, MARIA, "approve"), Acted)
        assert await query(url, "SELECT status FROM report_requests") == [("completed",)]
        written = await _stored_rows(store)
    finally:
        await store.close()
    # As if a Baton of schema 14, still sweeping beside this one in a rolling upgrade, had finished the request:
    # no report rows. A store writes the missing ones as it opens.
    await run_statements(url, ["DELETE FROM report_tasks", "DELETE FROM report_requests"])
    store = store_for(url)
    await store.open()
    try:
        assert await _stored_rows(store) == written
    finally:
        await store.close()
