"""Storing a transition: its state, events, timers and the messages that carry out its effects, in one unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.callbacks import ending_callbacks, ending_callbacks_of
from bot.engine import AddTimers, CancelTimers, TaskHandedOver, TaskOpened, Transition, WorkflowDefinition
from bot.rendering import Renderer
from bot.step_outputs import step_completions
from bot.store import UnitOfWork
from bot.webhooks import webhook_messages
from bot.workspace import Workspace

__all__ = ["Recording", "TransitionRecorder"]


class TransitionRecorder:
    """Writes transitions into a unit of work; messages come from the renderer the composition root handed in."""

    def __init__(
        self,
        workspace: Workspace,
        renderer: Renderer,
        *,
        on_new_people: Callable[[Iterable[str]], None] = lambda _people: None,
    ) -> None:
        self._workspace = workspace
        self._renderer = renderer
        self._on_new_people = on_new_people

    @property
    def renderer(self) -> Renderer:
        return self._renderer

    async def record(self, work: UnitOfWork, definition: WorkflowDefinition, transition: Transition) -> None:
        """Store one transition and queue its messages."""
        instance = transition.instance
        now = self._workspace.now()
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
        await work.enqueue(self._renderer.outbox_messages(definition, instance, transition.effects), now)
        await work.enqueue(webhook_messages(definition, instance, transition.events), now)
        await work.enqueue(await step_completions(work, [(instance, transition.events)]), now)
        await work.enqueue(await ending_callbacks(work, definition, instance, transition.events), now)
        viewers = await work.home_viewers(self._home_audience(transition))  # others' tabs are built when opened
        if viewers:
            await work.enqueue(self._renderer.home_refreshes(sorted(viewers)), now)

    async def record_all(self, work: UnitOfWork, outcomes: Sequence[tuple[WorkflowDefinition, Transition]]) -> None:
        """Store several transitions, in order, as `record` would one by one, in a few batched statements."""
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
        callbacks = await ending_callbacks_of(work, [(d, t.instance, t.events) for d, t in outcomes])
        messages = []
        for (definition, transition), audience, ending in zip(outcomes, audiences, callbacks, strict=True):
            instance = transition.instance
            messages.extend(self._renderer.outbox_messages(definition, instance, transition.effects))
            messages.extend(webhook_messages(definition, instance, transition.events))
            messages.extend(ending)
            if seen := viewers & audience:
                messages.extend(self._renderer.home_refreshes(sorted(seen)))
        messages.extend(await step_completions(work, [(t.instance, t.events) for t in transitions]))
        await work.enqueue(messages, self._workspace.now())

    def _learn_zones(self, transitions: Iterable[Transition]) -> None:
        """Ask Slack for the time zones of new assignees, for polite reminders from now on."""
        directory = self._workspace.directory
        newcomers = [
            person
            for transition in transitions
            for effect in transition.effects
            if isinstance(effect, TaskOpened | TaskHandedOver)
            for person in effect.task.assignees
            if not directory.knows_zone_of(person)
        ]
        if newcomers:
            self._on_new_people(newcomers)

    def _home_audience(self, transition: Transition) -> set[str]:
        """Whose App Home this transition changes: the people affected and their managers (Home shows a team)."""
        affected = set(self._renderer.people_affected(transition.instance, transition.effects))
        directory = self._workspace.directory
        return affected | {m for person in affected if (m := directory.manager_of(person))}


@dataclass(frozen=True)
class Recording:
    """What a part of the service that records transitions needs: the workspace, the recorder, and whom to wake
    after a commit (the outbox sender)."""

    workspace: Workspace
    recorder: TransitionRecorder
    on_commit: Callable[[], None] = lambda: None
