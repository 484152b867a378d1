"""The transition under construction: state changes, events and effects of one command, plus refusals."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from .assignees import Directory, resolve, resolve_first
from .definition import ApprovalRule, FieldType, FormField, Step, StepKind, WorkflowDefinition
from .events import (
    AddTimers,
    CancelTimers,
    Effect,
    Event,
    InstanceFinished,
    NotifyTargets,
    Refusal,
    TaskClosed,
    TaskDelegated,
    TaskOpened,
    Transition,
)
from .expressions import FormValue, fill_template
from .instance import FieldChange, Instance, InstanceStatus, Task, TaskStatus
from .refusals import People, RefusalFacts, RefusalReason, Why
from .timers import deadline_at, first_timers, task_due_at, wait_timers
from .waits import wait_ends_at
from .wording import PLAIN_WORDING, Named, Part, Typed, WordedText, Written, worded

__all__ = ["TransitionBuilder", "already_closed", "placeholder_text", "refuse", "template_values"]


class TransitionBuilder:
    """Accumulates one transition's state changes, events and effects."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        directory: Directory,
        instance: Instance,
        now: datetime,
        events: list[Event],
        effects: list[Effect],
    ) -> None:
        self.definition = definition
        self.directory = directory
        self.instance = instance
        self.now = now
        self.events = events
        self.effects = effects
        self.changes: tuple[FieldChange, ...] = ()
        self.delegated_from: dict[str, str] = {}

    def transition(self) -> Transition:
        return Transition(
            self.instance.model_copy(update={"updated_at": self.now}), tuple(self.events), tuple(self.effects)
        )

    def plain(self, template: str) -> str:
        """A step's template with the request's values as plain text, for text any adapter may show or escape
        (an outcome's reason): people as `@U…`, typed text as typed."""
        return self._filled(template).shown_in(PLAIN_WORDING)

    def _filled(self, template: str) -> WordedText:
        """A step's template with the request's values, as facts (people by id, typed text as typed)."""
        return fill_template(template, template_values(self.definition, self.instance))

    def replace_task(self, task: Task) -> None:
        tasks = tuple(task if existing.id == task.id else existing for existing in self.instance.tasks)
        self.instance = self.instance.model_copy(update={"tasks": tasks})

    def close_task(self, closed: Task) -> None:
        """Replace a task by its closed self, update its messages and drop its timers."""
        self.replace_task(closed)
        self.effects.append(TaskClosed(closed))
        self.effects.append(CancelTimers(closed.id))

    def stage_is_done(self) -> bool:
        step_ids = {step.id for step in self.definition.stage_steps(self.instance.stage_index)}
        return not any(task.status.is_open and task.step_id in step_ids for task in self.instance.tasks)

    def enter_stage(self, index: int) -> None:
        """Open the stage at index; stages with nothing to wait for are passed through at once."""
        while index < len(self.definition.stages):
            self.instance = self.instance.model_copy(update={"stage_index": index})
            for step in self.definition.stage_steps(index):
                self._enter_step(step)
                if self.instance.status.is_finished:
                    return
            if not self.stage_is_done():
                return
            index += 1
        self.finish(InstanceStatus.COMPLETED, by=None, reason=None)

    def _enter_step(self, step: Step) -> None:
        condition = step.condition
        if condition and not condition.evaluate(self.instance.form):
            self.events.append(Event("step_skipped", self.now, data={"step": step.id, "when": step.when}))
            return
        if step.type is StepKind.NOTIFY:
            self._notify(step)
            return
        if step.type is StepKind.WAIT:
            self._wait(step)
            return
        assignees = self._assignees_for(step)
        if not assignees:
            self.finish(
                InstanceStatus.FAILED,
                by=None,
                reason=f"Nobody could be found for step “{step.title}” ({', '.join(step.assignee)}) "
                "and no admin is configured.",
            )
            return
        assignees = self._delegate(step, assignees)
        round_suffix = f".r{self.instance.round}" if self.instance.round > 1 else ""
        task = Task(
            id=f"{self.instance.id}.{step.id}{round_suffix}",
            instance_id=self.instance.id,
            step_id=step.id,
            kind=step.type,
            title=self._filled(step.title),
            assignees=assignees,
            created_at=self.now,
            due_at=task_due_at(step, assignees, self.directory, self.now),
        )
        task = task.model_copy(
            update={
                "deadline_at": deadline_at(step, task, self.directory),
                "round": self.instance.round,
                "changes": self.changes,
                "delegated_from": self.delegated_from,
            }
        )
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, task)})
        self.events.append(
            Event("task_assigned", self.now, task_id=task.id, data={"step": step.id, "assignees": list(assignees)})
        )
        self.effects.append(TaskOpened(task))
        timers = first_timers(step, task, self.directory, self.now)
        if timers:
            self.effects.append(AddTimers(timers))

    def _wait(self, step: Step) -> None:
        """Open a wait: a task nobody works on, ending at its time (with nothing to wait for, it passes at once).
        The requester holds it when it reminds them or may be extended, so its message and button reach them."""
        requester = self.instance.requester
        ends = wait_ends_at(
            until=step.until, length=step.wait_length, form=self.instance.form,
            calendar=self.directory.calendar, zone=self.directory.zone_of(requester), now=self.now,
        )  # fmt: skip
        if ends is None or ends <= self.now:
            self.events.append(Event("wait_over", self.now, data={"step": step.id, "waited_seconds": 0}))
            return
        holder = (requester,) if step.remind is not None or step.extend is not None else ()
        round_suffix = f".r{self.instance.round}" if self.instance.round > 1 else ""
        title = self._filled(step.shown_title)
        task = Task(
            id=f"{self.instance.id}.{step.id}{round_suffix}", instance_id=self.instance.id, step_id=step.id,
            kind=StepKind.WAIT, title=title, assignees=holder, created_at=self.now, due_at=ends,
            round=self.instance.round,
        )  # fmt: skip
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, task)})
        data = {"step": step.id, "until": ends.isoformat()}
        self.events.append(Event("wait_started", self.now, task_id=task.id, data=data))
        if holder:
            self.effects.append(TaskOpened(task))
        self.effects.append(AddTimers(wait_timers(step, task, self.now)))

    def _delegate(self, step: Step, assignees: tuple[str, ...]) -> tuple[str, ...]:
        """Send each absent person's task to their delegate (never to the requester for an approval). Where several
        decide together (rule all or quorum), a delegate who already has a seat takes no second one: the absent
        person keeps theirs, so the rule needs as many people as it names."""
        self.delegated_from = {}
        result: list[str] = []
        seated = set(assignees) if step.type is StepKind.APPROVAL and step.rule is not ApprovalRule.ANY else None
        for person in assignees:
            delegate = self.directory.delegate_of(person)
            own_request = step.type is StepKind.APPROVAL and delegate == self.instance.requester
            merges_seats = seated is not None and delegate in seated
            if delegate and delegate != person and not own_request and not merges_seats:
                if seated is not None:
                    seated.add(delegate)
                self.delegated_from[delegate] = person
                result.append(delegate)
                self.events.append(
                    Event("task_delegated", self.now, data={"step": step.id, "from": person, "to": delegate})
                )
                title = self._filled(step.title)
                self.effects.append(TaskDelegated(person, delegate, title))
            else:
                result.append(person)
        return tuple(dict.fromkeys(result))

    def send_back(self, closed: Task, *, by: str, comment: str) -> None:
        """A reviewer asked for changes: close the stage's other tasks and give the requester a revision task."""
        for task in self.instance.open_tasks():
            cancelled = task.model_copy(update={"status": TaskStatus.CANCELLED, "acted_at": self.now})
            self.close_task(cancelled)
        revision = Task(
            id=f"{self.instance.id}.revise.r{self.instance.round}",
            instance_id=self.instance.id,
            step_id="revise",
            kind=StepKind.REVISION,
            title=worded("Update your request: ", Typed(typed=comment), limit=150),  # typed text is never markup
            assignees=(self.instance.requester,),
            created_at=self.now,
            comment=comment,
            acted_by=None,
            round=self.instance.round,
            previous_assignees=(by,),
        )
        self.instance = self.instance.model_copy(update={"tasks": (*self.instance.tasks, revision)})
        self.events.append(
            Event(
                "revision_requested",
                self.now,
                actor=by,
                task_id=revision.id,
                data={"comment": comment, "round": self.instance.round},
            )
        )
        self.effects.append(TaskOpened(revision))

    def _assignees_for(self, step: Step) -> tuple[str, ...]:
        exclude = frozenset(
            {self.instance.requester} if step.type is StepKind.APPROVAL and not step.allow_self_approval else ()
        )
        people = resolve_first(
            step.assignee_refs,
            requester=self.instance.requester,
            form=self.instance.form,
            directory=self.directory,
            exclude=exclude,
        )
        if people:
            return people
        admins = tuple(admin for admin in self.directory.admins if admin not in exclude)
        self.events.append(
            Event(
                "assignee_fallback",
                self.now,
                data={"step": step.id, "wanted": list(step.assignee), "assigned_to_admins": list(admins)},
            )
        )
        return admins

    def _notify(self, step: Step) -> None:
        people: list[str] = []
        channels: list[str] = []
        for ref in step.target_refs:
            if ref.kind == "channel":
                channels.append(ref.name)
                continue
            people.extend(
                resolve(ref, requester=self.instance.requester, form=self.instance.form, directory=self.directory)
            )
        text = self._filled(step.text or "")
        people_unique = tuple(dict.fromkeys(people))
        self.events.append(
            Event(
                "notified",
                self.now,
                data={"step": step.id, "people": list(people_unique), "channels": channels},
            )
        )
        self.effects.append(NotifyTargets(step.id, people_unique, tuple(channels), text))

    def finish(self, status: InstanceStatus, *, by: str | None, reason: str | None) -> None:
        for task in self.instance.open_tasks():
            cancelled = task.model_copy(update={"status": TaskStatus.CANCELLED, "acted_at": self.now})
            self.close_task(cancelled)
            self.events.append(Event("task_cancelled", self.now, actor=by, task_id=task.id))
        self.instance = self.instance.model_copy(
            update={"status": status, "finished_at": self.now, "finished_by": by, "outcome_reason": reason}
        )
        self.events.append(
            Event(f"instance_{status.value}", self.now, actor=by, data={"reason": reason} if reason else {})
        )
        self.effects.append(InstanceFinished())


def template_values(definition: WorkflowDefinition, instance: Instance) -> Mapping[str, WordedText]:
    """Values for `{...}` placeholders: form fields, requester, workflow, instance; people by id, typed text as
    typed (each adapter words them: Slack's as mentions and escaped text). Each is worded when a template asks
    for it: a title names one or two of them, and every message Baton renders fills a few titles."""
    return _TemplateValues(definition, instance)


class _TemplateValues(Mapping[str, WordedText]):
    _NAMES = ("requester", "workflow", "instance", "title")

    def __init__(self, definition: WorkflowDefinition, instance: Instance) -> None:
        self._definition = definition
        self._instance = instance

    def __getitem__(self, name: str) -> WordedText:
        instance = self._instance
        if name == "requester":
            return worded(Named(user=instance.requester))
        if name == "workflow":
            return worded(self._definition.title)
        if name == "instance":
            return worded(f"#{instance.id}")
        if name == "title":
            return worded(instance.title)
        field = self._definition.field(name[5:]) if name.startswith("form.") else None
        if field is None:
            raise KeyError(name)
        value = instance.form.get(field.id)
        return worded("—") if value is None else placeholder_text(field, value)

    def __iter__(self) -> Iterator[str]:
        yield from self._NAMES
        yield from (f"form.{field.id}" for field in self._definition.form)

    def __len__(self) -> int:
        return len(self._NAMES) + len(self._definition.form)


def placeholder_text(field: FormField, value: FormValue) -> WordedText:
    """One form value in a `{form.x}` placeholder: options by their labels, lists comma-separated, files by name,
    people by id and typed text as typed."""
    items: list[Any] = value if isinstance(value, list) else [value]
    if field.type in (FieldType.USER, FieldType.MULTI_USER):
        return _listed(Named(user=str(user)) for user in items)
    if field.type.has_options:
        labels = {option.value: option.label for option in field.options}
        return _listed(Written(written=labels.get(str(item), str(item))) for item in items)
    if field.type is FieldType.FILE:
        return _listed(Typed(typed=str(item.get("name", ""))) for item in items if isinstance(item, dict))
    if field.type is FieldType.DATETIME:
        text = str(value)  # stored as 2026-12-24T15:00:00Z
        return worded(f"{text[:10]} {text[11:16]} UTC" if len(text) == 20 and text.endswith("Z") else Typed(typed=text))
    return worded(Typed(typed=str(value)))  # typed by a person: shown as written, never as markup


def _listed(parts: Iterable[Part]) -> WordedText:
    """Parts separated by commas."""
    pieces: list[str | Part] = []
    for part in parts:
        pieces.extend((", ", part) if pieces else (part,))
    return worded(*pieces)


def already_closed(task: Task, actor: str, now: datetime) -> Refusal:
    facts: dict[str, str | People] = {"status": task.status.value}
    if task.acted_by:
        facts["by"] = People((task.acted_by,))
    return refuse(RefusalReason.ALREADY_CLOSED, now, actor, task_id=task.id, facts=facts)


def refuse(
    reason: RefusalReason | Why,
    now: datetime,
    actor: str,
    *,
    task_id: str | None = None,
    action: str | None = None,
    facts: RefusalFacts | None = None,
) -> Refusal:
    """A refusal and the `action_refused` event that keeps it in the request's history (`reason` may be a `Why`
    already, as the permission questions answer)."""
    why = reason if isinstance(reason, Why) else Why(reason, facts or {})
    data = {**why.recorded(), **({"action": action} if action else {})}
    return Refusal(why, Event("action_refused", now, actor=actor, task_id=task_id, data=data))
