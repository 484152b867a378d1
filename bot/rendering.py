"""What the service needs from a renderer: effects in, outbox messages out (Block Kit lives in `bot/slack/`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from bot.engine import Effect, Instance, WorkflowDefinition
from bot.engine.digest import DigestPlan
from bot.store import OutboxMessage

__all__ = ["Renderer"]


class Renderer(Protocol):
    """Turns the engine's facts into the messages that carry them out; handed in by the composition root."""

    def outbox_messages(
        self, definition: WorkflowDefinition, instance: Instance, effects: Iterable[Effect]
    ) -> list[OutboxMessage]:
        """Every message a transition's effects need."""

    def home_refreshes(self, people: Iterable[str]) -> list[OutboxMessage]:
        """Re-publish these people's App Home."""

    def people_affected(self, instance: Instance, effects: Iterable[Effect]) -> list[str]:
        """Whose App Home these effects change."""

    def digest_message(self, plan: DigestPlan, instances: dict[int, Instance], now: datetime) -> OutboxMessage:
        """One person's morning digest."""
