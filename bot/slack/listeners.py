"""Bolt listeners: ack, parse the raw Slack payload, call one service function, render the answer."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import Decision
from bot.service import FormInvalid, Refused, Started, WorkflowService

from .blocks import context, plain, section
from .collaboration import delegate_command, open_view, register_collaboration, tell
from .command_text import parse_command_text, parse_instance_id
from .followups import FollowUps
from .home import home_view
from .maps import MapDesk, register_map_listeners
from .messages import (
    ACTION_APPROVE,
    ACTION_COMPLETE,
    ACTION_COMPLETE_WITH_NOTE,
    ACTION_REASSIGN,
    ACTION_REJECT,
    ACTION_SNOOZE,
    help_text,
    requests_blocks,
    status_blocks,
    task_list_blocks,
    when,
    workflow_list_blocks,
)
from .metadata import MetadataSeal
from .parsing import ID_LIMIT, click_of, submission_of, text_of, user_of
from .refusals import refusal_text
from .report_desk import ReportDesk
from .steps import register_step_listeners
from .views import (
    CALLBACK_DONE_NOTE,
    CALLBACK_REJECT_REASON,
    CALLBACK_START_FORM,
    done_note_view,
    field_block_id,
    reject_reason_view,
    start_form_view,
    submitted_form,
    submitted_text,
)

__all__ = ["register_listeners", "SLASH_COMMAND"]

log = logging.getLogger(__name__)

SLASH_COMMAND = "/workflow"

Body = dict[str, Any]
_UNSEALED_FORM = (
    "Baton could not verify this form, so nothing was started. Please start again with `/workflow start` "
    "in the channel where you want the request announced."
)


def register_listeners(
    app: AsyncApp,
    service: WorkflowService,
    followups: FollowUps,
    seal: MetadataSeal,
    *,
    reports: ReportDesk,
    maps: MapDesk,
) -> None:
    """Attach every listener Baton has to the Bolt app, in one place.

    Bolt runs with process_before_response: Slack's answer goes out when a listener returns, so everything a
    listener commits is committed before the 200; talking back to Slack afterwards goes to `followups`."""
    listeners = _Listeners(service, followups, seal, reports=reports, maps=maps)
    app.command(SLASH_COMMAND)(listeners.slash_command)
    app.action(ACTION_APPROVE)(listeners.approve)
    app.action(ACTION_COMPLETE)(listeners.complete)
    app.action(ACTION_REJECT)(listeners.ask_reject_reason)
    app.action(ACTION_COMPLETE_WITH_NOTE)(listeners.ask_done_note)
    app.action(ACTION_SNOOZE)(listeners.snooze)
    app.action(ACTION_REASSIGN)(listeners.reassign)
    app.view(CALLBACK_START_FORM)(listeners.start_form_submitted)
    app.view(CALLBACK_REJECT_REASON)(listeners.reject_reason_submitted)
    app.view(CALLBACK_DONE_NOTE)(listeners.done_note_submitted)
    app.event("team_join")(listeners.team_join)
    app.event("app_home_opened")(listeners.app_home_opened)
    app.event("app_mention")(listeners.app_mention)
    register_collaboration(app, service, followups, seal)  # includes the message listener (decisions typed in a thread)
    register_map_listeners(app, maps, followups)  # the Home's map buttons
    register_step_listeners(app, service)  # Workflow Builder steps (function_executed), before the catch-all
    # Last: anything Baton does not (or no longer) know gets a polite answer instead of an error in Slack.
    app.action(re.compile(".*"))(listeners.unknown_action)
    app.view(re.compile(".*"))(listeners.unknown_view)
    app.shortcut(re.compile(".*"))(listeners.unknown_action)
    app.event(re.compile(".*"))(listeners.ignore)  # events Baton is subscribed to but does not act on
    app.view_closed(re.compile(".*"))(listeners.ignore)
    app.options(re.compile(".*"))(listeners.no_options)


class _Listeners:
    def __init__(
        self, service: WorkflowService, followups: FollowUps, seal: MetadataSeal, *, reports: ReportDesk, maps: MapDesk
    ) -> None:
        self._service = service
        self._reports = reports
        self._maps = maps
        self._seal = seal
        self._later = followups.later

    async def ignore(self, ack: AsyncAck) -> None:
        await ack()

    async def no_options(self, ack: AsyncAck) -> None:
        await ack(options=[])

    async def unknown_action(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await ack()
        click = click_of(body)
        user_id, channel_id = click.user_id, click.channel_id
        action_id = click.action_id or text_of(body.get("callback_id"))
        log.info("unknown action %r from user=%s", action_id[:80], user_id)
        if user_id:
            note = (
                "That button belongs to an older version of Baton and does "
                "nothing now. `/workflow tasks` shows your current tasks."
            )
            self._later(tell(client, channel_id, user_id, note), what="unknown action note")

    async def unknown_view(self, ack: AsyncAck, view: Body) -> None:
        log.info("unknown view submission callback_id=%r", text_of(view.get("callback_id"), 80))
        await ack(response_action="update", view=_notice_view("Baton", "This form is out of date. Please start again."))

    # ---- /workflow ----------------------------------------------------------------------------------

    async def slash_command(self, ack: AsyncAck, command: Body, client: AsyncWebClient) -> None:
        parsed = parse_command_text(command.get("text"))
        user_id = user_of(command)
        channel_id = text_of(command.get("channel_id")) or None
        if parsed.verb == "start":
            await self._start_command(ack, parsed.argument, user_id, channel_id, command, client)
        elif parsed.verb == "list":
            await ack(blocks=workflow_list_blocks(self._service.startable_by(user_id)), text="Workflows")
        elif parsed.verb == "tasks":
            tasks = await self._service.screens.open_tasks(user_id)
            await ack(blocks=task_list_blocks(tasks), text=f"You have {len(tasks)} open tasks")
        elif parsed.verb == "status":
            await self._status_command(ack, parsed.argument, user_id)
        elif parsed.verb == "cancel":
            await self._cancel_command(ack, parsed.argument, parsed.rest, user_id)
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

    async def _start_command(
        self, ack: AsyncAck, name: str, user_id: str, channel_id: Any, command: Body, client: AsyncWebClient
    ) -> None:
        if not name:
            await ack(text="Which workflow? For example `/workflow start expense-approval`. See `/workflow list`.")
            return
        definition = self._service.definition(name.lower())
        if definition is None:
            await ack(text=f"There is no workflow called `{_code(name)}`. See `/workflow list`.")
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
            self._open_view(client, command.get("trigger_id"), view, user_id, origin)
            return
        result = await self._service.start(definition.name, user_id, {}, origin_channel=origin)
        await ack(text=_start_answer(result))

    async def _status_command(self, ack: AsyncAck, argument: str, user_id: str) -> None:
        if not argument:
            await ack(blocks=requests_blocks(await self._service.screens.requests(user_id)), text="Your requests")
            return
        instance_id = parse_instance_id(argument)
        if instance_id is None:
            await ack(text=f"`{_code(argument)}` is not a request number. Try `/workflow status 12`.")
            return
        view = await self._service.screens.status(instance_id, user_id)
        if isinstance(view, Refused):
            await ack(text=refusal_text(view.why))
            return
        await ack(blocks=status_blocks(view.definition, view.instance, view.trail), text=view.instance.title)

    async def _cancel_command(self, ack: AsyncAck, argument: str, reason: str, user_id: str) -> None:
        instance_id = parse_instance_id(argument) if argument else None
        if instance_id is None:
            await ack(text="Which request? For example `/workflow cancel 12 no longer needed`.")
            return
        result = await self._service.cancel(instance_id, user_id, reason[:2000] or None)
        if isinstance(result, Refused):
            await ack(text=refusal_text(result.why))
        else:
            await ack(text=f":no_entry_sign: {result.title} is cancelled. Everyone holding a task was told.")

    # ---- task buttons -------------------------------------------------------------------------------

    async def approve(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await self._act(ack, body, client, Decision.APPROVE)

    async def complete(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await self._act(ack, body, client, Decision.COMPLETE)

    async def ask_reject_reason(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await self._ask_comment(ack, body, client, Decision.REJECT, reject_reason_view)

    async def ask_done_note(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await self._ask_comment(ack, body, client, Decision.COMPLETE, done_note_view)

    async def snooze(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        task_id, user_id, channel_id = click.block_id.removeprefix("task:"), click.user_id, click.channel_id
        result = await self._service.snooze(task_id, user_id, click.selected_option)
        await ack()
        if isinstance(result, Refused):
            note = refusal_text(result.why)
        else:
            task = result.task(task_id)
            until = task.snoozed_until if task else None
            note = f":zzz: Snoozed until {when(until)}." if until else "Snoozed."
        self._later(tell(client, channel_id, user_id, note), what="snooze note")

    async def reassign(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        task_id, user_id, channel_id = click.block_id.removeprefix("reassign:"), click.user_id, click.channel_id
        to = click.selected_user
        result = await self._service.reassign(task_id, user_id, to)
        await ack()
        note = (
            refusal_text(result.why)
            if isinstance(result, Refused)
            else f":arrow_right: Reassigned to <@{to}>; they have been told."
        )
        self._later(tell(client, channel_id, user_id, note), what="reassign note")

    async def _ask_comment(
        self,
        ack: AsyncAck,
        body: Body,
        client: AsyncWebClient,
        decision: str,
        view: Callable[[str, str], dict[str, Any]],
    ) -> None:
        click = click_of(body)
        task_id, user_id, channel_id = click.value[:ID_LIMIT], click.user_id, click.channel_id
        check = await self._service.check_act(task_id, user_id, decision)  # a refusal is in the history first
        await ack()
        if isinstance(check, Refused):
            self._later(tell(client, channel_id, user_id, refusal_text(check.why)), what="refusal note")
            return
        self._open_view(client, click.trigger_id, view(task_id, check), user_id, channel_id)

    async def _act(self, ack: AsyncAck, body: Body, client: AsyncWebClient, decision: str) -> None:
        click = click_of(body)
        task_id, user_id, channel_id = click.value[:ID_LIMIT], click.user_id, click.channel_id
        result = await self._service.act(task_id, user_id, decision)  # committed before Slack hears back
        await ack()
        if isinstance(result, Refused):
            self._later(tell(client, channel_id, user_id, refusal_text(result.why)), what="refusal note")

    # ---- modals -------------------------------------------------------------------------------------

    async def start_form_submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        submission = submission_of(body, view)
        user_id = submission.user_id
        opened = self._seal.opened(user_id, submission.private_metadata)  # the channel in it must be Baton's
        if opened is None:
            log.warning("start form refused: its private_metadata was not sealed by Baton for user=%s", user_id)
            await ack(response_action="update", view=_notice_view("Baton", _UNSEALED_FORM))
            return
        metadata = _json_object(opened)
        name = text_of(metadata.get("workflow"))
        channel = text_of(metadata.get("channel")) or None
        definition = self._service.definition(name)
        if definition is None:
            await ack(
                response_action="update", view=_notice_view("Workflow gone", f"`{_code(name)}` no longer exists.")
            )
            return
        form = submitted_form(definition, submission.values)
        result = await self._service.start(
            definition.name, user_id, form, origin_channel=channel, request_key=f"view:{submission.view_id}"
        )
        if isinstance(result, FormInvalid):
            errors = {field_block_id(field): message for field, message in result.errors.items()}
            if set(errors) <= submission.block_ids:
                await ack(response_action="errors", errors=errors)
                return
            # The workflow's form changed while this modal was open: Slack would refuse errors for fields the
            # modal does not have, so show the current form, keeping what was typed, and say why.
            fresh = self._seal.sealed_view(user_id, start_form_view(definition, origin_channel=channel, initial=form))
            notice = ":warning: This form changed while you had it open; check it and submit again."
            fresh["blocks"].insert(0, context(notice))
            await ack(response_action="update", view=fresh)
        elif isinstance(result, Refused):
            await ack(response_action="update", view=_notice_view(definition.title, refusal_text(result.why)))
        else:
            await ack()

    async def reject_reason_submitted(self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        await self._comment_submitted(ack, body, view, Decision.REJECT)

    async def done_note_submitted(self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        await self._comment_submitted(ack, body, view, Decision.COMPLETE)

    async def _comment_submitted(self, ack: AsyncAck, body: Body, view: Body, decision: str) -> None:
        submission = submission_of(body, view)
        task_id, user_id = submission.private_metadata[:ID_LIMIT], submission.user_id
        comment = submitted_text(submission.values)
        if decision == Decision.REJECT and not (comment or "").strip():
            await ack(response_action="errors", errors={"comment": "Please say why you reject it."})
            return
        result = await self._service.act(task_id, user_id, decision, comment)
        if isinstance(result, Refused):
            await ack(response_action="errors", errors={"comment": refusal_text(result.why)[:150]})
        else:
            await ack()

    # ---- events -------------------------------------------------------------------------------------

    async def team_join(self, ack: AsyncAck, event: Body) -> None:
        user = event.get("user")
        user_id = user.get("id") if isinstance(user, dict) else user
        if isinstance(user_id, str) and not (isinstance(user, dict) and (user.get("is_bot") or user.get("deleted"))):
            for result in await self._service.start_for_new_member(user_id):  # committed before the 200
                if isinstance(result, Started):
                    log.info("started %s for new member %s", result.instance.title, user_id)
        await ack()

    async def app_mention(self, ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        """Someone @-mentioned Baton: answer in the thread with what it can do."""
        await ack()
        channel = event.get("channel")
        if isinstance(channel, str):
            thread = event.get("thread_ts") or event.get("ts")
            self._later(_answer_mention(client, channel, thread), what="mention answer")

    async def app_home_opened(
        self, ack: AsyncAck, event: Body, client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        if event.get("tab") not in (None, "home"):
            return
        user_id = text_of(event.get("user"))
        view = home_view(await self._service.screens.open_home(user_id))
        self._later(_publish_home(client, user_id, view), what="home publish")  # one Slack call after the ack

    def _open_view(
        self, client: AsyncWebClient, trigger_id: Any, view: dict[str, Any], user_id: str, channel_id: Any
    ) -> None:
        self._later(open_view(client, trigger_id, view, user_id, channel_id), what="views.open")


async def _answer_mention(client: AsyncWebClient, channel: str, thread: Any) -> None:
    try:
        await client.chat_postMessage(channel=channel, thread_ts=thread, text=help_text())
    except SlackApiError as error:
        log.warning("could not answer a mention in %s: %s", channel, error.response.get("error"))


async def _publish_home(client: AsyncWebClient, user_id: str, view: dict[str, Any]) -> None:
    try:
        await client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        log.warning("views.publish failed: user=%s error=%s", user_id, error.response.get("error"))


def _start_answer(result: Started | Refused | FormInvalid) -> str:
    if isinstance(result, Started):
        return f":rocket: Started *{result.instance.title}*. Follow it with `/workflow status {result.instance.id}`."
    if isinstance(result, Refused):
        return refusal_text(result.why)
    return "The form has problems: " + "; ".join(f"{k}: {v}" for k, v in result.errors.items())


def _notice_view(title: str, text: str) -> dict[str, Any]:
    return {"type": "modal", "title": plain(title, 24), "close": plain("Close", 24), "blocks": [section(text)]}


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _code(text: str) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= 60 else text[:59] + "…"
