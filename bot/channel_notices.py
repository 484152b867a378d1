"""A channel that workflow notify steps post to is lost (Baton removed, channel archived): owners are told."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.catalog import Catalog
from bot.clock import Clock
from bot.engine import StepKind, WorkflowDefinition
from bot.engine.definition import Step
from bot.store import OutboxMessage, Store

__all__ = ["ChannelNotices"]

log = logging.getLogger(__name__)

_WHAT_HAPPENED = {
    "left": "Baton is no longer a member of <#{channel}>",
    "archived": "<#{channel}> was archived",
}
_FIX = {
    "left": "invite Baton back there with `/invite @baton`, or point the step at another channel in the workflow file",
    "archived": "unarchive the channel, or point the step at another channel in the workflow file",
}


class ChannelNotices:
    """Each workflow owner (or, for a workflow without owners, each admin) gets one DM per lost channel,
    naming the workflows and steps that post there, queued in one transaction before Slack is answered."""

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        clock: Clock,
        *,
        admins: tuple[str, ...] = (),
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._admins = admins
        self._on_commit = on_commit

    def steps_posting_to(self, channel_id: str, name: str | None) -> list[tuple[WorkflowDefinition, Step]]:
        """The notify steps whose `to` names this channel, by ID or by `#name`."""
        names = {channel_id, f"#{name}"} if name else {channel_id}
        found = []
        for _key, definition in sorted(self._catalog().workflows.items()):
            for step in definition.all_steps():
                if step.type is StepKind.NOTIFY and any(
                    ref.kind == "channel" and ref.name in names for ref in step.target_refs
                ):
                    found.append((definition, step))
        return found

    async def channel_lost(self, channel_id: str, name: str | None, what: str) -> int:
        """Tell the owners of every workflow that posts to the channel; how many people were told."""
        steps = self.steps_posting_to(channel_id, name)
        if not steps:
            return 0
        by_person: dict[str, list[str]] = {}
        for definition, step in steps:
            line = f"• *{definition.title}* (`{definition.name}`), step `{step.id}`"
            for person in definition.owners or self._admins:
                by_person.setdefault(person, []).append(line)
        head = _WHAT_HAPPENED[what].format(channel=channel_id)
        messages = [
            OutboxMessage(
                conversation=person,
                method="chat.postMessage",
                args={
                    "channel": person,
                    "text": f":warning: {head}, so the next post of these workflow steps will fail:\n"
                    + "\n".join(lines)
                    + f"\nTo fix it, {_FIX[what]}.",
                },
            )
            for person, lines in by_person.items()
        ]
        async with self._store.transaction() as work:
            await work.enqueue(messages, self._clock.now())
        self._on_commit()
        log.warning(
            "channel %s %s: %s notify steps post there; %s owners told", channel_id, what, len(steps), len(messages)
        )
        return len(messages)
