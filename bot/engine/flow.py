"""Flow efficiency and cost over the event log: how much of a request's cycle its tasks were in someone's hands
(touch time) against waiting (queued between steps, snoozed), what those hands cost, and tasks over time.

The kinds of events that open, close and pause a task, the figures and each step's cost per hour are here; the
arithmetic over the store's facts is in kpi_facts.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .definition import WorkflowDefinition

__all__ = [
    "CLOSES",
    "ENDS",
    "FLOW_DATA_EVENTS",
    "FLOW_EVENTS",
    "HANDED_ON",
    "OPENS",
    "SNOOZED",
    "TIMEOUT",
    "FlowFigures",
    "TaskWeek",
    "step_rates",
]

ENDS = ("instance_completed", "instance_rejected", "instance_cancelled", "instance_failed")
OPENS = ("task_assigned", "revision_requested")
"""A task's first of these opens it; its first closing event (or deciding deadline) closes it."""
CLOSES = (
    "task_completed",
    "task_approved",
    "task_rejected",
    "changes_requested",
    "task_cancelled",
    "form_resubmitted",
)
TIMEOUT = "task_timed_out"  # closes the task when its step approves or rejects at the deadline
SNOOZED = "task_snoozed"
HANDED_ON = "task_reassigned"  # a new holder: an earlier snooze no longer holds
FLOW_EVENTS = ("instance_started", *ENDS, *OPENS, *CLOSES, TIMEOUT, SNOOZED, HANDED_ON)
"""The kinds of events the flow figures read."""
FLOW_DATA_EVENTS = (*OPENS, TIMEOUT, SNOOZED)
"""The kinds whose data the flow figures read (a step, a snooze's end, a deadline's action)."""

Rates = Mapping[tuple[str, str], float]
"""Cost per hour by (workflow, step id)."""


@dataclass(frozen=True)
class FlowFigures:
    """The requests finished in a period: flow efficiency over all their cycles, and cost per request."""

    requests: int = 0
    touch: float = 0.0
    wait: float = 0.0
    cost: float = 0.0
    costed: int = 0  # requests with at least one task that had a cost per hour

    @property
    def efficiency(self) -> float | None:
        total = self.touch + self.wait
        return self.touch / total if total > 0 else None

    @property
    def cost_per_request(self) -> float | None:
        """The period's cost over its finished requests; None when no step or group has a cost per hour."""
        return self.cost / self.requests if self.requests and self.costed else None


@dataclass(frozen=True)
class TaskWeek:
    """Tasks in one ISO week: opened in it, decided in it, and still open at its end (or now, for this week)."""

    week: date
    opened: int = 0
    decided: int = 0
    open_at_end: int = 0


def step_rates(
    definitions: Iterable[WorkflowDefinition], group_costs: Mapping[str, float]
) -> dict[tuple[str, str], float]:
    """Each step's cost per hour: its own `cost_per_hour`, else that of the first org.yaml group it is assigned to
    (`group:<name>`) that has one; steps with neither cost nothing."""
    rates: dict[tuple[str, str], float] = {}
    for definition in definitions:
        for step in definition.all_steps():
            if step.cost_per_hour is not None:
                rates[(definition.name, step.id)] = step.cost_per_hour
                continue
            groups = (ref.removeprefix("group:") for ref in step.assignee if ref.startswith("group:"))
            rate = next((group_costs[name] for name in groups if name in group_costs), None)
            if rate is not None:
                rates[(definition.name, step.id)] = rate
    return rates
