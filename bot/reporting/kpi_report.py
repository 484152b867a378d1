"""KPIs from the event log: who may see which workflows, and the report of a period from the sums the store makes
in one snapshot (or, where purged requests left tallies, from the facts it reads a month per transaction)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.engine import OrgDirectory, WorkflowDefinition
from bot.engine.flow import Rates, step_rates
from bot.engine.kpi_facts import FinishedRequest, KpiFacts, SpanGroup, TaskFact, compute_report
from bot.engine.kpi_sums import compute_summed_report
from bot.engine.kpis import (
    DEFAULT_PERIOD,
    EventCount,
    KpiReport,
    Period,
    looks_like_period,
    parse_period,
    previous_start,
    week_start,
)
from bot.engine.purged import PurgedTally
from bot.engine.satisfaction import RatingRow
from bot.store import Store

__all__ = [
    "ReportRequest",
    "build_report",
    "load_facts",
    "parse_report_request",
    "report_for",
    "teams_of",
    "visible_workflows",
]

_CHUNK = timedelta(days=31)  # a month of rows per transaction


@dataclass(frozen=True)
class ReportRequest:
    """What `/workflow report|export [workflow] [period]` asked for; `problem` explains unusable words."""

    workflow: str | None
    period: Period | None
    problem: str | None = None


def parse_report_request(words: Sequence[str], now: datetime) -> ReportRequest:
    """Read the optional workflow name and period, in either order."""
    workflow: str | None = None
    period_text: str | None = None
    for word in (w for w in words if w.strip()):
        if looks_like_period(word):
            if period_text is not None:
                return ReportRequest(None, None, "Give one period, e.g. `30d`, `12w` or `2026-Q4`.")
            period_text = word
        elif workflow is None:
            workflow = word.strip().lower()
        else:
            return ReportRequest(None, None, "Give at most one workflow and one period, e.g. `expense-approval 12w`.")
    try:
        period = parse_period(period_text or DEFAULT_PERIOD, now)
    except ValueError as error:
        return ReportRequest(workflow, None, str(error))
    return ReportRequest(workflow, period)


def visible_workflows(
    user_id: str, directory: OrgDirectory, workflows: Mapping[str, WorkflowDefinition], *, only: str | None = None
) -> list[str] | str:
    """The workflows whose reports this person may see (admins: all; others: those they own), or why not."""
    if only is not None:
        definition = workflows.get(only)
        if definition is None:
            return f"There is no workflow called `{only[:40]}`. See `/workflow list`."
        if directory.is_admin(user_id) or user_id in definition.owners:
            return [only]
        return f"Only the owners of *{definition.title}* and Baton's admins can see its reports."
    if directory.is_admin(user_id):
        return sorted(workflows)
    owned = sorted(name for name, definition in workflows.items() if user_id in definition.owners)
    return owned or "Reports are for workflow owners and Baton's admins; you own no workflow."


def teams_of(directory: OrgDirectory) -> dict[str, tuple[str, ...]]:
    """Each manager's direct reports, from the org chart."""
    teams: dict[str, list[str]] = {}
    for user_id, person in sorted(directory.chart.people.items()):
        if person.manager is not None:
            teams.setdefault(person.manager, []).append(user_id)
    return {manager: tuple(members) for manager, members in teams.items()}


async def load_facts(
    store: Store,
    period: Period,
    *,
    now: datetime,
    workflows: Sequence[str] | None,
    flow: bool = True,
    rated_workflows: Collection[str] = (),
) -> KpiFacts:
    """The period's facts, aggregated by the store a month at a time so that no transaction holds the database
    for long; each month's counts add up (bot/store/report_facts.py says what falls in which month), and tasks
    per week are one grouped query. The ratings of the period before are read too, for satisfaction's trend.
    Without `flow`, none of flow, task spans and ratings is read (the Home's and the map's figures need none);
    a task's step (for its cost) is read only in `rated_workflows`. What purged requests left (bot/engine/purged.py)
    comes with the chunk each of its days begins in."""
    finished: dict[tuple[str, str, int], int] = defaultdict(int)
    started: dict[tuple[str, int], int] = defaultdict(int)
    requesters: dict[str, tuple[int, int]] = {}
    cycles: list[tuple[str, int, int]] = []
    tasks: dict[str, TaskFact] = {}
    counts: dict[tuple[str, str | None, str, date], int] = defaultdict(int)
    requests: dict[int, FinishedRequest] = {}
    spans: list[SpanGroup] = []
    ratings: dict[int, RatingRow] = {}
    purged: list[PurgedTally] = []  # each day's tallies are read in the one chunk the day begins in
    as_of = min(period.end, now)
    first = max(period.start, _monday(period.start))
    if flow:  # tasks per week: one query over the period, a few rows a week
        async with store.transaction(read_only=True) as work:
            earlier = await work.rating_rows(previous_start(period), period.start, workflows=workflows)
            spans = await work.span_facts(period.start, period.end, first=first, as_of=as_of, workflows=workflows)
        ratings.update((row.event_id, row) for row in earlier)
    start = period.start
    while start < period.end:
        end = min(period.end, start + _CHUNK)
        async with store.transaction(read_only=True) as work:
            chunk = await work.chunk_facts(start, end, workflows=workflows)
            purged.extend(await work.purged_tallies(start, end, workflows=workflows))
            if end == period.end:  # open tasks: once
                chunk.tasks.extend(await work.open_task_facts(end, workflows=workflows))
        if flow:  # a transaction of its own: no single one holds the database for long
            async with store.transaction(read_only=True) as work:
                finished_requests = await work.flow_facts(
                    start, end, workflows=workflows, rated_workflows=rated_workflows
                )
                chunk_ratings = await work.rating_rows(start, end, workflows=workflows)
            requests.update((request.instance_id, request) for request in finished_requests)
            ratings.update((row.event_id, row) for row in chunk_ratings)
        for workflow, status, week, ended in chunk.finished:
            finished[(workflow, status, week)] += ended
        for workflow, week, began in chunk.started:
            started[(workflow, week)] += began
        for requester, opened, completed in chunk.requesters:
            before = requesters.get(requester, (0, 0))
            requesters[requester] = (before[0] + opened, before[1] + completed)
        cycles.extend(chunk.cycles)
        tasks.update((task.task_id, task) for task in chunk.tasks)
        for event_count in chunk.counts:
            key = (event_count.workflow, event_count.step_id, event_count.kind, event_count.week)
            counts[key] += event_count.count
        start = end
    return KpiFacts(
        finished=dict(finished),
        started=dict(started),
        requesters=requesters,
        cycles=tuple(cycles),
        tasks=tuple(tasks.values()),
        counts=tuple(EventCount(*key, total) for key, total in counts.items()),
        requests=tuple(requests.values()),
        spans=tuple(spans),
        ratings=tuple(ratings.values()),
        purged=tuple(purged),
    )


def _monday(moment: datetime) -> datetime:
    monday = week_start(moment)
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


async def build_report(
    store: Store,
    period: Period,
    *,
    now: datetime,
    workflows: Sequence[str] | None,
    directory: OrgDirectory,
    definitions: Sequence[WorkflowDefinition] = (),
    flow: bool = True,
) -> KpiReport:
    """Read the period's sums from the store (the database aggregates per workflow, step, assignee, team and week)
    and compute every figure; the costs per hour come from the definitions' steps and org.yaml's groups. Without
    `flow`, the flow, cost, tasks-per-week and satisfaction figures are left empty (nothing read for them)."""
    rates = step_rates(definitions, directory.chart.cost_per_hour)
    teams = teams_of(directory)
    return await report_for(store, period, now=now, workflows=workflows, teams=teams, rates=rates, flow=flow)


async def report_for(
    store: Store,
    period: Period,
    *,
    now: datetime,
    workflows: Sequence[str] | None,
    teams: Mapping[str, tuple[str, ...]],
    rates: Rates,
    flow: bool = True,
) -> KpiReport:
    """The report of a period from the sums the store makes in one snapshot, or, when requests purged for
    retention left tallies in the period, from its facts."""
    rated = {workflow for workflow, _ in rates}
    async with store.reading() as work:  # one snapshot, holding no click up however long it reads
        tallies = await work.purged_tallies(period.start, period.end, workflows=workflows)
        sums = None
        if not any(period.contains(tally.starts) for tally in tallies):
            sums = await work.report_sums(
                period, now=now, workflows=workflows, teams=teams, rated_workflows=rated, flow=flow
            )
    if sums is not None:
        return compute_summed_report(sums, period, now=now, teams=teams, rates=rates)
    # Purged tallies weigh in the percentiles by their means, which the database's ranks cannot give: the facts,
    # a month per transaction, and the figures in Python, off the event loop so that clicks get their ack meanwhile.
    facts = await load_facts(store, period, now=now, workflows=workflows, flow=flow, rated_workflows=rated)
    return await asyncio.to_thread(compute_report, facts, period, now=now, teams=teams, rates=rates)
