"""KPIs from the event log: who may see which workflows, and the report of a period, read in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot.engine import OrgDirectory, WorkflowDefinition
from bot.engine.flow import FlowEvent, TaskSpan, step_rates
from bot.engine.kpis import (
    DEFAULT_PERIOD,
    EventCount,
    InstanceRow,
    KpiReport,
    KpiRows,
    Period,
    PurgedTally,
    TaskRow,
    compute_kpis,
    looks_like_period,
    parse_period,
    previous_start,
)
from bot.engine.satisfaction import RatingRow
from bot.store import Store

__all__ = ["ReportRequest", "build_report", "load_rows", "parse_report_request", "teams_of", "visible_workflows"]

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


async def load_rows(store: Store, period: Period, *, workflows: Sequence[str] | None, flow: bool = True) -> KpiRows:
    """The period's rows, read a month at a time so that no transaction holds the database for long.

    Chunks are merged: an instance seen in two chunks (started in one, finished in the next) once, open tasks
    once (the last chunk sees them all), and event counts of a week that straddles two chunks added up. The
    ratings of the period before are read too, for satisfaction's trend. Without `flow`, none of flow, task spans
    and ratings is read (the Home's and the map's figures need none)."""
    instances: dict[int, InstanceRow] = {}
    tasks: dict[str, TaskRow] = {}
    counts: dict[tuple[str, str | None, str, date], int] = {}
    flows: dict[int, list[FlowEvent]] = {}
    spans: dict[str, TaskSpan] = {}
    ratings: dict[int, RatingRow] = {}
    if flow:
        async with store.transaction(read_only=True) as work:
            earlier = await work.rating_rows(previous_start(period), period.start, workflows=workflows)
        ratings.update((row.event_id, row) for row in earlier)
    purged: list[PurgedTally] = []  # each day's tallies are read in the one chunk the day begins in
    start = period.start
    while start < period.end:
        end = min(period.end, start + _CHUNK)
        async with store.transaction(read_only=True) as work:
            rows = await work.kpi_rows(start, end, workflows=workflows)
        if flow:  # a transaction of its own: no single one holds the database for long
            async with store.transaction(read_only=True) as work:
                more = await work.flow_rows(start, end, workflows=workflows)
            rows = replace(rows, flow_events=more.flow_events, task_spans=more.task_spans, ratings=more.ratings)
        instances.update((row.instance_id, row) for row in rows.instances)
        tasks.update((row.task_id, row) for row in rows.tasks)
        for count in rows.counts:
            key = (count.workflow, count.step_id, count.kind, count.week)
            counts[key] = counts.get(key, 0) + count.count
        chunk_flows: dict[int, list[FlowEvent]] = {}
        for event in rows.flow_events:
            chunk_flows.setdefault(event.instance_id, []).append(event)
        flows.update(chunk_flows)  # a request finishes once: its whole story comes with the chunk it ended in
        spans.update((span.task_id, span) for span in rows.task_spans)
        ratings.update((row.event_id, row) for row in rows.ratings)
        purged.extend(rows.purged)
        start = end
    return KpiRows(
        instances=tuple(instances.values()),
        tasks=tuple(tasks.values()),
        counts=tuple(EventCount(*key, total) for key, total in counts.items()),
        flow_events=tuple(event for story in flows.values() for event in story),
        task_spans=tuple(spans.values()),
        ratings=tuple(ratings.values()),
        purged=tuple(purged),
    )


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
    """Read the period's rows from the store and compute every figure (outside any transaction); the costs per
    hour come from the definitions' steps and org.yaml's groups. Without `flow`, the flow, cost, tasks-per-week
    and satisfaction figures are left empty (nothing read for them)."""
    rows = await load_rows(store, period, workflows=workflows, flow=flow)
    rates = step_rates(definitions, directory.chart.cost_per_hour)
    # Computing a year of figures over every workflow takes seconds of pure Python: off the event loop, so
    # clicks and commands still get their ack meanwhile.
    return await asyncio.to_thread(compute_kpis, rows, period, now=now, teams=teams_of(directory), rates=rates)
