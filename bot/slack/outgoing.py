"""Turn the engine's effects into outbox rows: the Slack calls to make, rendered now, sent later."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.engine import (
    AddTimers,
    CancelTimers,
    CommentAdded,
    Effect,
    EscalateTask,
    Instance,
    InstanceFinished,
    NotifyTargets,
    RatingRecorded,
    RemindAssignee,
    RequestReceived,
    StepKind,
    Task,
    TaskClosed,
    TaskDelegated,
    TaskHandedOver,
    TaskOpened,
    TaskProgress,
    WorkflowDefinition,
)
from bot.engine.digest import DigestPlan
from bot.engine.events import ExtensionDecided
from bot.slack.wording import escape_text
from bot.store import OutboxMessage

from .blocks import clip, section
from .messages import (
    closed_task_blocks,
    decision_note,
    delegated_note,
    digest_blocks,
    escalation_blocks,
    extension_note,
    finished_blocks,
    handed_over_blocks,
    open_task_blocks,
    receipt_blocks,
    reminder_blocks,
)
from .rating_blocks import outcome_message_key

__all__ = [
    "BlockKitRenderer",
    "digest_message",
    "home_refreshes",
    "is_nudge_key",
    "outbox_messages",
    "people_affected",
    "task_message_key",
]

_FALLBACK_LIMIT = 3000


def task_message_key(task_id: str, user_id: str) -> str:
    return f"task:{task_id}:{user_id}"


def reminder_message_key(task_id: str, user_id: str) -> str:
    return f"reminder:{task_id}:{user_id}"


def escalation_message_key(task_id: str, user_id: str) -> str:
    return f"escalation:{task_id}:{user_id}"


def is_nudge_key(message_key: str) -> bool:
    """Whether the key names a reminder or an escalation: an update of one never posted is dropped, not posted."""
    return message_key.startswith(("reminder:", "escalation:"))


_VISIBLE_CHANGES = (TaskOpened, TaskClosed, TaskHandedOver, TaskProgress, InstanceFinished)


def outbox_messages(
    definition: WorkflowDefinition, instance: Instance, effects: Iterable[Effect]
) -> list[OutboxMessage]:
    """Render every effect of a transition into the messages that carry it out."""
    effects = list(effects)
    messages: list[OutboxMessage] = []
    for effect in effects:
        messages.extend(_render(definition, instance, effect))
    starting = any(isinstance(effect, RequestReceived) for effect in effects)
    if not starting and any(isinstance(effect, _VISIBLE_CHANGES) for effect in effects):
        messages.extend(_progress(definition, instance, effects))
    return messages  # Home tabs: the service refreshes those of people_affected() who have opened theirs


def home_refreshes(people: Iterable[str]) -> list[OutboxMessage]:
    """Re-publish these people's App Home, rendered from the state at send time (one row per person)."""
    return [
        OutboxMessage(
            conversation=f"home:{person}", method="views.publish", args={"user_id": person}, render="home"
        )
        for person in dict.fromkeys(people)
    ]


def people_affected(instance: Instance, effects: Iterable[Effect]) -> list[str]:
    """Whose App Home shows something these effects change: the holders of the tasks and the requester."""
    people: list[str] = []
    for effect in effects:
        if isinstance(effect, TaskOpened | TaskClosed | TaskProgress):
            people.extend(effect.task.assignees)
        elif isinstance(effect, TaskHandedOver):
            people.extend((*effect.task.assignees, *effect.previous))
        elif isinstance(effect, RequestReceived | InstanceFinished):
            people.append(instance.requester)
    return people


def _progress(definition: WorkflowDefinition, instance: Instance, effects: list[Effect]) -> list[OutboxMessage]:
    """Keep the requester's message (and the channel post) current; thread a line for each decision."""
    updates = [_update(instance.requester, f"request:{instance.id}", receipt_blocks(definition, instance), instance)]
    if instance.origin_channel:
        blocks = receipt_blocks(definition, instance, in_channel=True)
        updates.append(_update(instance.origin_channel, f"channel:{instance.id}", blocks, instance))
    for effect in effects:
        decided = isinstance(effect, TaskClosed) and effect.task.acted_by is not None
        if decided and isinstance(effect, TaskClosed) and effect.task.kind is not StepKind.REVISION:
            note = decision_note(effect.task)
            reply = _post(instance.requester, note, [section(note)], instance)
            updates.append(_in_thread(reply, f"request:{instance.id}"))
    return updates


def _update(conversation: str, key: str, blocks: list[dict[str, object]], instance: Instance) -> OutboxMessage:
    return OutboxMessage(
        conversation=conversation,
        method="chat.update",
        args={"text": clip(f"{instance.title}: {instance.status.value}", _FALLBACK_LIMIT), "blocks": blocks},
        message_key=key,
        instance_id=instance.id,
    )


def _in_thread(message: OutboxMessage, of_key: str) -> OutboxMessage:
    """Post as a reply in the thread of another message (found once that one was sent)."""
    return replace(message, message_key=None, thread_of=of_key)


def _post(
    conversation: str,
    text: str,
    blocks: list[dict[str, object]],
    instance: Instance,
    key: str | None = None,
) -> OutboxMessage:
    return OutboxMessage(
        conversation=conversation,
        method="chat.postMessage",
        args={"channel": conversation, "text": clip(text, _FALLBACK_LIMIT), "blocks": blocks},
        message_key=key,
        instance_id=instance.id,
    )


def _render(definition: WorkflowDefinition, instance: Instance, effect: Effect) -> list[OutboxMessage]:
    render = _RENDERERS.get(type(effect))
    if render is None:
        raise TypeError(f"unknown effect {effect!r}")
    return render(definition, instance, effect)


def _task_opened(definition: WorkflowDefinition, instance: Instance, effect: TaskOpened) -> list[OutboxMessage]:
    task = effect.task
    text = f"New task for you: {task.title} ({instance.title})"
    return [
        _post(user, text, open_task_blocks(definition, instance, task, viewer=user), instance, _key(task, user))
        for user in task.assignees
    ]


def _task_progress(definition: WorkflowDefinition, instance: Instance, effect: TaskProgress) -> list[OutboxMessage]:
    task = effect.task
    text = f"{task.title}: {len(task.votes)} decided"
    return [
        _update_copy(task, user, text, open_task_blocks(definition, instance, task, viewer=user), instance)
        for user in task.assignees
    ]


def _comment_added(_definition: WorkflowDefinition, instance: Instance, effect: CommentAdded) -> list[OutboxMessage]:
    said = clip(escape_text(effect.text), 2800)
    note = f":speech_balloon: <@{effect.author}> commented on {instance.title}:\n> {said}"
    replies = []
    for person in effect.people:
        held = next((t for t in instance.open_tasks() if person in t.assignees), None)
        key = task_message_key(held.id, person) if held else f"request:{instance.id}"
        replies.append(_in_thread(_post(person, note, [section(note)], instance), key))
    return replies


def _task_delegated(
    _definition: WorkflowDefinition, instance: Instance, effect: TaskDelegated
) -> list[OutboxMessage]:
    note = delegated_note(effect, instance)
    return [_post(effect.absent, note, [section(note)], instance)]


def _task_closed(definition: WorkflowDefinition, instance: Instance, effect: TaskClosed) -> list[OutboxMessage]:
    """Every copy ends in the outcome, also those of people who handed it on."""
    task = effect.task
    blocks = closed_task_blocks(definition, instance, task)
    text = f"{task.title}: {task.status.value}"
    copies = [_update_copy(task, user, text, blocks, instance) for user in task.holders_ever]
    reminded = task.holders_ever if task.reminders_sent or task.former_assignees or task.previous_assignees else ()
    nudges = [
        *(_update_in_place(user, reminder_message_key(task.id, user), text, blocks, instance) for user in reminded),
        *(
            _update_in_place(user, escalation_message_key(task.id, user), text, blocks, instance)
            for user in task.escalated_to
        ),
    ]
    return [*copies, *nudges]


def _request_received(
    definition: WorkflowDefinition, instance: Instance, _effect: RequestReceived
) -> list[OutboxMessage]:
    text = f"Your request {instance.title} has started."
    posts = [_post(instance.requester, text, receipt_blocks(definition, instance), instance, f"request:{instance.id}")]
    if instance.origin_channel:
        blocks = receipt_blocks(definition, instance, in_channel=True)
        posts.append(_post(instance.origin_channel, instance.title, blocks, instance, f"channel:{instance.id}"))
    return posts


def _instance_finished(
    definition: WorkflowDefinition, instance: Instance, _effect: InstanceFinished
) -> list[OutboxMessage]:
    text = f"{instance.title} was {instance.status.value}."
    key = outcome_message_key(instance.id)
    return [_post(instance.requester, text, finished_blocks(definition, instance), instance, key)]


def _rating_recorded(
    definition: WorkflowDefinition, instance: Instance, _effect: RatingRecorded
) -> list[OutboxMessage]:
    """The outcome DM shows the rating in place."""
    text = f"{instance.title} was {instance.status.value}; you rated it."
    key = outcome_message_key(instance.id)
    return [_update_in_place(instance.requester, key, text, finished_blocks(definition, instance), instance)]


def _notify_targets(_definition: WorkflowDefinition, instance: Instance, effect: NotifyTargets) -> list[OutboxMessage]:
    blocks = [section(effect.text)]
    return [_post(target, effect.text, blocks, instance) for target in (*effect.people, *effect.channels)]


def _extension_decided(
    _definition: WorkflowDefinition, instance: Instance, effect: ExtensionDecided
) -> list[OutboxMessage]:
    note = extension_note(effect.wait, effect.extension, approved=effect.approved)
    return [_post(instance.requester, note, [section(note)], instance)]


def _remind_assignee(
    definition: WorkflowDefinition, instance: Instance, effect: RemindAssignee
) -> list[OutboxMessage]:
    """A reminder links to the task's own message (its permalink is known only once that one was sent)."""
    task, person = effect.task, effect.person
    blocks = reminder_blocks(definition, instance, task, effect.overdue_by)
    key = reminder_message_key(task.id, person)
    message = _post(person, f"Reminder: {task.title}", blocks, instance, key)
    return [_superseded(person, key, f"Reminder: {task.title}", instance), replace(message, link_to=_key(task, person))]


def _escalate_task(definition: WorkflowDefinition, instance: Instance, effect: EscalateTask) -> list[OutboxMessage]:
    task = effect.task
    blocks = escalation_blocks(definition, instance, task, effect.overdue_by, may_act=effect.may_act)
    messages = []
    for person in effect.people:
        key = escalation_message_key(task.id, person)
        messages.append(_superseded(person, key, f"Stuck: {task.title}", instance))
        messages.append(_post(person, f"Stuck: {task.title}", blocks, instance, key))
    return messages


def _superseded(person: str, key: str, text: str, instance: Instance) -> OutboxMessage:
    """The person's earlier nudge of this kind, if any, loses its buttons: only the newest one is live (it holds
    the key, so the task's outcome reaches it); dropped by the sender if there was none."""
    note = f"{text} (superseded by a newer message below)"
    return _update_in_place(person, key, note, [section(note)], instance)


def _nothing_to_send(_definition: WorkflowDefinition, _instance: Instance, _effect: Effect) -> list[OutboxMessage]:
    return []  # timers are stored by the service, not sent


def _key(task: Task, user: str) -> str:
    return task_message_key(task.id, user)


def _hand_over(definition: WorkflowDefinition, instance: Instance, effect: TaskHandedOver) -> list[OutboxMessage]:
    """One copy per person: those who left see where it went, those who stay see the new holders in place, and
    only someone who never had it gets a new DM (one it comes back to finds it in their old copy, with a note)."""
    task = effect.task
    old_view = handed_over_blocks(definition, instance, task, by=effect.by, note=effect.note)
    new_people = ", ".join(f"<@{user}>" for user in task.assignees)
    messages = [
        _update_copy(task, user, f"{task.title}: reassigned to {new_people}", old_view, instance)
        for user in effect.previous
        if user not in task.assignees
    ]
    text = f"Task handed to you: {task.title} ({instance.title})"
    for user in task.assignees:
        blocks = open_task_blocks(definition, instance, task, viewer=user)
        key = task_message_key(task.id, user)
        if user in effect.previous:
            messages.append(_update_copy(task, user, f"{task.title}: now with {new_people}", blocks, instance))
        elif user in task.former_assignees:
            messages.append(_update_copy(task, user, text, blocks, instance))
            note = f"“{task.title}” ({instance.title}) is back with you."
            messages.append(_in_thread(_post(user, note, [section(note)], instance), key))
        else:
            messages.append(_post(user, text, blocks, instance, key))
    return messages


def _update_copy(
    task: Task, user: str, text: str, blocks: list[dict[str, object]], instance: Instance
) -> OutboxMessage:
    return _update_in_place(user, task_message_key(task.id, user), text, blocks, instance)


def _update_in_place(
    user: str, key: str, text: str, blocks: list[dict[str, object]], instance: Instance
) -> OutboxMessage:
    return OutboxMessage(
        conversation=user,
        method="chat.update",
        args={"text": clip(text, _FALLBACK_LIMIT), "blocks": blocks},
        message_key=key,
        instance_id=instance.id,
    )


_RENDERERS: dict[type[Effect], Callable[[WorkflowDefinition, Instance, Any], list[OutboxMessage]]] = {
    TaskOpened: _task_opened,
    TaskProgress: _task_progress,
    ExtensionDecided: _extension_decided,
    CommentAdded: _comment_added,
    TaskDelegated: _task_delegated,
    TaskClosed: _task_closed,
    RequestReceived: _request_received,
    InstanceFinished: _instance_finished,
    RatingRecorded: _rating_recorded,
    NotifyTargets: _notify_targets,
    RemindAssignee: _remind_assignee,
    EscalateTask: _escalate_task,
    TaskHandedOver: _hand_over,
    AddTimers: _nothing_to_send,
    CancelTimers: _nothing_to_send,
}


def digest_message(plan: DigestPlan, instances: dict[int, Instance], now: datetime) -> OutboxMessage:
    """One person's morning digest as a DM."""
    count = len(plan.own)
    if count:
        text = f"Good morning: you have {count} open task{'s' if count != 1 else ''}"
    else:
        overdue = len(plan.team_overdue)
        text = f"Good morning: {overdue} overdue item{'s' if overdue != 1 else ''} in your team"
    return OutboxMessage(
        conversation=plan.user_id,
        method="chat.postMessage",
        args={"channel": plan.user_id, "text": text, "blocks": digest_blocks(plan, instances, now)},
    )


class BlockKitRenderer:
    """The service's renderer (`bot.rendering.Renderer`): Block Kit messages for Slack."""

    def outbox_messages(
        self, definition: WorkflowDefinition, instance: Instance, effects: Iterable[Effect]
    ) -> list[OutboxMessage]:
        return outbox_messages(definition, instance, effects)

    def home_refreshes(self, people: Iterable[str]) -> list[OutboxMessage]:
        return home_refreshes(people)

    def people_affected(self, instance: Instance, effects: Iterable[Effect]) -> list[str]:
        return people_affected(instance, effects)

    def digest_message(self, plan: DigestPlan, instances: dict[int, Instance], now: datetime) -> OutboxMessage:
        return digest_message(plan, instances, now)
