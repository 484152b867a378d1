"""The application service: load state, ask the engine, store the outcome and its messages in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.catalog import Catalog
from bot.clock import Clock
from bot.engine import (
    ActOnTask,
    AddTimers,
    CancelInstance,
    CancelTimers,
    CommentOn,
    FireTimer,
    FormValue,
    Instance,
    OrgDirectory,
    ReassignTask,
    Refusal,
    ResubmitForm,
    SnoozeTask,
    StartWorkflow,
    Task,
    TaskHandedOver,
    TaskOpened,
    Transition,
    WorkflowDefinition,
    can_start,
    decide,
    start,
)
from bot.engine.builder import refuse
from bot.engine.digest import plan_digests
from bot.engine.kpis import DEFAULT_PERIOD, KpiReport, parse_period
from bot.engine.permissions import NOT_YOURS, comment_refusal, hand_over_refusal
from bot.reporting.kpi_report import build_report
from bot.slack.outgoing import digest_message, home_refreshes, outbox_messages, people_affected
from bot.store import AuditEntry, DueTimer, Store, UnitOfWork
from bot.webhooks import webhook_messages

__all__ = ["Acted", "FormInvalid", "HomeData", "Refused", "Started", "StatusView", "WorkflowService"]

log = logging.getLogger(__name__)

PermissionRule = Callable[[WorkflowDefinition, OrgDirectory, Instance], str | None]


@dataclass(frozen=True)
class Started:
    instance: Instance


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class FormInvalid:
    errors: dict[str, str]


@dataclass(frozen=True)
class Acted:
    instance: Instance
    task: Task


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


@dataclass(frozen=True)
class StatusView:
    definition: WorkflowDefinition
    instance: Instance
    trail: list[AuditEntry] | None


class WorkflowService:
    """Every use case Baton offers, each one a single transaction."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        admins: tuple[str, ...],
        clock: Clock,
        on_commit: Callable[[], None] = lambda: None,
        zones: Callable[[str], str | None] | None = None,
        on_new_people: Callable[[Iterable[str]], None] = lambda _people: None,
        usergroups: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._usergroups = usergroups
        self._store = store
        self._admins = admins
        self._clock = clock
        self._on_commit = on_commit
        self._zones = zones
        self._on_new_people = on_new_people
        self._catalog = catalog
        self._directory = OrgDirectory(catalog.org, admins=admins, zones=zones, usergroups=usergroups)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def directory(self) -> OrgDirectory:
        return self._directory

    def use_catalog(self, catalog: Catalog) -> None:
        """Switch to newly loaded workflow files; running instances keep the version they started on."""
        self._catalog = catalog
        self._directory = OrgDirectory(
            catalog.org, admins=self._admins, zones=self._zones, usergroups=self._usergroups
        )

    def now(self) -> datetime:
        """The time as Baton sees it (the sandbox can move it)."""
        return self._clock.now()

    def definition(self, name: str) -> WorkflowDefinition | None:
        return self._catalog.workflows.get(name)

    def startable_by(self, user_id: str) -> list[WorkflowDefinition]:
        return [
            definition
            for _name, definition in sorted(self._catalog.workflows.items())
            if can_start(definition, self._directory, user_id)
        ]

    def start_refusal(self, definition: WorkflowDefinition, user_id: str) -> str | None:
        """Why this person may not start this workflow, or None when they may."""
        if can_start(definition, self._directory, user_id):
            return None
        return f"You are not among the people who may start *{definition.title}*. Ask the process owner if you need it."

    async def start(
        self,
        name: str,
        requester: str,
        form: dict[str, FormValue],
        *,
        origin_channel: str | None = None,
        trigger: str = "command",
        request_key: str | None = None,
    ) -> Started | Refused | FormInvalid:
        """Start a workflow; a request_key makes a retried request start it only once."""
        definition = self.definition(name)
        if definition is None:
            return Refused(f"There is no workflow called `{name}`. See `/workflow list`.")
        _clean, errors = definition.validate_form(form, partial=trigger == "team_join")
        if errors:
            return FormInvalid(errors)
        now = self._clock.now()
        async with self._store.transaction() as work:
            if request_key is not None and not await work.first_sighting(request_key, now):
                return Refused("This request was already received; nothing was started twice.")
            instance_id = await work.next_instance_id()
            command = StartWorkflow(instance_id, requester, form, origin_channel, trigger)
            outcome = start(definition, await self._directory_in(work, now), command, now)
            if isinstance(outcome, Refusal):
                log.info("start refused: workflow=%s user=%s reason=%s", name, requester, outcome.reason)
                return Refused(outcome.reason)
            await work.save_definition(definition, now)
            await self._record(work, definition, outcome)
        self._on_commit()
        log.info(
            "workflow started: workflow=%s instance=%s requester=%s",
            name,
            instance_id,
            requester,
            extra={"workflow": name, "instance": instance_id, "user": requester},
        )
        return Started(outcome.instance)

    async def act(self, task_id: str, actor: str, decision: str, comment: str | None = None) -> Acted | Refused:
        """Complete, approve or reject a task as `actor`; who may is decided from stored state only."""
        now = self._clock.now()
        async with self._store.transaction() as work:
            instance = await work.instance_of_task(task_id)
            if instance is None:
                return Refused("That task does not exist.")
            definition = await self._definition_of(work, instance)
            directory = await self._directory_in(work, now)
            outcome = decide(definition, directory, instance, ActOnTask(task_id, actor, decision, comment), now)
            if isinstance(outcome, Refusal):
                await work.append_events(instance.id, [outcome.event])
                return Refused(outcome.reason)
            await self._record(work, definition, outcome)
        self._on_commit()
        task = outcome.instance.task(task_id)
        assert task is not None
        log.info(
            "task %s: task=%s actor=%s instance=%s",
            decision,
            task_id,
            actor,
            instance.id,
            extra={"workflow": instance.workflow, "instance": instance.id, "step": task.step_id, "task": task_id},
        )
        return Acted(outcome.instance, task)

    async def check_act(self, task_id: str, actor: str, decision: str) -> Refused | str:
        """Would `actor` be allowed this decision now? Return the refusal, or the task's title to ask about."""
        now = self._clock.now()
        async with self._store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
            if instance is None:
                return Refused("That task does not exist.")
            definition = await self._definition_of(work, instance)
            directory = await self._directory_in(work, now)  # a delegate may act for the person they cover
        probe = ActOnTask(task_id, actor, decision, "(checking)")
        outcome = decide(definition, directory, instance, probe, now)
        if isinstance(outcome, Refusal):
            async with self._store.transaction() as work:  # every refusal is in the request's history
                await work.append_events(instance.id, [outcome.event])
            return Refused(outcome.reason)
        task = instance.task(task_id)
        return task.title if task else task_id

    async def may_hand_over(self, task_id: str, actor: str) -> Refused | str:
        """May `actor` hand this task over now? The refusal, or the task's title for the form (nothing recorded)."""
        return await self._ask(task_id, lambda d, people, i: hand_over_refusal(d, people, i, task_id, actor))

    async def may_comment(self, task_id: str, actor: str) -> Refused | str:
        """May `actor` comment on this task's request now? The refusal, or the task's title for the form."""
        return await self._ask(task_id, lambda _d, people, instance: comment_refusal(people, instance, actor))

    async def _ask(self, task_id: str, rule: PermissionRule) -> Refused | str:
        """Answer a "may this person…" rule of the engine from stored state, without deciding anything."""
        async with self._store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
            if instance is None:
                return Refused(NOT_YOURS)
            definition = await self._definition_of(work, instance)
            directory = await self._directory_in(work, self._clock.now())
        refusal = rule(definition, directory, instance)
        task = instance.task(task_id)
        return Refused(refusal) if refusal is not None else (task.title if task else task_id)

    async def cancel(self, instance_id: int, actor: str, reason: str | None = None) -> Instance | Refused:
        """Cancel a request (its requester or an admin)."""
        now = self._clock.now()
        async with self._store.transaction() as work:
            instance = await work.instance(instance_id)
            if instance is None:
                return Refused(f"There is no request #{instance_id}.")
            definition = await self._definition_of(work, instance)
            if not self._may_see(definition, instance, actor):  # say no more than for a request that is not there
                refusal = refuse(f"There is no request #{instance_id}.", now, actor, action="cancel")
                await work.append_events(instance.id, [refusal.event])
                return Refused(refusal.reason)
            outcome = decide(
                definition, await self._directory_in(work, now), instance, CancelInstance(actor, reason), now
            )
            if isinstance(outcome, Refusal):
                await work.append_events(instance.id, [outcome.event])
                return Refused(outcome.reason)
            await self._record(work, definition, outcome)
        self._on_commit()
        log.info(
            "instance cancelled: instance=%s actor=%s",
            instance_id,
            actor,
            extra={"workflow": outcome.instance.workflow, "instance": instance_id, "user": actor},
        )
        return outcome.instance

    async def status(self, instance_id: int, viewer: str) -> StatusView | Refused:
        """One instance as `viewer` may see it: its requester, assignees, owners and admins see everything."""
        async with self._store.transaction(read_only=True) as work:
            instance = await work.instance(instance_id)
            if instance is None:
                return Refused(f"There is no request #{instance_id}.")
            definition = await self._definition_of(work, instance)
            allowed = self._may_see(definition, instance, viewer)
            trail = await work.audit_trail(instance_id) if allowed else []
        if not allowed:
            refusal = refuse(
                f"Only the people involved in request #{instance_id} can see it.",
                self._clock.now(),
                viewer,
                action="status",
            )
            async with self._store.transaction() as work:  # who looked where they may not, in the history
                await work.append_events(instance_id, [refusal.event])
            return Refused(refusal.reason)
        return StatusView(definition, instance, trail)

    def _may_see(self, definition: WorkflowDefinition, instance: Instance, user_id: str) -> bool:
        """The people involved in a request, its workflow's owners and admins may see it; to others it is not there."""
        return instance.involves(user_id) or self._directory.is_admin(user_id) or user_id in definition.owners

    async def open_tasks(self, user_id: str) -> list[tuple[WorkflowDefinition, Instance, Task]]:
        """A person's open tasks, soonest due first; not those they have voted on while others still decide."""
        async with self._store.transaction(read_only=True) as work:
            tasks = await work.open_tasks_of(user_id)
            result = []
            for task in tasks:
                if any(vote.user == user_id for vote in task.votes):
                    continue
                instance = await work.instance(task.instance_id)
                if instance is not None:
                    result.append((await self._definition_of(work, instance), instance, task))
        return result

    async def open_home(self, user_id: str) -> HomeData:
        """A person opened Baton's Home tab: what it shows now; from now on it follows their work's changes."""
        async with self._store.transaction() as work:
            await work.note_home_opened(user_id, self._clock.now())
        return await self.home(user_id)

    async def home(self, user_id: str) -> HomeData:
        """Everything a person's App Home shows, read in one transaction."""
        tasks = await self.open_tasks(user_id)
        reports = self._directory.reports_of(user_id)
        async with self._store.transaction(read_only=True) as work:
            requests = await work.instances_requested_by(user_id, limit=10)
            team: list[tuple[str, Instance, Task]] = []
            for report in reports:
                for task in await work.open_tasks_of(report, limit=20):
                    instance = await work.instance(task.instance_id)
                    if instance is not None:
                        team.append((report, instance, task))
        now = self._clock.now()
        workflows = self._catalog.workflows
        owned = {name: definition.title for name, definition in workflows.items() if user_id in definition.owners}
        owner_report: KpiReport | None = None
        if owned:  # a process owner sees the figures of their workflows
            period = parse_period(DEFAULT_PERIOD, now)
            owner_report = await build_report(
                self._store, period, now=now, workflows=sorted(owned), directory=self._directory
            )
        return HomeData(tasks, requests, self.startable_by(user_id), team, now, owned, owner_report)

    async def requests(self, user_id: str) -> list[Instance]:
        """A person's recent requests, newest first."""
        async with self._store.transaction(read_only=True) as work:
            return await work.instances_requested_by(user_id)

    async def seen(self, request_key: str) -> bool:
        """Whether a Slack request (an event_id) was already handled and answered."""
        async with self._store.transaction(read_only=True) as work:
            return await work.seen(request_key)

    async def first_sighting(self, request_key: str) -> bool:
        """True the first time a Slack request (an event_id) is seen; false for Slack's retries."""
        async with self._store.transaction() as work:
            return await work.first_sighting(request_key, self._clock.now())

    async def forget_sighting(self, request_key: str) -> None:
        """The work a first sighting claimed failed: let the next attempt claim it again."""
        async with self._store.transaction() as work:
            await work.forget_sighting(request_key)

    async def start_for_new_member(self, user_id: str) -> list[Started | Refused | FormInvalid]:
        """Start every workflow that asks to run when someone joins the workspace."""
        results: list[Started | Refused | FormInvalid] = []
        for name, definition in sorted(self._catalog.workflows.items()):
            field = definition.start.on_team_join
            if field is None:
                continue
            key = f"team_join:{user_id}:{name}"
            results.append(await self.start(name, user_id, {field: user_id}, trigger="team_join", request_key=key))
        return results

    async def _definition_of(self, work: UnitOfWork, instance: Instance) -> WorkflowDefinition:
        definition = await work.definition(instance.definition_version)
        if definition is None:  # stored with every start; missing only if the database was edited by hand
            raise LookupError(f"definition {instance.definition_version} of instance {instance.id} is missing")
        return definition

    async def _record(self, work: UnitOfWork, definition: WorkflowDefinition, transition: Transition) -> None:
        instance = transition.instance
        await work.save_instance(instance)
        await work.append_events(instance.id, transition.events)
        self._learn_zones([transition])
        for effect in transition.effects:
            if isinstance(effect, CancelTimers):
                await work.cancel_timers(
                    effect.task_id, recipient=effect.recipient, reminders_only=effect.reminders_only
                )
            elif isinstance(effect, AddTimers):
                await work.add_timers(instance.id, effect.timers)
        await work.enqueue(outbox_messages(definition, instance, transition.effects), self._clock.now())
        await work.enqueue(webhook_messages(definition, instance, transition.events), self._clock.now())
        viewers = await work.home_viewers(self._home_audience(transition))  # others' tabs are built when opened
        if viewers:
            await work.enqueue(home_refreshes(sorted(viewers)), self._clock.now())

    async def _record_all(self, work: UnitOfWork, outcomes: Sequence[tuple[WorkflowDefinition, Transition]]) -> None:
        """Store several transitions, in order, as `_record` would one by one, in a few batched statements."""
        if not outcomes:
            return
        transitions = [transition for _definition, transition in outcomes]
        await work.save_instances([transition.instance for transition in transitions])
        await work.append_history([(t.instance.id, event) for t in transitions for event in t.events])
        self._learn_zones(transitions)
        await work.apply_timer_changes(
            [(t.instance.id, e) for t in transitions for e in t.effects if isinstance(e, CancelTimers | AddTimers)]
        )
        audiences = [self._home_audience(transition) for transition in transitions]
        viewers = await work.home_viewers(set().union(*audiences))
        messages = []
        for (definition, transition), audience in zip(outcomes, audiences, strict=True):
            instance = transition.instance
            messages.extend(outbox_messages(definition, instance, transition.effects))
            messages.extend(webhook_messages(definition, instance, transition.events))
            if seen := viewers & audience:
                messages.extend(home_refreshes(sorted(seen)))
        await work.enqueue(messages, self._clock.now())

    def _learn_zones(self, transitions: Iterable[Transition]) -> None:
        """Ask Slack for the time zones of new assignees, for polite reminders from now on."""
        newcomers = [
            person
            for transition in transitions
            for effect in transition.effects
            if isinstance(effect, TaskOpened | TaskHandedOver)
            for person in effect.task.assignees
            if not self._directory.knows_zone_of(person)
        ]
        if newcomers:
            self._on_new_people(newcomers)

    def _home_audience(self, transition: Transition) -> set[str]:
        """Whose App Home this transition changes: the people affected and their managers (Home shows a team)."""
        affected = set(people_affected(transition.instance, transition.effects))
        return affected | {m for person in affected if (m := self._directory.manager_of(person))}

    async def fire_due_timers(self, *, batch: int = 100) -> int:
        """Fire every reminder, escalation and deadline that is due; each is claimed once, in a transaction.

        Batches are small so that one transaction holds the store briefly: clicks wait for at most one batch."""
        fired = 0
        while True:
            count = await self._fire_batch(batch)
            fired += count
            if count < batch:
                break
        if fired:
            self._on_commit()
        return fired

    async def _fire_batch(self, batch: int) -> int:
        now = self._clock.now()
        async with self._store.transaction() as work:
            due = await work.claim_due_timers(now, limit=batch)
            if not due:
                return 0
            directory = await self._directory_in(work, now)
            try:
                async with work.savepoint():
                    await self._fire_together(work, directory, due, now)
            except Exception as error:
                log.warning("firing %s timers together failed (%r); firing them one at a time", len(due), error)
                await self._fire_one_at_a_time(work, directory, due, now)
        return len(due)

    async def _fire_together(
        self, work: UnitOfWork, directory: OrgDirectory, due: Sequence[DueTimer], now: datetime
    ) -> None:
        """Decide every claimed timer in memory, in due order, then store all the outcomes at once."""
        current = await work.instances({timer.instance_id for timer in due})
        outcomes: list[tuple[WorkflowDefinition, Transition]] = []
        for timer in due:
            instance = current.get(timer.instance_id)
            if instance is None:
                continue
            definition = await self._definition_of(work, instance)
            outcome = decide(definition, directory, instance, _fire(timer), now)
            if isinstance(outcome, Refusal):
                continue
            outcomes.append((definition, outcome))
            current[instance.id] = outcome.instance  # a later timer of the same request sees this one's outcome
        await self._record_all(work, outcomes)

    async def _fire_one_at_a_time(
        self, work: UnitOfWork, directory: OrgDirectory, due: Sequence[DueTimer], now: datetime
    ) -> None:
        """Fire each timer in a savepoint of its own: one that fails is marked failed and the others go on."""
        current: dict[int, Instance] = {}
        for timer in due:
            try:
                async with work.savepoint():
                    instance = current.get(timer.instance_id) or await work.instance(timer.instance_id)
                    if instance is None:
                        continue
                    definition = await self._definition_of(work, instance)
                    outcome = decide(definition, directory, instance, _fire(timer), now)
                    if isinstance(outcome, Refusal):
                        continue
                    await self._record(work, definition, outcome)
                    current[instance.id] = outcome.instance
            except Exception:
                log.exception("timer %s (%s of task %s) failed; marked failed", timer.id, timer.kind, timer.task_id)
                await work.mark_timer_failed(timer.id)

    async def send_digests(self) -> int:
        """Send each person's morning digest once per local day (when the workspace has digests on)."""
        settings = self._catalog.org.settings
        if not settings.daily_digest:
            return 0
        now = self._clock.now()
        async with self._store.transaction() as work:
            plans = plan_digests(await work.open_assignments(), self._directory, settings, now)
            sent = 0
            for plan in plans:
                if not await work.first_digest(plan.user_id, plan.local_date, now):
                    continue
                ids = {a.instance_id for a in (*plan.own, *plan.team_overdue)}
                instances = {i: inst for i in ids if (inst := await work.instance(i)) is not None}
                await work.enqueue([digest_message(plan, instances, now)], now)
                sent += 1
        if sent:
            self._on_commit()
            log.info("daily digests sent: %s", sent)
        return sent

    async def snooze(self, task_id: str, actor: str, option: str) -> Instance | Refused:
        """Quiet a task's reminders for its holder until the chosen time (never past the final deadline)."""
        return await self._apply(task_id, SnoozeTask(task_id, actor, option))

    async def reassign(self, task_id: str, actor: str, to: str, note: str | None = None) -> Instance | Refused:
        """Hand a task to someone else; the previous holders are told."""
        return await self._apply(task_id, ReassignTask(task_id, actor, to, note))

    async def resubmit(self, task_id: str, actor: str, form: dict[str, FormValue]) -> Instance | Refused | FormInvalid:
        """The requester answers a change request with the edited form; the reviewers decide again."""
        async with self._store.transaction() as work:
            instance = await work.instance_of_task(task_id)
            definition = await self._definition_of(work, instance) if instance else None
        if definition is not None:
            _clean, errors = definition.validate_form(form)
            if errors:
                return FormInvalid(errors)
        return await self._apply(task_id, ResubmitForm(task_id, actor, form))

    async def comment(self, task_id: str, actor: str, text: str) -> Instance | Refused:
        """Add a comment to the request a task belongs to; everyone involved sees it in their thread."""
        return await self._apply(task_id, CommentOn(actor, text))

    async def delegate(self, user_id: str, delegate: str, until: datetime) -> Refused | None:
        """Send `user_id`'s new tasks to `delegate` until the end of that time."""
        now = self._clock.now()
        if delegate == user_id:
            return Refused("You cannot delegate to yourself.")
        if until <= now:
            return Refused("Pick an end date in the future.")
        async with self._store.transaction() as work:
            chain = await work.active_delegations(now)
            if chain.get(delegate) is not None:
                return Refused(f"<@{delegate}> is away too (delegating to <@{chain[delegate]}>); pick someone else.")
            await work.set_delegation(user_id, delegate, now, until)
        log.info("delegation set: user=%s delegate=%s until=%s", user_id, delegate, until.isoformat())
        return None

    async def end_delegation(self, user_id: str) -> bool:
        """End a delegation now; True if one was running."""
        async with self._store.transaction() as work:
            return await work.end_delegation(user_id, self._clock.now())

    async def delegation_of(self, user_id: str) -> str | None:
        async with self._store.transaction(read_only=True) as work:
            return (await work.active_delegations(self._clock.now())).get(user_id)

    async def task_at(self, channel: str, ts: str) -> tuple[Instance, Task] | None:
        """The task a Slack message (by channel and ts) is about, if it is one of Baton's task messages."""
        async with self._store.transaction(read_only=True) as work:
            key = await work.message_key_at(channel, ts)
            if key is None or not key.startswith("task:"):
                return None
            task_id = key.split(":")[1]
            instance = await work.instance_of_task(task_id)
        task = instance.task(task_id) if instance else None
        return (instance, task) if instance is not None and task is not None else None

    async def task_by_id(self, task_id: str) -> tuple[Instance, Task] | None:
        """A task and its request, as stored now."""
        async with self._store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
        task = instance.task(task_id) if instance else None
        return (instance, task) if instance is not None and task is not None else None

    async def definition_of(self, instance: Instance) -> WorkflowDefinition:
        """The workflow version an instance runs on."""
        async with self._store.transaction(read_only=True) as work:
            return await self._definition_of(work, instance)

    async def _directory_in(self, work: UnitOfWork, now: datetime) -> OrgDirectory:
        """The directory with the delegations in force now (they live in the store, shared by all processes)."""
        delegations = await work.active_delegations(now)
        return self._directory.with_delegations(delegations) if delegations else self._directory

    async def _apply(
        self, task_id: str, command: SnoozeTask | ReassignTask | ResubmitForm | CommentOn
    ) -> Instance | Refused:
        now = self._clock.now()
        async with self._store.transaction() as work:
            instance = await work.instance_of_task(task_id)
            if instance is None:
                return Refused("That task does not exist.")
            definition = await self._definition_of(work, instance)
            outcome = decide(definition, await self._directory_in(work, now), instance, command, now)
            if isinstance(outcome, Refusal):
                await work.append_events(instance.id, [outcome.event])
                return Refused(outcome.reason)
            await self._record(work, definition, outcome)
        self._on_commit()
        return outcome.instance


def _fire(timer: DueTimer) -> FireTimer:
    return FireTimer(timer.task_id, timer.kind, timer.due_at, timer.recipient, timer.level)
