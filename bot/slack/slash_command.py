"""The one `/workflow` listener: route each verb (bot/slack/command_text.py) to the service or the desk it asks."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import FormInvalid, Refused, Started, WorkflowService

from .collaboration import delegate_command, open_view
from .command_text import parse_command_text, parse_instance_id, quoted
from .followups import FollowUps
from .maps import MapDesk
from .messages import help_text, requests_blocks, status_blocks, task_list_blocks, workflow_list_blocks
from .metadata import MetadataSeal
from .parsing import text_of, user_of
from .refusals import refusal_text
from .report_desk import ReportDesk
from .views import start_form_view

__all__ = ["SLASH_COMMAND", "SlashCommand", "start_answer"]

SLASH_COMMAND = "/workflow"

Body = dict[str, Any]


class SlashCommand:
    """`/workflow <verb> …`: answered in the command's own reply (the ack), heavy work after it."""

    def __init__(
        self, service: WorkflowService, followups: FollowUps, seal: MetadataSeal, *, reports: ReportDesk, maps: MapDesk
    ) -> None:
        self._service = service
        self._reports = reports
        self._maps = maps
        self._seal = seal
        self._later = followups.later

    async def handle(self, ack: AsyncAck, command: Body, client: AsyncWebClient) -> None:
        parsed = parse_command_text(command.get("text"))
        user_id = user_of(command)
        channel_id = text_of(command.get("channel_id")) or None
        if parsed.verb == "start":
            await self._start(ack, parsed.argument, user_id, channel_id, command, client)
        elif parsed.verb == "list":
            await ack(blocks=workflow_list_blocks(self._service.startable_by(user_id)), text="Workflows")
        elif parsed.verb == "tasks":
            tasks = await self._service.screens.open_tasks(user_id)
            await ack(blocks=task_list_blocks(tasks), text=f"You have {len(tasks)} open tasks")
        elif parsed.verb == "status":
            await self._status(ack, parsed.argument, user_id)
        elif parsed.verb == "cancel":
            await self._cancel(ack, parsed.argument, parsed.rest, user_id)
        elif parsed.verb == "delegate":
            await ack(
                text=await delegate_command(self._service, user_id, parsed.argument, parsed.rest, self._service.now())
            )
        elif parsed.verb in ("report", "export"):  # made and sent after the answer, as a follow-up
            work = await self._reports.slash_command(ack, command, client)
            if work is not None:
                self._later(work, what="report or export")
        elif parsed.verb == "map":
            drawing = await self._maps.slash_command(ack, user_id, str(command.get("text") or ""), client)
            if drawing is not None:
                self._later(drawing, what="process map")
        else:
            prefix = f"{parsed.problem}\n\n" if parsed.problem else ""
            await ack(text=prefix + help_text())

    async def _start(
        self, ack: AsyncAck, name: str, user_id: str, channel_id: Any, command: Body, client: AsyncWebClient
    ) -> None:
        if not name:
            await ack(text="Which workflow? For example `/workflow start expense-approval`. See `/workflow list`.")
            return
        definition = self._service.definition(name.lower())
        if definition is None:
            await ack(text=f"There is no workflow called `{quoted(name)}`. See `/workflow list`.")
            return
        public = isinstance(channel_id, str) and channel_id.startswith(("C", "G"))
        origin = channel_id if public and definition.start.announce_in_channel else None
        refusal = self._service.start_refusal(definition, user_id)
        if refusal is not None:  # say no before anyone fills in a form
            await ack(text=refusal_text(refusal))
            return
        if definition.form:
            await ack()
            view = self._seal.sealed_view(user_id, start_form_view(definition, origin_channel=origin))
            self._later(open_view(client, command.get("trigger_id"), view, user_id, origin), what="views.open")
            return
        result = await self._service.start(definition.name, user_id, {}, origin_channel=origin)
        await ack(text=start_answer(result))

    async def _status(self, ack: AsyncAck, argument: str, user_id: str) -> None:
        if not argument:
            await ack(blocks=requests_blocks(await self._service.screens.requests(user_id)), text="Your requests")
            return
        instance_id = parse_instance_id(argument)
        if instance_id is None:
            await ack(text=f"`{quoted(argument)}` is not a request number. Try `/workflow status 12`.")
            return
        view = await self._service.screens.status(instance_id, user_id)
        if isinstance(view, Refused):
            await ack(text=refusal_text(view.why))
            return
        await ack(blocks=status_blocks(view.definition, view.instance, view.trail), text=view.instance.title)

    async def _cancel(self, ack: AsyncAck, argument: str, reason: str, user_id: str) -> None:
        instance_id = parse_instance_id(argument) if argument else None
        if instance_id is None:
            await ack(text="Which request? For example `/workflow cancel 12 no longer needed`.")
            return
        result = await self._service.cancel(instance_id, user_id, reason[:2000] or None)
        if isinstance(result, Refused):
            await ack(text=refusal_text(result.why))
        else:
            await ack(text=f":no_entry_sign: {result.title} is cancelled. Everyone holding a task was told.")


def start_answer(result: Started | Refused | FormInvalid) -> str:
    """What the person who started a request (without a form) is told."""
    if isinstance(result, Started):
        return f":rocket: Started *{result.instance.title}*. Follow it with `/workflow status {result.instance.id}`."
    if isinstance(result, Refused):
        return refusal_text(result.why)
    return "The form has problems: " + "; ".join(f"{k}: {v}" for k, v in result.errors.items())
