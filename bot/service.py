"""The application service: every command through one pipeline (load, ask the engine, refuse or record)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.callbacks import callback_messages
from bot.catalog import Catalog
from bot.delegations import Delegations
from bot.engine import (
    ActOnTask,
    CancelInstance,
    CommentOn,
    ExtendWait,
    FormValue,
    Instance,
    OrgDirectory,
    ReassignTask,
    Refusal,
    RefusalReason,
    ResubmitForm,
    SnoozeTask,
    StartWorkflow,
    Task,
    Transition,
    Why,
    WordedText,
    WorkflowDefinition,
    can_start,
    decide,
    may_act,
    start,
    worded,
)
from bot.engine.builder import refuse
from bot.engine.extensions import extension_refusal
from bot.engine.permissions import NOT_YOURS, comment_refusal, hand_over_refusal
from bot.pipeline import CommandPipeline, Refused, Subject, by_request, by_task
from bot.ratings import Ratings
from bot.recording import Recording, TransitionRecorder
from bot.rendering import Renderer
from bot.screens import HomeData, Screens, StatusView
from bot.sightings import Sightings
from bot.store import ApiOrigin, ApiStart, UnitOfWork
from bot.sweeps import DigestSweep, TimerSweep
from bot.workflow_steps import StepExecutions
from bot.workspace import Workspace, definition_of

__all__ = ["Acted", "FormInvalid", "HomeData", "Refused", "Started", "StatusView", "WorkflowService"]

log = logging.getLogger(__name__)

PermissionRule = Callable[[WorkflowDefinition, OrgDirectory, Instance], Why | None]


@dataclass(frozen=True)
class Started:
    instance: Instance


@dataclass(frozen=True)
class FormInvalid:
    errors: dict[str, str]


@dataclass(frozen=True)
class Acted:
    instance: Instance
    task: Task


TaskCommand = SnoozeTask | ReassignTask | ResubmitForm | CommentOn | ExtendWait


class WorkflowService:
    """The commands Baton offers, each one a pass through the pipeline; screens, sweeps and delegations beside."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        renderer: Renderer,
        on_commit: Callable[[], None] = lambda: None,
        on_new_people: Callable[[Iterable[str]], None] = lambda _people: None,
        usergroup_handle: Callable[[str], str | None] = lambda _id: None,
        on_group_commit: Callable[[int], None] = lambda _size: None,
        on_decided: Callable[[str, Transition], None] = lambda _task_id, _transition: None,
        on_batch: Callable[[Sequence[contextvars.Context]], None] = lambda _callers: None,
    ) -> None:
        self._workspace = workspace
        recorder = TransitionRecorder(workspace, renderer, on_new_people=on_new_people)
        recording = Recording(workspace, recorder, on_commit)
        self._pipeline = CommandPipeline(
            recording, on_group_commit=on_group_commit, on_decided=on_decided, on_batch=on_batch
        )
        self.screens = Screens(workspace, self._pipeline)
        self.delegations = Delegations(workspace)
        self.timer_sweep = TimerSweep(recording)
        self.digests = DigestSweep(recording)
        self.steps = StepExecutions(workspace, self._pipeline, usergroup_handle=usergroup_handle, on_commit=on_commit)
        self.ratings = Ratings(self._pipeline)
        self.sightings = Sightings(workspace)

    @property
    def catalog(self) -> Catalog:
        return self._workspace.catalog

    @property
    def directory(self) -> OrgDirectory:
        return self._workspace.directory

    def use_catalog(self, catalog: Catalog) -> None:
        """Switch to newly loaded workflow files; running instances keep the version they started on."""
        self._workspace.use_catalog(catalog)

    def now(self) -> datetime:
        """The time as Baton sees it (the sandbox can move it)."""
        return self._workspace.now()

    def definition(self, name: str) -> WorkflowDefinition | None:
        return self._workspace.catalog.workflows.get(name)

    def startable_by(self, user_id: str) -> list[WorkflowDefinition]:
        return self._workspace.startable_by(user_id)

    def start_refusal(self, definition: WorkflowDefinition, user_id: str) -> Why | None:
        """Why this person may not start this workflow, or None when they may."""
        if can_start(definition, self._workspace.directory, user_id):
            return None
        return Why(RefusalReason.NOT_ALLOWED_TO_START, {"workflow": definition.title})

    async def start(
        self,
        workflow: str | WorkflowDefinition,
        requester: str,
        form: dict[str, FormValue],
        *,
        origin_channel: str | None = None,
        trigger: str = "command",
        request_key: str | None = None,
        api: ApiStart | None = None,
    ) -> Started | Refused | FormInvalid:
        """Start a workflow of the catalog by name, or a request on a definition made for it (a one-off
        approval's); a request_key makes a retried request start it only once; `api` records the caller that
        started it, with the request, in the same transaction."""
        definition = self.definition(workflow) if isinstance(workflow, str) else workflow
        if definition is None:
            return Refused(Why(RefusalReason.NO_SUCH_WORKFLOW, {"name": str(workflow)}))
        name = definition.name
        _clean, errors = definition.validate_form(form, partial=trigger == "team_join")
        if errors:
            return FormInvalid(errors)

        async def load(work: UnitOfWork) -> Subject | Refused:
            if request_key is not None and not await work.first_sighting(request_key, self.now()):
                return Refused(Why(RefusalReason.ALREADY_RECEIVED))
            return Subject(definition, new_instance_id=await work.next_instance_id())

        def judge(subject: Subject, directory: OrgDirectory, now: datetime) -> Transition | Refusal:
            assert subject.new_instance_id is not None
            command = StartWorkflow(subject.new_instance_id, requester, form, origin_channel, trigger)
            return start(definition, directory, command, now)

        async def remember_caller(work: UnitOfWork, subject: Subject, transition: Transition) -> None:
            if api is None:
                return
            origin = ApiOrigin(transition.instance.id, self.now(), api)
            await work.record_api_origin(origin)
            # A request can end as it starts (every step skipped): its callback goes out all the same.
            await work.enqueue(
                callback_messages(origin, definition, transition.instance, transition.events), self.now()
            )

        outcome = await self._pipeline.run(load, judge, then=remember_caller)
        if isinstance(outcome, Refused):
            log.info("start refused: workflow=%s user=%s reason=%s", name, requester, outcome.why.reason)
            return outcome
        instance_id = outcome.instance.id
        log.info(
            "workflow started: workflow=%s instance=%s requester=%s",
            name,
            instance_id,
            requester,
            extra={"workflow": name, "instance": instance_id, "user": requester},
        )
        return Started(outcome.instance)

    @property
    def commands_in_flight(self) -> int:
        """Commands on tasks (clicks) waiting for their commit or being committed."""
        return self._pipeline.in_flight

    async def commands_settled(self, *, timeout: float) -> bool:
        """Wait until every command on a task given so far is committed and answered (False on timeout)."""
        return await self._pipeline.settled(timeout=timeout)

    async def act(self, task_id: str, actor: str, decision: str, comment: str | None = None) -> Acted | Refused:
        """Complete, approve or reject a task as `actor`; who may is decided from stored state only."""
        outcome = await self._pipeline.run_on_task(task_id, _deciding(ActOnTask(task_id, actor, decision, comment)))
        if isinstance(outcome, Refused):
            return outcome
        task = outcome.instance.task(task_id)
        assert task is not None
        log.info(
            "task %s: task=%s actor=%s instance=%s",
            decision,
            task_id,
            actor,
            outcome.instance.id,
            extra={
                "workflow": outcome.instance.workflow,
                "instance": outcome.instance.id,
                "step": task.step_id,
                "task": task_id,
            },
        )
        return Acted(outcome.instance, task)

    async def check_act(self, task_id: str, actor: str, decision: str) -> Refused | WordedText:
        """May `actor` take this decision now? The refusal (in the history), or the task's title to ask about."""
        command = ActOnTask(task_id, actor, decision)

        def ask(subject: Subject, directory: OrgDirectory, now: datetime) -> Refusal | None:
            assert subject.instance is not None
            return may_act(subject.definition, directory, subject.instance, command, now)

        subject = await self._pipeline.check(by_task(task_id), ask)
        if isinstance(subject, Refused):
            return subject
        task = subject.instance.task(task_id) if subject.instance else None
        return task.title if task else worded(task_id)

    async def may_hand_over(self, task_id: str, actor: str) -> Refused | WordedText:
        """May `actor` hand this task over now? The refusal, or the task's title for the form (nothing recorded)."""
        return await self._ask(task_id, lambda d, people, i: hand_over_refusal(d, people, i, task_id, actor))

    async def may_comment(self, task_id: str, actor: str) -> Refused | WordedText:
        """May `actor` comment on this task's request now? The refusal, or the task's title for the form."""
        return await self._ask(task_id, lambda _d, people, instance: comment_refusal(people, instance, actor))

    async def _ask(self, task_id: str, rule: PermissionRule) -> Refused | WordedText:
        """Answer a "may this person…" rule of the engine from stored state, without deciding anything."""
        async with self._workspace.store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
            if instance is None:
                return Refused(NOT_YOURS)
            definition = await definition_of(work, instance)
            directory = await self._workspace.directory_in(work, self._workspace.now())
        refusal = rule(definition, directory, instance)
        task = instance.task(task_id)
        return Refused(refusal) if refusal is not None else (task.title if task else worded(task_id))

    async def cancel(self, instance_id: int, actor: str, reason: str | None = None) -> Instance | Refused:
        """Cancel a request (its requester or an admin)."""

        def judge(subject: Subject, directory: OrgDirectory, now: datetime) -> Transition | Refusal:
            assert subject.instance is not None
            if not self._workspace.may_see(subject.definition, subject.instance, actor):
                request = {"request": str(instance_id)}  # say no more than for a request that is not there
                return refuse(RefusalReason.NO_SUCH_REQUEST, now, actor, action="cancel", facts=request)
            return decide(subject.definition, directory, subject.instance, CancelInstance(actor, reason), now)

        line = "instance cancelled: instance=%s actor=%s"
        return await self._pipeline.run_logged(by_request(instance_id), judge, log, line, actor=actor, shown=actor)

    async def snooze(self, task_id: str, actor: str, option: str) -> Instance | Refused:
        """Quiet a task's reminders for its holder until the chosen time (never past the final deadline)."""
        return await self._apply(task_id, SnoozeTask(task_id, actor, option))

    async def reassign(self, task_id: str, actor: str, to: str, note: str | None = None) -> Instance | Refused:
        """Hand a task to someone else; the previous holders are told."""
        return await self._apply(task_id, ReassignTask(task_id, actor, to, note))

    async def open_tasks_of(self, user_id: str, *, limit: int = 50) -> list[Task]:
        """The open tasks `user_id` holds, soonest due first."""
        async with self._workspace.store.transaction(read_only=True) as work:
            return await work.open_tasks_of(user_id, limit=limit)

    async def resubmit(self, task_id: str, actor: str, form: dict[str, FormValue]) -> Instance | Refused | FormInvalid:
        """The requester answers a change request with the edited form; the reviewers decide again."""
        async with self._workspace.store.transaction(read_only=True) as work:
            instance = await work.instance_of_task(task_id)
            definition = await definition_of(work, instance) if instance else None
        if definition is not None:
            _clean, errors = definition.validate_form(form)
            if errors:
                return FormInvalid(errors)
        return await self._apply(task_id, ResubmitForm(task_id, actor, form))

    async def comment(self, task_id: str, actor: str, text: str) -> Instance | Refused:
        """Add a comment to the request a task belongs to; everyone involved sees it in their thread."""
        return await self._apply(task_id, CommentOn(actor, text))

    async def may_extend(self, task_id: str, actor: str) -> Refused | WordedText:
        """May `actor` ask for more time on this wait? The refusal, or the wait's title for the form."""
        return await self._ask(task_id, lambda definition, _people, i: extension_refusal(definition, i, task_id, actor))

    async def extend(self, task_id: str, actor: str, days: int, reason: str) -> Instance | Refused:
        """The requester asks for `days` more on a wait (an access that lapses); the approvers decide."""
        return await self._apply(task_id, ExtendWait(task_id, actor, days, reason))

    async def _apply(self, task_id: str, command: TaskCommand) -> Instance | Refused:
        outcome = await self._pipeline.run_on_task(task_id, _deciding(command))
        return outcome if isinstance(outcome, Refused) else outcome.instance

    async def start_for_new_member(self, user_id: str) -> list[Started | Refused | FormInvalid]:
        """Start every workflow that asks to run when someone joins the workspace."""
        results: list[Started | Refused | FormInvalid] = []
        for name, definition in sorted(self._workspace.catalog.workflows.items()):
            field = definition.start.on_team_join
            if field is None:
                continue
            key = f"team_join:{user_id}:{name}"
            results.append(await self.start(name, user_id, {field: user_id}, trigger="team_join", request_key=key))
        return results

    async def request_for_api(self, instance_id: int) -> tuple[WorkflowDefinition, Instance, ApiOrigin | None] | None:
        """A request with its definition and, when it came in over the API, its caller (for `GET /api/requests`)."""
        async with self._workspace.store.transaction(read_only=True) as work:
            instance = await work.instance(instance_id)
            if instance is None:
                return None
            return await definition_of(work, instance), instance, await work.api_origin(instance_id)

    async def api_request_by_key(self, token: str, idempotency_key: str) -> ApiOrigin | None:
        """The request a token started with this idempotency key, if any."""
        async with self._workspace.store.transaction(read_only=True) as work:
            return await work.api_origin_by_key(token, idempotency_key)


def _deciding(command: ActOnTask | TaskCommand) -> Callable[[Subject, OrgDirectory, datetime], Transition | Refusal]:
    """The engine's decision on a command about a running request."""

    def judge(subject: Subject, directory: OrgDirectory, now: datetime) -> Transition | Refusal:
        assert subject.instance is not None
        return decide(subject.definition, directory, subject.instance, command, now)

    return judge
