"""The one way a command goes through Baton: load its subject, ask the engine, then refuse or record, once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.engine import Instance, OrgDirectory, Refusal, RefusalReason, Transition, Why, WorkflowDefinition
from bot.recording import Recording
from bot.store import UnitOfWork
from bot.workspace import definition_of

__all__ = ["AfterRecord", "Ask", "CommandPipeline", "Judge", "Loader", "Refused", "Subject", "by_request", "by_task"]


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


class CommandPipeline:
    """Every command: one transaction that loads, asks the engine, and records either the refusal or the outcome."""

    def __init__(self, recording: Recording) -> None:
        self._workspace, self._recorder, self._on_commit = recording.workspace, recording.recorder, recording.on_commit

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
