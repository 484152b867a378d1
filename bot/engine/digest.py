"""The daily digest: who gets one now, and what it lists. Pure: the time and the open work come in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .assignees import Directory
from .org import OrgSettings

__all__ = ["Assignment", "DigestPlan", "plan_digests"]


@dataclass(frozen=True)
class Assignment:
    """One open task held by one person (a light row: no instance state)."""

    user_id: str
    task_id: str
    instance_id: int
    created_at: datetime
    due_at: datetime | None


@dataclass
class DigestPlan:
    """One person's digest for their local date: their own open tasks and their team's overdue ones."""

    user_id: str
    local_date: str
    own: list[Assignment] = field(default_factory=list)
    team_overdue: list[Assignment] = field(default_factory=list)


def plan_digests(
    assignments: Iterable[Assignment], directory: Directory, settings: OrgSettings, now: datetime
) -> list[DigestPlan]:
    """Digests due now: for each person on a working day, once their local digest time has come."""
    if not settings.daily_digest:
        return []
    plans: dict[str, DigestPlan] = {}

    def plan_for(user_id: str) -> DigestPlan | None:
        if user_id in plans:
            return plans[user_id]
        local = now.astimezone(directory.zone_of(user_id))
        calendar = directory.calendar
        if not calendar.is_working_day(local.date()) or not settings.digest_time <= local.time() < calendar.end:
            return None
        plans[user_id] = DigestPlan(user_id, local.date().isoformat())
        return plans[user_id]

    for assignment in assignments:
        own = plan_for(assignment.user_id)
        if own is not None:
            own.own.append(assignment)
        manager = directory.manager_of(assignment.user_id)
        overdue = assignment.due_at is not None and assignment.due_at < now
        if manager and overdue:
            team = plan_for(manager)
            if team is not None:
                team.team_overdue.append(assignment)
    for plan in plans.values():
        plan.own.sort(key=lambda a: a.created_at)
        plan.team_overdue.sort(key=lambda a: a.due_at or a.created_at)
    return [plan for plan in plans.values() if plan.own or plan.team_overdue]
