"""What people look at: App Home, a request's status, their open tasks and requests. Reads only (and a refusal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.engine import Instance, OrgDirectory, Refusal, RefusalReason, Task, WorkflowDefinition
from bot.engine.builder import refuse
from bot.engine.kpis import DEFAULT_PERIOD, KpiReport, parse_period
from bot.pipeline import CommandPipeline, Refused, Subject, by_request
from bot.reporting.kpi_report import build_report
from bot.store import AuditEntry
from bot.workspace import Workspace, definition_of

__all__ = ["HomeData", "Screens", "StatusView"]


@dataclass(frozen=True)
class HomeData:
    """What one person's App Home shows."""

    tasks: list[tuple[WorkflowDefinition, Instance, Task]]
    requests: list[Instance]
    startable: list[WorkflowDefinition]
    team: list[tuple[str, Instance, Task]]  # (holder, request, task) for a manager's direct reports
    now: datetime
    owned: dict[str, str] = field(default_factory=dict)  # workflows this person owns: name -> title
    owner_report: KpiReport | None = None  # the last 30 days of those workflows
    owner_open: dict[str, int] = field(default_factory=dict)  # open tasks now, per owned workflow


@dataclass(frozen=True)
class StatusView:
    definition: WorkflowDefinition
    instance: Instance
    trail: list[AuditEntry] | None


class Screens:
    """The read side of Baton: each screen read in one transaction."""

    def __init__(self, workspace: Workspace, pipeline: CommandPipeline) -> None:
        self._workspace = workspace
        self._pipeline = pipeline

    async def status(self, instance_id: int, viewer: str) -> StatusView | Refused:
        """One instance as `viewer` may see it: its requester, assignees, owners and admins see everything."""

        def may_see(subject: Subject, _directory: OrgDirectory, now: datetime) -> Refusal | None:
            assert subject.instance is not None
            if self._workspace.may_see(subject.definition, subject.instance, viewer):
                return None
            request = {"request": str(instance_id)}  # who looked where they may not, in the history
            return refuse(RefusalReason.NOT_INVOLVED_TO_SEE, now, viewer, action="status", facts=request)

        subject = await self._pipeline.check(by_request(instance_id), may_see)
        if isinstance(subject, Refused):
            return subject
        assert subject.instance is not None
        async with self._workspace.store.transaction(read_only=True) as work:
            trail = await work.audit_trail(instance_id)
        return StatusView(subject.definition, subject.instance, trail)

    async def open_tasks(self, user_id: str) -> list[tuple[WorkflowDefinition, Instance, Task]]:
        """A person's open tasks, soonest due first; not those they have voted on while others still decide."""
        async with self._workspace.store.transaction(read_only=True) as work:
            tasks = await work.open_tasks_of(user_id)
            result = []
            for task in tasks:
                if any(vote.user == user_id for vote in task.votes):
                    continue
                instance = await work.instance(task.instance_id)
                if instance is not None:
                    result.append((await definition_of(work, instance), instance, task))
        return result

    async def open_home(self, user_id: str) -> HomeData:
        """A person opened Baton's Home tab: what it shows now; from now on it follows their work's changes."""
        async with self._workspace.store.transaction() as work:
            await work.note_home_opened(user_id, self._workspace.now())
        return await self.home(user_id)

    async def home(self, user_id: str) -> HomeData:
        """Everything a person's App Home shows."""
        tasks = await self.open_tasks(user_id)
        directory = self._workspace.directory
        async with self._workspace.store.transaction(read_only=True) as work:
            requests = await work.instances_requested_by(user_id, limit=10)
            team: list[tuple[str, Instance, Task]] = []
            for report in directory.reports_of(user_id):
                for task in await work.open_tasks_of(report, limit=20):
                    instance = await work.instance(task.instance_id)
                    if instance is not None:
                        team.append((report, instance, task))
        now = self._workspace.now()
        workflows = self._workspace.catalog.workflows
        owned = {name: definition.title for name, definition in workflows.items() if user_id in definition.owners}
        owner_report: KpiReport | None = None
        owner_open: dict[str, int] = {}
        if owned:  # a process owner sees the figures of their workflows
            period = parse_period(DEFAULT_PERIOD, now)
            owner_report = await build_report(
                self._workspace.store, period, now=now, workflows=sorted(owned), directory=directory, flow=False
            )
            async with self._workspace.store.transaction(read_only=True) as work:
                open_now = (await work.ops_snapshot()).open_tasks
            owner_open = {name: open_now.get(name, 0) for name in sorted(owned)}
        startable = self._workspace.startable_by(user_id)
        return HomeData(tasks, requests, startable, team, now, owned, owner_report, owner_open)

    async def requests(self, user_id: str) -> list[Instance]:
        """A person's recent requests, newest first."""
        async with self._workspace.store.transaction(read_only=True) as work:
            return await work.instances_requested_by(user_id)

    async def task_at(self, channel: str, ts: str) -> tuple[Instance, Task] | None:
        """The task a Slack message (by channel and ts) is about, if it is one of Baton's task messages."""
        async with self._workspace.store.transaction(read_only=True) as work:
            key = await work.message_key_at(channel, ts)
            if key is None or not key.startswith("task:"):
                return None
            task_id = key.split(":")[1]
            instance = await work.instance_of_task(task_id)
        task = instance.task(task_id) if instance else None
        return (instance, task) if instance is not None and task is not None else None

    async def task_by_id(self, task_id: str) -> tuple[Instance, Task] | None:
        """A task and its request, as stored now."""
        async with self._workspace.store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
        task = instance.task(task_id) if instance else None
        return (instance, task) if instance is not None and task is not None else None

    async def definition_of(self, instance: Instance) -> WorkflowDefinition:
        """The workflow version an instance runs on."""
        async with self._workspace.store.transaction(read_only=True) as work:
            return await definition_of(work, instance)
