"""A workflow's live process map: its flow layout with each step's figures of a period, from the KPI report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.engine import OrgDirectory, WorkflowDefinition
from bot.engine.flowmap import FlowLayout, flow_layout
from bot.engine.kpis import KpiReport, Period
from bot.reporting.kpi_report import build_report
from bot.store import Store

__all__ = ["ProcessMap", "StepLoad", "load_process_map", "process_map"]


@dataclass(frozen=True)
class StepLoad:
    """What went through one step in the period, and what sits there now."""

    decided: int = 0
    median_wait: float | None = None  # seconds from opening to decision
    waiting: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class ProcessMap:
    layout: FlowLayout
    period_label: str
    loads: dict[str, StepLoad] = field(default_factory=dict)  # by step id
    bottleneck: str | None = None  # the step id whose decisions took longest


def process_map(definition: WorkflowDefinition, report: KpiReport | None, *, period_label: str) -> ProcessMap:
    """The map of a workflow with its steps' figures from a report of it (None: the bare flow)."""
    layout = flow_layout(definition)
    if report is None:
        return ProcessMap(layout, period_label)
    loads = {
        step.step_id: StepLoad(step.time.count, step.time.median, step.open_now, step.overdue)
        for step in report.steps
        if step.workflow == definition.name
    }
    slowest = report.bottleneck()
    return ProcessMap(layout, period_label, loads, slowest.step_id if slowest is not None else None)


async def load_process_map(
    store: Store, definition: WorkflowDefinition, period: Period, *, now: datetime, directory: OrgDirectory
) -> ProcessMap:
    """Read the workflow's figures of the period from the store and lay out its map."""
    report = await build_report(
        store, period, now=now, workflows=[definition.name], directory=directory, flow=False
    )
    return process_map(definition, report, period_label=period.label)
