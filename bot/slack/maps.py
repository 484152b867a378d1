"""`/workflow map <workflow> [period]`: the workflow's live process map, as an image in the owner's DM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.engine import WorkflowDefinition
from bot.engine.kpis import Period, parse_period
from bot.map_drawing import ImageFormat, draw_map, map_summary
from bot.process_map import ProcessMap, load_process_map
from bot.reporting.kpi_report import parse_report_request
from bot.service import WorkflowService
from bot.slack.wording import escape_text
from bot.store import Store

from .blocks import Block, actions, button
from .followups import FollowUps
from .parsing import click_of

__all__ = ["ACTION_OPEN_MAP", "MAP_BUTTONS", "MAP_REFUSAL", "MapButton", "MapDesk", "map_buttons"]

log = logging.getLogger(__name__)

ACTION_OPEN_MAP = "process_map_open"
_HOME_PERIOD = "30d"
MAP_REFUSAL = "Process maps are for a workflow's owners and Baton's admins."
_USAGE = "Usage: `/workflow map <workflow> [30d|12w|2026-Q4]`."
_SEND_ERRORS = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError, OSError)


MAP_BUTTONS = re.compile(rf"^{ACTION_OPEN_MAP}(:\d+)?$")  # one button per workflow the person owns


class MapButton:
    """The Home's map button: the same map as `/workflow map`, to the DM, for the same people."""

    def __init__(self, desk: MapDesk, followups: FollowUps) -> None:
        self._desk = desk
        self._later = followups.later

    async def clicked(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        click = click_of(body)
        await ack()
        definition = self._desk.permitted(click.user_id, click.value)
        if definition is None:
            return  # a forged or stale button: nothing is drawn, nothing said
        period = parse_period(_HOME_PERIOD, self._desk.now())
        self._later(self._desk.send(client, click.user_id, definition, period), what="process map")


def map_buttons(owned: Mapping[str, str]) -> list[Block]:
    """For the owner's Home: a button per owned workflow that sends its map of the last 30 days to the DM."""
    buttons = [
        button(f"Map: {title}", action_id=f"{ACTION_OPEN_MAP}:{index}", value=name)  # action ids unique per block
        for index, (name, title) in enumerate(sorted(owned.items()))
    ]
    return [actions(*buttons[:5], block_id="process_maps")] if buttons else []


class MapDesk:
    """Draws process maps for the people allowed to see them, and sends them."""

    def __init__(self, service: WorkflowService, store: Store, clock: Clock) -> None:
        self._service = service
        self._store = store
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    def permitted(self, user_id: str, name: str) -> WorkflowDefinition | None:
        """The workflow if this person owns it or is an admin; None otherwise (also for an unknown name)."""
        definition = self._service.catalog.workflows.get(name)
        if definition is None or not (self._service.directory.is_admin(user_id) or user_id in definition.owners):
            return None
        return definition

    async def slash_command(
        self, ack: AsyncAck, user_id: str, text: str, client: AsyncWebClient
    ) -> Coroutine[Any, Any, None] | None:
        """Answer the command; return the work that draws and sends the map, if it was allowed."""
        request = parse_report_request(text.split()[1:4], self._clock.now())
        if request.workflow is None:
            await ack(text=f"Which workflow? {_USAGE}")
            return None
        definition = self.permitted(user_id, request.workflow)
        if definition is None and self._service.directory.is_admin(user_id):  # admins may know every name
            await ack(text=f"There is no workflow called `{escape_text(request.workflow[:40])}`. See `/workflow list`.")
            return None
        if definition is None:  # the same words whether the workflow exists or not: nothing is revealed
            await ack(text=MAP_REFUSAL)
            return None
        if request.problem is not None or request.period is None:
            await ack(text=f"{request.problem} {_USAGE}")
            return None
        await ack(text=f":hourglass_flowing_sand: Drawing the map of *{definition.title}* ({request.period.label}); "
                       "it comes to your DM.")
        return self.send(client, user_id, definition, request.period)

    async def image(self, definition: WorkflowDefinition, period: Period, *, image_format: ImageFormat) -> bytes:
        """The map of the period drawn as PNG or SVG."""
        return (await self._drawn(definition, period, image_format))[1]

    async def _drawn(
        self, definition: WorkflowDefinition, period: Period, image_format: ImageFormat
    ) -> tuple[ProcessMap, bytes]:
        process_map = await load_process_map(
            self._store, definition, period, now=self._clock.now(), directory=self._service.directory
        )
        # drawing takes a while: off the event loop, so clicks and commands still get their ack meanwhile
        return process_map, await asyncio.to_thread(draw_map, process_map, image_format=image_format)

    async def send(self, client: AsyncWebClient, user_id: str, definition: WorkflowDefinition, period: Period) -> None:
        """Draw the map and upload it to the person's DM, with the map in words beside it."""
        try:
            process_map, png = await self._drawn(definition, period, "png")
            summary = map_summary(process_map)
            posted = await client.chat_postMessage(channel=user_id, text=f":world_map: {summary}")
            await client.files_upload_v2(
                channel=str(posted["channel"]),
                file=png,
                filename=f"baton-map-{definition.name}-{period.label.replace(' ', '-')}.png",
                title=f"{definition.title}: process map ({period.label})",
                alt_txt=summary[:1000],
            )
            log.info("map sent: workflow=%s period=%s to=%s", definition.name, period.label, user_id)
        except _SEND_ERRORS as error:
            log.warning("map for user=%s failed: %r", user_id, error, extra={"user": user_id})
            with contextlib.suppress(*_SEND_ERRORS):  # so "Drawing the map…" is not the last word
                await client.chat_postMessage(channel=user_id, text="The map could not be delivered. Try again.")
