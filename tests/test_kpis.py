"""KPIs: the pure arithmetic, then figures from a generated history checked against values computed by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.catalog import load_catalog
from bot.engine import Decision, Event, Instance
from bot.engine.integrations import ReportSchedule, last_report_due
from bot.engine.kpi_sums import spread_durations, spread_of
from bot.engine.kpis import (
    KpiReport,
    durations,
    looks_like_period,
    parse_period,
    percentile,
    week_label,
    week_start,
)
from bot.reporting.kpi_report import build_report, parse_report_request, visible_workflows
from bot.reporting.summary import chart_png, report_text, span
from bot.service import Acted, Refused, Started, WorkflowService
from bot.slack.outgoing import BlockKitRenderer
from bot.store import SQLiteStore
from bot.workspace import Workspace

from .story import copy_workflows

NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: ISO week 2026-W10
HOUR = 3600.0
ALICE, BOB, SAM, MARIA, SUSI, FIONA, FRANK, DIRK = (
    "U0ALICE", "U0BOB", "U0SAM", "U0MARIA", "U0SUSI", "U0FIONA", "U0FRANK", "U0DIRK",
)  # fmt: skip

PURCHASE = """
name: purchase
title: Purchase
owners: [U0FIONA]
form:
  - {id: item, label: Item}
steps:
  - id: manager_ok
    type: approval
    title: "Approve {form.item}"
    assignee: requester.manager
    due: 1d
  - id: order
    type: task
    title: "Order {form.item}"
    assignee: group:finance
    due: 2d
"""


# ---- pure arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 50, None),
        ([7.0], 90, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([39.0, 42.0, 70.0], 50, 42.0),
        ([39.0, 42.0, 70.0], 90, 64.4),
        ([30.0, 1.0, 29.0, 2.0, 10.0], 90, 29.6),
        ([5.0, 1.0], 0, 1.0),
        ([5.0, 1.0], 100, 5.0),
    ],
)
def test_percentiles_interpolate_between_the_closest_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    assert percentile(values, q) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        (None, NOW - timedelta(days=30), NOW, "last 30 days"),
        ("12w", NOW - timedelta(days=84), NOW, "last 12 weeks"),
        ("1d", NOW - timedelta(days=1), NOW, "last 1 day"),
        ("2026-Q4", datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), "2026-Q4"),
        ("2026-q1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), "2026-Q1"),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), "2026-12"),
        ("2025", datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "2025"),
    ],
)
def test_periods_are_read_as_people_write_them(text: str | None, start: datetime, end: datetime, label: str) -> None:
    period = parse_period(text, NOW)
    assert (period.start, period.end, period.label) == (start, end, label)


@pytest.mark.parametrize("text", ["0d", "9999w", "2026-13", "1900", "soon"])
def test_impossible_periods_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="`"):
        parse_period(text, NOW)


def test_a_report_request_takes_workflow_and_period_in_either_order() -> None:
    assert parse_report_request(["12w", "Expense-Approval"], NOW).workflow == "expense-approval"
    request = parse_report_request(["expense-approval", "2026-Q1"], NOW)
    assert request.period is not None and request.period.label == "2026-Q1"
    assert parse_report_request(["a", "b"], NOW).problem is not None
    assert parse_report_request(["30d", "12w"], NOW).problem is not None
    assert looks_like_period("2026-Q4") and not looks_like_period("expense-approval")


def test_weeks_are_iso_weeks_in_utc() -> None:
    assert week_start(datetime(2026, 3, 8, 23, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert week_label(date(2026, 3, 2)) == "2026-W10"
    assert week_label(date(2026, 12, 28)) == "2026-W53"


def test_a_weekly_report_is_due_at_its_last_scheduled_moment_in_the_calendar_zone() -> None:
    schedule = ReportSchedule(channel="#ops", weekly="Monday 09:00")
    berlin = ZoneInfo("Europe/Berlin")
    wednesday = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    assert last_report_due(schedule, wednesday, berlin) == datetime(2026, 3, 2, 9, 0, tzinfo=berlin)
    monday_early = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # 08:00 in Berlin: this week's is not due yet
    assert last_report_due(schedule, monday_early, berlin) == datetime(2026, 3, 2, 9, 0, tzinfo=berlin)
    with pytest.raises(ValueError):
        ReportSchedule(channel="#ops", weekly="someday")


def test_durations_read_as_people_say_them() -> None:
    assert span(None) == "–"
    assert span(42 * HOUR) == "1 day 18 hours"
    assert span(30) == "under a minute"


# ---- a generated history through the real service and store -----------------------------------------


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def at(self, hours: float) -> None:
        self.moment = T0 + timedelta(hours=hours)


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[tuple[SQLiteStore, WorkflowService]]:
    """Six purchases over two weeks: completed (one late twice), rejected, cancelled, one still open and overdue.

    Times in hours after T0 (Monday 2026-03-02 00:00 UTC); due times are 24 h (manager) and 48 h (order):
      #1 Alice  start 0, Maria approves 10, Fiona orders 70 (late)         → completed, cycle 70 h
      #2 Bob    start 2, Maria approves 32 (late), Frank orders 44         → completed, cycle 42 h
      #3 Alice  start 4, Maria rejects 6                                   → rejected
      #4 Sam    start 8, Sam cancels 20 (Susi's approval is cancelled)     → cancelled
      #5 Bob    start 169, Maria approves 170, order still open (due 218)  → running, overdue now
      #6 Alice  start 171, Maria approves 200 (late), Fiona orders 210     → completed, cycle 39 h
    """
    catalog = load_catalog(copy_workflows(tmp_path / "workflows", purchase=PURCHASE))
    assert not catalog.errors, catalog.errors
    clock = MovableClock(T0)
    store = SQLiteStore(tmp_path / "kpi.db")
    await store.open()
    workspace = Workspace(store, catalog, admins=("U0ADMIN",), clock=clock)
    service = WorkflowService(workspace, renderer=BlockKitRenderer())

    async def start(hours: float, requester: str) -> Instance:
        clock.at(hours)
        result = await service.start("purchase", requester, {"item": "chairs"})
        assert isinstance(result, Started), result
        return result.instance

    async def act(hours: float, instance: Instance, actor: str, decision: str) -> Instance:
        clock.at(hours)
        task = instance.open_tasks()[0]
        result = await service.act(task.id, actor, decision, "no budget" if decision == Decision.REJECT else None)
        assert isinstance(result, Acted), result
        return result.instance

    one, two, three = await start(0, ALICE), await start(2, BOB), await start(4, ALICE)
    await act(6, three, MARIA, Decision.REJECT)
    four = await start(8, SAM)
    one = await act(10, one, MARIA, Decision.APPROVE)
    clock.at(20)
    assert not isinstance(await service.cancel(four.id, SAM, "changed my mind"), Refused)
    two = await act(32, two, MARIA, Decision.APPROVE)
    await act(44, two, FRANK, Decision.COMPLETE)
    await act(70, one, FIONA, Decision.COMPLETE)
    five = await start(169, BOB)
    await act(170, five, MARIA, Decision.APPROVE)
    six = await start(171, ALICE)
    six = await act(200, six, MARIA, Decision.APPROVE)
    await act(210, six, FIONA, Decision.COMPLETE)
    async with store.transaction() as work:  # signals the timers and the sender would have recorded
        order_of_one = next(t.id for t in (await work.instance(1) or one).tasks if t.step_id == "order")
        approval_of_two = next(t.id for t in (await work.instance(2) or two).tasks if t.step_id == "manager_ok")
        approval_of_six = next(t.id for t in (await work.instance(6) or six).tasks if t.step_id == "manager_ok")
        at = T0 + timedelta(hours=60)
        await work.append_events(1, [Event("reminder_sent", at, task_id=order_of_one)] * 3)
        await work.append_events(1, [Event("reminder_sent", T0 - timedelta(days=80), task_id=order_of_one)])
        await work.append_events(2, [Event("escalated", T0 + timedelta(hours=30), task_id=approval_of_two)])
        await work.append_events(3, [Event("delivery_failed", T0 + timedelta(hours=5), data={"error": "x"})])
        await work.append_events(6, [Event("task_timed_out", T0 + timedelta(hours=199), task_id=approval_of_six)])
    clock.at(360)  # Tuesday 2026-03-17 00:00
    try:
        yield store, service
    finally:
        await store.close()


async def march_report(store: SQLiteStore, service: WorkflowService, workflows: list[str] | None) -> KpiReport:
    period = parse_period("2026-03", T0)
    return await build_report(
        store, period, now=T0 + timedelta(hours=360), workflows=workflows, directory=service.directory
    )


async def test_headline_figures_match_the_hand_computed_values(
    history: tuple[SQLiteStore, WorkflowService],
) -> None:
    report = await march_report(*history, ["purchase"])
    total = report.total
    assert (total.started, total.completed, total.rejected, total.cancelled, total.failed) == (6, 3, 1, 1, 0)
    assert total.completion_rate == pytest.approx(3 / 5)
    assert total.cycle_time.count == 3
    assert total.cycle_time.median == pytest.approx(42 * HOUR)
    assert total.cycle_time.p90 == pytest.approx(64.4 * HOUR)
    assert (total.tasks, total.tasks_with_due, total.overdue) == (9, 9, 4)  # the cancelled approval is left out
    assert total.overdue_share == pytest.approx(4 / 9)
    assert (total.reminders, total.escalations, total.delivery_failures, total.timeouts) == (3, 1, 1, 1)
    assert total.errors == 2
    assert report.workflows["purchase"] == total


async def test_each_step_has_its_times_open_work_and_signals(history: tuple[SQLiteStore, WorkflowService]) -> None:
    report = await march_report(*history, ["purchase"])
    steps = {step.step_id: step for step in report.steps}
    approval, order = steps["manager_ok"], steps["order"]
    assert approval.time.count == 5
    assert approval.time.median == pytest.approx(10 * HOUR)
    assert approval.time.p90 == pytest.approx(29.6 * HOUR)
    assert (approval.open_now, approval.overdue, approval.tasks_with_due) == (0, 2, 5)
    assert (approval.escalations, approval.timeouts, approval.reminders) == (1, 1, 0)
    assert order.time.count == 3
    assert order.time.median == pytest.approx(12 * HOUR)
    assert order.time.p90 == pytest.approx(50.4 * HOUR)
    assert (order.open_now, order.overdue, order.tasks_with_due, order.reminders) == (1, 2, 4, 3)
    assert order.overdue_share == pytest.approx(0.5)
    bottleneck = report.bottleneck()
    assert bottleneck is not None and bottleneck.step_id == "order"


async def test_assignee_queues_and_teams_come_from_tasks_and_the_org_chart(
    history: tuple[SQLiteStore, WorkflowService],
) -> None:
    report = await march_report(*history, ["purchase"])
    people = {person.user_id: person for person in report.assignees}
    assert set(people) == {MARIA, FIONA, FRANK}  # Susi's only task was cancelled
    assert people[MARIA].waiting.median == pytest.approx(10 * HOUR)
    assert people[MARIA].waiting.total == pytest.approx(72 * HOUR)
    assert (people[FIONA].waiting.count, people[FIONA].open_now, people[FIONA].overdue) == (3, 1, 2)
    assert people[FIONA].waiting.median == pytest.approx(12 * HOUR)
    slowest = report.slowest_queue()
    assert slowest is not None and slowest.user_id == FIONA  # ties with Frank (the same group task), named first
    teams = {team.manager: team for team in report.teams}
    assert (teams[MARIA].started, teams[MARIA].completed, teams[MARIA].waiting.count) == (5, 3, 0)
    assert (teams[SUSI].started, teams[SUSI].completed) == (1, 0)
    assert (teams[DIRK].started, teams[DIRK].waiting.count, teams[DIRK].open_now, teams[DIRK].overdue) == (0, 8, 1, 4)
    assert teams[DIRK].waiting.median == pytest.approx(11 * HOUR)
    assert (teams[FIONA].waiting.count, teams[FIONA].overdue) == (3, 2)


async def test_the_weekly_trend_compares_the_last_full_week_with_the_one_before(
    history: tuple[SQLiteStore, WorkflowService],
) -> None:
    report = await march_report(*history, ["purchase"])
    weeks = {week.label: week for week in report.weeks}
    assert list(weeks) == ["2026-W09", "2026-W10", "2026-W11", "2026-W12"]
    w10, w11 = weeks["2026-W10"], weeks["2026-W11"]
    assert (w10.started, w10.completed, w10.rejected, w10.cancelled) == (4, 2, 1, 1)
    assert (w11.started, w11.completed) == (2, 1)
    assert w10.cycle_time.median == pytest.approx(56 * HOUR)
    trend = report.trend()
    assert trend is not None and trend.week == date(2026, 3, 9)
    assert (trend.completed, trend.completed_before, trend.arrow, trend.cycle_arrow) == (1, 2, "↓", "↓")


async def test_a_period_or_workflow_filter_leaves_the_rest_out(history: tuple[SQLiteStore, WorkflowService]) -> None:
    store, service = history
    assert (await march_report(store, service, ["expense-approval"])).total.started == 0
    assert (await march_report(store, service, [])).total.started == 0
    everything = await march_report(store, service, None)
    assert everything.total.started == 6
    december = await build_report(
        store, parse_period("2025-12", T0), now=T0, workflows=None, directory=service.directory
    )
    assert (december.total.started, december.total.reminders, december.total.tasks) == (0, 1, 0)


async def test_the_summary_names_the_bottleneck_the_slowest_queue_and_the_trend(
    history: tuple[SQLiteStore, WorkflowService],
) -> None:
    report = await march_report(*history, ["purchase"])
    text = report_text(report, {"purchase": "Purchase"})
    assert "Started *6*" in text and "completion rate *60%*" in text
    assert "Bottleneck step: *order*" in text
    assert f"Slowest queue: <@{FIONA}>" in text
    assert "↓ Throughput: 1 completed in the week of 2026-03-09, 2 the week before" in text
    assert "median 1 day 18 hours" in text  # the cycle time
    png = chart_png(report, "Purchase")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


async def test_reports_are_for_admins_and_the_workflows_owners(history: tuple[SQLiteStore, WorkflowService]) -> None:
    _store, service = history
    workflows = service.catalog.workflows
    assert visible_workflows(FIONA, service.directory, workflows, only="purchase") == ["purchase"]
    assert "expense-approval" in visible_workflows(FIONA, service.directory, workflows)  # she owns it too
    assert "purchase" in visible_workflows("U0ADMIN", service.directory, workflows)
    assert isinstance(visible_workflows(ALICE, service.directory, workflows, only="purchase"), str)
    assert isinstance(visible_workflows(ALICE, service.directory, workflows), str)
    assert isinstance(visible_workflows(FIONA, service.directory, workflows, only="nope"), str)


@pytest.mark.parametrize(
    "micros",
    [
        [7],
        [1, 2],
        [3_000_001, 1, 2_999_999],
        [86_400_000_000 + n * 1_234_567 for n in range(10)],
        [(n * 7_919_000_003) % 900_000_000_001 for n in range(1, 1001)],
        [0, 0, 5, 5, 5, 17],
    ],
)
def test_a_spread_the_database_ranked_gives_the_durations_of_the_values_to_the_last_bit(micros: list[int]) -> None:
    """Count, median, p90 and total from the two ranked values each percentile falls between (what the SQL path
    hands over) equal kpis.durations over every value in seconds; the total is the microseconds summed."""
    assert spread_durations(spread_of(micros)) == durations([value / 1_000_000 for value in micros])
    assert spread_durations(spread_of(micros)).total == sum(micros) / 1_000_000


async def test_a_long_period_read_a_month_at_a_time_adds_up_to_the_same_figures(
    history: tuple[SQLiteStore, WorkflowService],
) -> None:
    store, service = history
    march = await march_report(store, service, ["purchase"])
    quarter = await build_report(  # chunks end on Feb 1 and Mar 4: request #1 and week W10 straddle the second
        store, parse_period("2026-Q1", T0), now=T0 + timedelta(hours=360), workflows=None, directory=service.directory
    )
    assert quarter.total == march.total
    assert quarter.steps == march.steps and quarter.assignees == march.assignees and quarter.teams == march.teams
    assert [w for w in quarter.weeks if w.week >= date(2026, 3, 2)] == list(march.weeks[1:])


def test_a_single_slow_decision_does_not_make_a_bottleneck_when_others_have_more() -> None:
    from .row_report import KpiRows, TaskRow, compute_kpis

    def decided(task_id: str, step: str, hours: float, person: str) -> TaskRow:
        return TaskRow(task_id, 1, "w", step, "done", T0, T0 + timedelta(hours=hours), None, (person,))

    rows = KpiRows(
        tasks=(
            decided("a", "rare", 100, ALICE),
            *(decided(f"b{n}", "busy", 5 + n, BOB) for n in range(3)),
        )
    )
    report = compute_kpis(rows, parse_period("2026-03", T0), now=T0 + timedelta(days=10))
    bottleneck, slowest = report.bottleneck(), report.slowest_queue()
    assert bottleneck is not None and bottleneck.step_id == "busy"
    assert slowest is not None and slowest.user_id == BOB
    alone = compute_kpis(KpiRows(tasks=(decided("a", "rare", 100, ALICE),)), parse_period("2026-03", T0), now=T0)
    assert alone.bottleneck() is not None and alone.trend() is None


def test_tallies_of_purged_requests_give_the_report_the_figures_their_rows_gave() -> None:
    from bot.engine.kpi_facts import KpiFacts, compute_report
    from bot.engine.kpis import EventCount
    from bot.engine.purged import InstanceRow, TaskRow, purged_tallies

    from .row_report import KpiRows, compute_kpis

    def finished(number: int, status: str, hours: float) -> InstanceRow:
        start = T0 + timedelta(days=number, hours=9)
        return InstanceRow(number, "w", ALICE, status, start, start + timedelta(hours=hours))

    def decided(number: int, hours: float, *, due_in: float | None) -> TaskRow:
        start = T0 + timedelta(days=number, hours=9)
        due = start + timedelta(hours=due_in) if due_in is not None else None
        return TaskRow(f"{number}.ok", number, "w", "ok", "approved", start, start + timedelta(hours=hours), due,
                       (MARIA,))  # fmt: skip

    instances = (finished(1, "completed", 5), finished(2, "rejected", 30), finished(9, "completed", 50),
                 finished(16, "cancelled", 1))  # fmt: skip
    tasks = (decided(1, 4, due_in=24), decided(2, 30, due_in=24), decided(9, 49, due_in=None))
    reminded = T0 + timedelta(days=2, hours=10)
    period, now = parse_period("2026-03", T0), T0 + timedelta(days=40)
    live = compute_kpis(
        KpiRows(instances, tasks, (EventCount("w", "ok", "reminder_sent", week_start(reminded), 1),)), period, now=now
    )
    tallies = purged_tallies(instances, tasks, [("w", "ok", "reminder_sent", reminded)])
    purged = compute_kpis(KpiRows(purged=tuple(tallies)), period, now=now)
    assert purged.total == live.total and purged.workflows == live.workflows  # one request a day: medians too
    assert purged.steps == live.steps and purged.weeks == live.weeks
    assert (live.total.started, live.total.completed, live.total.rejected, live.total.overdue) == (4, 2, 1, 1)
    assert purged.assignees == () and live.assignees != ()  # per-person figures are not kept
    outside = compute_kpis(KpiRows(purged=tuple(tallies)), parse_period("2026-05", T0), now=now)
    assert outside.total.started == 0  # a tally counts in the period its day begins in
    # the report Baton computes (from facts the store aggregates) adds the tallies the same way
    aggregated = compute_report(KpiFacts(purged=tuple(tallies)), period, now=now)
    assert aggregated.total == live.total and aggregated.workflows == live.workflows
    assert aggregated.steps == live.steps and aggregated.weeks == live.weeks and aggregated.assignees == ()
    assert compute_report(KpiFacts(purged=tuple(tallies)), parse_period("2026-05", T0), now=now).total.started == 0
