"""Flow efficiency, cost per request, tasks per week and satisfaction figures: hand-built histories with known
times, then a history made through the real service and store, each checked against numbers worked out by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.catalog import load_catalog
from bot.engine import Decision, Instance
from bot.engine.flow import TaskWeek, step_rates
from bot.engine.kpis import parse_period
from bot.engine.satisfaction import RatingRow, satisfaction_figures
from bot.reporting.kpi_report import build_report
from bot.reporting.summary import report_text, tasks_chart_png
from bot.service import Acted, Refused, Started, WorkflowService
from bot.slack.outgoing import BlockKitRenderer
from bot.slack.wording import SLACK_WORDING
from bot.store import Store, store_for
from bot.workspace import Workspace

from .row_report import FlowEvent, TaskSpan, flow_figures, request_flows, task_weeks
from .story import copy_workflows

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday, 09:00 UTC
HOUR = 3600.0
ALICE, BOB, SAM, MARIA, FIONA = "U0ALICE", "U0BOB", "U0SAM", "U0MARIA", "U0FIONA"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def event(instance: int, kind: str, hours: float, task: str | None = None, **data: Any) -> FlowEvent:
    return FlowEvent(instance, "purchase", kind, at(hours), task, data)


RATES = {("purchase", "manager_ok"): 60.0, ("purchase", "finance"): 90.0}

# Request 1, hours after T0:
#   0  started; manager_ok (A) and finance (B) open side by side
#   0.5  B snoozed until 1.5           → B in hands [0, 0.5) and [1.5, 3): 2 h; A [0, 2): 2 h
#   2  A approved; 3 B done            → in someone's hands [0, 3) (the union): 3 h
#   3 .. 4  nothing open (a Workflow Builder step, say)  → waiting 1 h
#   4  ship (C, no rate) opens; 4.25 snoozed until 9, handed on at 4.5 (the snooze ends), done at 5
#                                      → C in hands [4, 4.25) and [4.5, 5): 0.75 h
#   6  completed                       → waiting [5, 6): 1 h
#   cycle 6 h, touch 3.75 h, wait 2.25 h, cost 2 × 60 + 2 × 90 = 300
# Request 2: started 10, manager_ok opens 10, timed out and approved automatically at 10.5, completed 10.5
#   cycle 0.5 h, touch 0.5 h, cost 30
# Request 3 finished after the period; request 4 never finished: neither counts.
HISTORY = (
    event(1, "instance_started", 0),
    event(1, "task_assigned", 0, "1.A", step="manager_ok"),
    event(1, "task_assigned", 0, "1.B", step="finance"),
    event(1, "task_snoozed", 0.5, "1.B", until=at(1.5).isoformat()),
    event(1, "task_approved", 2, "1.A", step="manager_ok"),
    event(1, "task_completed", 3, "1.B", step="finance"),
    event(1, "task_assigned", 4, "1.C", step="ship"),
    event(1, "task_snoozed", 4.25, "1.C", until=at(9).isoformat()),
    event(1, "task_reassigned", 4.5, "1.C"),
    event(1, "task_completed", 5, "1.C", step="ship"),
    event(1, "instance_completed", 6),
    event(2, "instance_started", 10),
    event(2, "task_assigned", 10, "2.A", step="manager_ok"),
    event(2, "task_timed_out", 10.5, "2.A", action="approve"),
    event(2, "instance_completed", 10.5),
    event(3, "instance_started", 20),
    event(3, "task_assigned", 20, "3.A", step="manager_ok"),
    event(3, "task_rejected", 200, "3.A", step="manager_ok"),
    event(3, "instance_rejected", 200),
    event(4, "instance_started", 30),
    event(4, "task_assigned", 30, "4.A", step="manager_ok"),
)


def test_touch_wait_and_cost_of_each_request_follow_its_events() -> None:
    flows = {flow.instance_id: flow for flow in request_flows(HISTORY, RATES)}
    assert set(flows) == {1, 2, 3}  # request 4 has not finished
    one, two = flows[1], flows[2]
    assert (one.cycle, one.touch, one.wait) == (6 * HOUR, 3.75 * HOUR, 2.25 * HOUR)
    assert one.efficiency == pytest.approx(3.75 / 6)
    assert one.cost == pytest.approx(300.0) and one.costed
    assert (two.cycle, two.touch, two.cost) == (0.5 * HOUR, 0.5 * HOUR, pytest.approx(30.0))
    assert two.efficiency == 1.0


def test_the_periods_flow_efficiency_and_cost_per_request_add_up_its_finished_requests() -> None:
    figures = flow_figures(request_flows(HISTORY, RATES), T0, at(100))
    assert figures.requests == 2  # request 3 ended at 200 h, after the period
    assert (figures.touch, figures.wait) == (4.25 * HOUR, 2.25 * HOUR)
    assert figures.efficiency == pytest.approx(4.25 / 6.5)
    assert figures.cost == pytest.approx(330.0)
    assert figures.cost_per_request == pytest.approx(165.0)
    unpriced = flow_figures(request_flows(HISTORY, {}), T0, at(100))
    assert unpriced.efficiency == pytest.approx(4.25 / 6.5) and unpriced.cost_per_request is None


def test_a_steps_own_cost_per_hour_wins_over_its_groups(tmp_path: Path) -> None:
    workflows = load_catalog(_with_costs(copy_workflows(tmp_path / "workflows", purchase=PURCHASE))).workflows
    rates = step_rates([workflows["purchase"]], {"finance": 90.0, "legal": 200.0})
    assert rates == {("purchase", "manager_ok"): 60.0, ("purchase", "order"): 90.0, ("purchase", "review"): 75.0}


def test_tasks_per_week_count_opened_decided_and_open_at_each_weeks_end() -> None:
    monday = T0.replace(hour=0)
    spans = [
        TaskSpan("a", "w", monday - timedelta(days=3), monday + timedelta(days=1), True),  # from the week before
        TaskSpan("b", "w", monday + timedelta(days=2), monday + timedelta(days=8), True),  # decided next week
        TaskSpan("c", "w", monday + timedelta(days=3), monday + timedelta(days=4), False),  # cancelled
        TaskSpan("d", "w", monday + timedelta(days=9), None, False),  # still open
    ]
    weeks = [monday.date(), monday.date() + timedelta(days=7)]
    assert task_weeks(spans, weeks, monday, monday + timedelta(days=10)) == (
        TaskWeek(date(2026, 11, 2), opened=2, decided=1, open_at_end=1),
        TaskWeek(date(2026, 11, 9), opened=1, decided=1, open_at_end=1),  # its end is now, day 10
    )


def test_satisfaction_counts_each_requests_latest_rating_against_the_period_before() -> None:
    def rated(event_id: int, instance: int, days: float, score: int, comment: str | None = None) -> RatingRow:
        return RatingRow(event_id, instance, "purchase", T0 + timedelta(days=days), score, comment)

    rows = [
        rated(1, 10, -20, 2),  # the period before: 2 and 4 → 3.0
        rated(2, 11, -15, 4),
        rated(3, 12, -5, 1),  # replaced in this period by a 3: counts here, not before
        rated(4, 12, 2, 3, "better after the call"),
        rated(5, 13, 3, 5, "fast"),
        rated(6, 14, 4, 5),
        rated(7, 15, 5, 4),
    ]
    figures = satisfaction_figures(rows, T0, T0 + timedelta(days=10), T0 - timedelta(days=30))
    assert (figures.count, figures.average, figures.distribution) == (4, 4.25, (0, 0, 1, 1, 2))
    assert [(row.instance_id, row.comment) for row in figures.comments] == [(12, "better after the call"), (13, "fast")]
    assert (figures.previous_count, figures.previous_average, figures.arrow) == (2, 3.0, "↑")


# ---- the same figures from a history made through the real service and store ----------------------

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
    cost_per_hour: 60
  - id: order
    type: task
    title: "Order {form.item}"
    assignee: group:finance
    due: 2d
  - id: review
    type: task
    title: "Review {form.item}"
    assignee: group:legal
    cost_per_hour: 75
    when: form.item == "never"
"""


def _with_costs(directory: Path) -> Path:
    """org.yaml with a legal group, and an hour of finance's time costing 90."""
    org = directory / "org.yaml"
    costs = "\ncost_per_hour: {finance: 90}\ngroups:\n  legal: [U0DIRK]\n"
    org.write_text(org.read_text().replace("\ngroups:\n", costs, 1))
    return directory


class MovableClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
async def history(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Store, WorkflowService, MovableClock]]:
    """Hours after T0 (Monday 2026-11-02 09:00 UTC):
      #1 Alice  start 0; Maria snoozes 2 (1 h), approves 10; Fiona orders 16        → completed
      #2 Bob    start 2; Maria rejects 5                                            → rejected
      #3 Alice  start 4; Maria's approval still open
      #4 Sam    start 8; Sam cancels 20 (his manager's approval is cancelled)       → cancelled
      #5 Bob    start 170 (next week); Maria approves 172; the order stays open
    """
    catalog = load_catalog(_with_costs(copy_workflows(tmp_path / "workflows", purchase=PURCHASE)))
    assert not catalog.errors, catalog.errors
    clock = MovableClock()
    store = store_for(database_url)
    await store.open()
    workspace = Workspace(store, catalog, admins=("U0ADMIN",), clock=clock, wording=SLACK_WORDING)
    service = WorkflowService(workspace, renderer=BlockKitRenderer())

    async def start(hours: float, requester: str) -> Instance:
        clock.moment = at(hours)
        result = await service.start("purchase", requester, {"item": "chairs"})
        assert isinstance(result, Started), result
        return result.instance

    async def act(hours: float, instance: Instance, actor: str, decision: str) -> Instance:
        clock.moment = at(hours)
        task = instance.open_tasks()[0]
        result = await service.act(task.id, actor, decision, "no" if decision == Decision.REJECT else None)
        assert isinstance(result, Acted), result
        return result.instance

    one, two = await start(0, ALICE), await start(2, BOB)
    clock.moment = at(2)
    assert not isinstance(await service.snooze(one.open_tasks()[0].id, MARIA, "1h"), Refused)
    three = await start(4, ALICE)
    await act(5, two, MARIA, Decision.REJECT)
    four = await start(8, SAM)
    one = await act(10, one, MARIA, Decision.APPROVE)
    await act(16, one, FIONA, Decision.COMPLETE)
    clock.moment = at(20)
    assert not isinstance(await service.cancel(four.id, SAM), Refused)
    five = await start(170, BOB)
    await act(172, five, MARIA, Decision.APPROVE)
    assert three.open_tasks()
    clock.moment = at(15 * 24)
    try:
        yield store, service, clock
    finally:
        await store.close()


async def test_the_report_shows_flow_efficiency_cost_and_tasks_per_week_from_the_stored_history(
    history: tuple[Store, WorkflowService, MovableClock],
) -> None:
    store, service, clock = history
    period = parse_period("2026-11", T0)
    report = await build_report(
        store,
        period,
        now=clock.now(),
        workflows=["purchase"],
        directory=service.directory,
        definitions=list(service.catalog.workflows.values()),
    )
    # #1: cycle 16 h, snoozed 1 h → 15 h in hands; cost 9 h × 60 + 6 h × 90 = 1080
    # #2: cycle 3 h, all in hands; 3 h × 60 = 180.  #4: cycle 12 h, all in hands (cancelled); 12 h × 60 = 720
    flow = report.flow
    assert (flow.requests, flow.touch, flow.wait) == (3, 30 * HOUR, 1 * HOUR)
    assert flow.efficiency == pytest.approx(30 / 31)
    assert flow.cost == pytest.approx(1980.0) and flow.cost_per_request == pytest.approx(660.0)
    assert report.task_weeks == (
        TaskWeek(date(2026, 10, 26), 0, 0, 0),  # November 1st is a Sunday
        TaskWeek(date(2026, 11, 2), opened=5, decided=3, open_at_end=1),  # #3's approval is still open
        TaskWeek(date(2026, 11, 9), opened=2, decided=1, open_at_end=2),  # and #5's order
        TaskWeek(date(2026, 11, 16), opened=0, decided=0, open_at_end=2),  # the week under way, to now
    )
    text = report_text(report, {"purchase": "Purchase"})
    assert "Flow efficiency *97%*" in text and "cost per request *660.00*" in text
    assert "tasks in someone's hands 1 day 6 hours, waiting 1 hour, over 3 finished requests" in text
    png = tasks_chart_png(report, "Purchase")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
