"""The one way a command goes through Baton: load its subject, ask the engine, then refuse or record, once."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.engine import Event, Instance, OrgDirectory, Refusal, RefusalReason, Transition, Why, WorkflowDefinition
from bot.recording import Recording
from bot.store import UnitOfWork
from bot.workspace import definition_of

__all__ = ["AfterRecord", "Ask", "CommandPipeline", "Judge", "Loader", "Refused", "Subject", "by_request", "by_task"]

log = logging.getLogger(__name__)

MOST_AT_ONCE = 64  # commands on tasks committed in one transaction: bounds how long one holds the store
MOST_LOOKED_AT = 4 * MOST_AT_ONCE  # commands a transaction looks through for the next task not in it yet


@dataclass(frozen=True)
class Refused:
    """The command was refused; `bot/slack/refusals.py` words `why` for the person."""

    why: Why


@dataclass(frozen=True)
class Subject:
    """What a command is about: a running request, or (with `new_instance_id`) one about to start."""

    definition: WorkflowDefinition
    instance: Instance | None = None
    new_instance_id: int | None = None


Loader = Callable[[UnitOfWork], Awaitable[Subject | Refused]]
Judge = Callable[[Subject, OrgDirectory, datetime], Transition | Refusal]
Ask = Callable[[Subject, OrgDirectory, datetime], Refusal | None]
AfterRecord = Callable[[UnitOfWork, Subject, Transition], Awaitable[None]]


def by_task(task_id: str) -> Loader:
    """Load the request a task belongs to."""

    async def load(work: UnitOfWork) -> Subject | Refused:
        instance = await work.instance_of_task(task_id)
        if instance is None:
            return Refused(Why(RefusalReason.NO_SUCH_TASK))
        return Subject(await definition_of(work, instance), instance)

    return load


def by_request(instance_id: int) -> Loader:
    """Load a request by its number."""

    async def load(work: UnitOfWork) -> Subject | Refused:
        instance = await work.instance(instance_id)
        if instance is None:
            return Refused(Why(RefusalReason.NO_SUCH_REQUEST, {"request": str(instance_id)}))
        return Subject(await definition_of(work, instance), instance)

    return load


@dataclass(frozen=True)
class _OnTask:
    """A command on a task waiting for its turn, and where its outcome goes once it is committed."""

    task_id: str
    judge: Judge
    answer: asyncio.Future[Transition | Refused]
    caller: contextvars.Context  # the caller's context (its trace span, for one)
    arrived: int  # its place in the order commands arrived in
    alone: bool = False  # it failed with others: it gets a transaction of its own, so it fails alone


class CommandPipeline:
    """Every command: one transaction that loads, asks the engine, and records either the refusal or the outcome.

    Commands on tasks (the clicks) that arrive while the store is busy are committed together, in the next
    transaction (group commit): each is decided on what the ones before it left, and each caller gets its
    outcome only once that transaction is committed. If the transaction fails, nothing of it is written and
    each of its commands is tried again in a transaction of its own, so one that cannot be recorded fails
    alone."""

    def __init__(
        self,
        recording: Recording,
        *,
        on_group_commit: Callable[[int], None] = lambda _size: None,
        on_decided: Callable[[str, Transition], None] = lambda _task_id, _transition: None,
        on_batch: Callable[[Sequence[contextvars.Context]], None] = lambda _callers: None,
    ) -> None:
        self._workspace, self._recorder, self._on_commit = recording.workspace, recording.recorder, recording.on_commit
        self._on_group_commit = on_group_commit  # how many commands on tasks each such transaction committed
        self._on_decided = on_decided  # run in the caller's context once its command on a task is committed
        self._on_batch = on_batch  # run in a transaction's context with the contexts of the callers it took
        self._waiting: deque[_OnTask] = deque()
        self._arrivals = itertools.count()
        self._committers: set[asyncio.Task[None]] = set()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Commands on tasks given to `run_on_task` and not answered yet."""
        return self._in_flight

    async def settled(self, *, timeout: float) -> bool:
        """Wait until no command on a task waits or is being committed; False if `timeout` ran out first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._committers:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def run_on_task(self, task_id: str, judge: Judge) -> Transition | Refused:
        """`run(by_task(task_id), judge)`, committed together with the commands on tasks that arrive meanwhile."""
        answer: asyncio.Future[Transition | Refused] = asyncio.get_running_loop().create_future()
        self._waiting.append(_OnTask(task_id, judge, answer, contextvars.copy_context(), next(self._arrivals)))
        if len(self._committers) < self._workspace.store.writers_at_once:
            # A context of its own: it works for every caller, not for the one that woke it.
            committer = asyncio.create_task(
                self._commit_waiting(), name="baton-group-commit", context=contextvars.Context()
            )
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        self._in_flight += 1
        try:
            outcome = await answer  # a caller cancelled before its turn is left out (its answer is cancelled)
        finally:
            self._in_flight -= 1
        if isinstance(outcome, Transition):
            self._on_decided(task_id, outcome)
        return outcome

    async def _commit_waiting(self) -> None:
        try:
            while self._waiting:
                await self._commit_batch()
        finally:
            current = asyncio.current_task()
            if current is not None:  # at once, not in a done callback: a command queued now starts a committer
                self._committers.discard(current)
            while self._waiting and not self._committers:  # the last one, cancelled: nobody is left waiting
                job = self._waiting.popleft()
                if not job.answer.done():
                    job.answer.cancel()

    async def _commit_batch(self) -> None:
        jobs: list[_OnTask] = []
        answers: list[Transition | Refused] = []
        decided = False  # the body ran to its end: what fails now is the commit itself
        try:
            async with self._workspace.store.transaction() as work:
                jobs = self._take()  # the store is this transaction's now: everything that queued meanwhile
                if not jobs:
                    return
                instances = await work.instances_of_tasks([job.task_id for job in jobs])
                now = self._workspace.now()  # after the rows' locks (PostgreSQL), so each history stays in order
                jobs, later = _one_per_request(jobs, instances)
                self._put_back(later)  # decided next, on what these leave
                self._on_batch([job.caller for job in jobs])
                answers = await self._decide_together(work, jobs, instances, now)
                decided = True
        except BaseException as error:
            if not jobs:  # the store could not even be opened: everyone waiting hears why, nobody spins
                jobs = [self._waiting.popleft() for _ in range(len(self._waiting))]
            elif isinstance(error, Exception) and len(jobs) > 1 and not decided:
                # Nothing of it was written: each command gets a transaction of its own, so one fails alone.
                # (A failed COMMIT is not retried: on PostgreSQL it may have committed after all.)
                log.warning("%s commands on tasks failed together (%r); each is tried alone", len(jobs), error)
                self._waiting.extendleft(replace(job, alone=True) for job in reversed(jobs))
                return
            for job in jobs:
                if job.answer.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    job.answer.cancel()
                else:
                    job.answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        try:
            self._on_group_commit(len(jobs))
            if any(isinstance(answer, Transition) for answer in answers):
                self._on_commit()
        finally:  # committed: every caller gets its outcome, whatever the hooks do
            for job, answer in zip(jobs, answers, strict=True):
                if not job.answer.done():
                    job.answer.set_result(answer)

    def _take(self) -> list[_OnTask]:
        """The commands to commit now, in order: all that wait (up to MOST_AT_ONCE), or one that must go alone.

        Only the first command on each task is taken; the later ones keep their places for the next
        transaction, which decides them on what this one leaves. So a flood on one task (a double-clicking bot,
        a large group step) costs a transaction per click on that task, not on every request queued behind."""
        jobs: list[_OnTask] = []
        later: list[_OnTask] = []
        tasks: set[str] = set()
        looked_at = 0
        while self._waiting and len(jobs) < MOST_AT_ONCE and looked_at < MOST_LOOKED_AT:
            if self._waiting[0].alone and jobs:
                break
            job = self._waiting.popleft()
            looked_at += 1
            if job.answer.done():  # its caller gave up before its turn: nothing of it is written
                continue
            if job.task_id in tasks:
                later.append(job)
                continue
            jobs.append(job)
            tasks.add(job.task_id)
            if job.alone:
                break
        self._put_back(later)
        return jobs

    def _put_back(self, jobs: Sequence[_OnTask]) -> None:
        """Back into the queue, each in its place by arrival: the commands on one request are decided in the
        order they came, whichever tasks they are on (`_take` passes over later commands on a task it took)."""
        front: list[_OnTask] = []
        for job in sorted(jobs, key=lambda job: job.arrived):
            while self._waiting and self._waiting[0].arrived < job.arrived:
                front.append(self._waiting.popleft())
            front.append(job)
        self._waiting.extendleft(reversed(front))

    async def _decide_together(
        self, work: UnitOfWork, jobs: Sequence[_OnTask], instances: Mapping[str, Instance], now: datetime
    ) -> list[Transition | Refused]:
        """Decide and record these commands (each on a request of its own), in order, in this unit of work."""
        directory = await self._workspace.directory_in(work, now)
        answers: list[Transition | Refused] = []
        outcomes: list[tuple[WorkflowDefinition, Transition]] = []
        refusals: list[tuple[int, Event]] = []
        for job in jobs:
            instance = instances.get(job.task_id)
            if instance is None:
                answers.append(Refused(Why(RefusalReason.NO_SUCH_TASK)))
                continue
            definition = await definition_of(work, instance)
            outcome = job.judge(Subject(definition, instance), directory, now)
            if isinstance(outcome, Refusal):
                refusals.append((instance.id, outcome.event))
                answers.append(Refused(outcome.why))
            else:
                outcomes.append((definition, outcome))
                answers.append(outcome)
        await self._recorder.record_all(work, outcomes)
        if refusals:
            await work.append_history(refusals)
        return answers

    async def run(self, load: Loader, judge: Judge, *, then: AfterRecord | None = None) -> Transition | Refused:
        """Decide and record; a refusal of a running request is in its history (a start refused is only logged).
        `then` writes what belongs with the recorded outcome, in the same transaction."""
        now = self._workspace.now()
        async with self._workspace.store.transaction() as work:
            subject = await load(work)
            if isinstance(subject, Refused):
                return subject
            outcome = judge(subject, await self._workspace.directory_in(work, now), now)
            if isinstance(outcome, Refusal):
                if subject.instance is not None:
                    await work.append_events(subject.instance.id, [outcome.event])
                return Refused(outcome.why)
            if subject.instance is None:  # a new request keeps the definition version it started on
                await work.save_definition(subject.definition, now)
            await self._recorder.record(work, subject.definition, outcome)
            if then is not None:
                await then(work, subject, outcome)
        self._on_commit()
        return outcome

    async def run_logged(
        self, load: Loader, judge: Judge, log: logging.Logger, line: str, *, actor: str, shown: object
    ) -> Instance | Refused:
        """Run a command on a request and, once it is recorded, log `line` with the request's number and `shown`
        (e.g. `"request rated: instance=%s score=%s"`) under the request's workflow, number and `actor`."""
        outcome = await self.run(load, judge)
        if isinstance(outcome, Refused):
            return outcome
        instance = outcome.instance
        fields = {"workflow": instance.workflow, "instance": instance.id, "user": actor}
        log.info(line, instance.id, shown, extra=fields)
        return instance

    async def check(self, load: Loader, ask: Ask) -> Subject | Refused:
        """Ask the engine whether a command may go ahead, deciding nothing; a no is still in the history."""
        now = self._workspace.now()
        async with self._workspace.store.transaction(read_only=True) as work:
            subject = await load(work)
            if isinstance(subject, Refused):
                return subject
            refusal = ask(subject, await self._workspace.directory_in(work, now), now)
        if refusal is None:
            return subject
        if subject.instance is not None:
            async with self._workspace.store.transaction() as work:
                await work.append_events(subject.instance.id, [refusal.event])
        return Refused(refusal.why)


def _one_per_request(jobs: Sequence[_OnTask], instances: Mapping[str, Instance]) -> tuple[list[_OnTask], list[_OnTask]]:
    """The first command on each request (and those on tasks that do not exist), and the rest, in order: a
    second command on a request is decided in the next transaction, on what the first left."""
    now: list[_OnTask] = []
    later: list[_OnTask] = []
    seen: set[int] = set()
    for job in jobs:
        instance = instances.get(job.task_id)
        if instance is not None and instance.id in seen:
            later.append(job)
            continue
        if instance is not None:
            seen.add(instance.id)
        now.append(job)
    return now, later
