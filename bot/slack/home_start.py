"""The Home tab's start buttons: one per workflow the person may start, each opening that workflow's form."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import WorkflowDefinition
from bot.service import WorkflowService

from .blocks import Block, actions, button
from .collaboration import open_view, tell
from .followups import FollowUps
from .metadata import MetadataSeal
from .parsing import click_of
from .refusals import refusal_text
from .views import start_form_view

__all__ = ["ACTION_HOME_START", "HOME_START_BUTTONS", "HomeStartButton", "start_buttons"]

log = logging.getLogger(__name__)

ACTION_HOME_START = "home_start"
HOME_START_BUTTONS = re.compile(rf"^{ACTION_HOME_START}:\d+$")  # action ids are unique within a view
_PER_ROW = 5
MAX_START_BUTTONS = 25  # more would crowd the tab; the rest are named under the buttons


def start_buttons(startable: Sequence[WorkflowDefinition]) -> list[Block]:
    """Rows of buttons, one per workflow (its title on the button, its name as the value)."""
    buttons = [
        button(definition.title, action_id=f"{ACTION_HOME_START}:{index}", value=definition.name)
        for index, definition in enumerate(startable[:MAX_START_BUTTONS])
    ]
    return [
        actions(*buttons[row : row + _PER_ROW], block_id=f"start_workflows_{row // _PER_ROW}")
        for row in range(0, len(buttons), _PER_ROW)
    ]


class HomeStartButton:
    """A start button clicked: the same modal `/workflow start <name>` opens, with the click's trigger_id."""

    def __init__(self, service: WorkflowService, followups: FollowUps, seal: MetadataSeal) -> None:
        self._service = service
        self._later = followups.later
        self._seal = seal

    async def clicked(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        click = click_of(body)
        await ack()
        definition = self._service.definition(click.value)
        if definition is None:  # removed since the Home was drawn
            note = f"The workflow `{click.value[:80]}` no longer exists. Open the Home tab again for the current list."
            self._later(tell(client, None, click.user_id, note), what="start button note")
            return
        refusal = self._service.start_refusal(definition, click.user_id)
        if refusal is not None:  # the same answer the command gives, before anyone fills in a form
            self._later(tell(client, None, click.user_id, refusal_text(refusal)), what="start button note")
            return
        view = self._seal.sealed_view(click.user_id, start_form_view(definition, origin_channel=None))
        self._later(open_view(client, click.trigger_id, view, click.user_id, None), what="views.open")
