"""Every Slack interaction Baton answers, registered in one table: which listener answers what.

Bolt runs with process_before_response: Slack's answer goes out when a listener returns, so everything a listener
commits is committed before the 200; talking back to Slack afterwards goes to `FollowUps`. Each listener parses
the payload once (bot/slack/parsing.py) and calls one service command."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import WorkflowService
from bot.step_outputs import REQUEST_APPROVAL, START_WORKFLOW

from .app_lifecycle import AppLifecycle
from .channel_events import ChannelEvents
from .collaboration import SHORTCUT_REQUEST_APPROVAL, SHORTCUT_START, Collaboration, tell
from .followups import FollowUps
from .home_start import HOME_START_BUTTONS, HomeStartButton
from .maps import MAP_BUTTONS, MapButton, MapDesk
from .messages import (
    ACTION_APPROVE,
    ACTION_COMPLETE,
    ACTION_COMPLETE_WITH_NOTE,
    ACTION_EDIT_REQUEST,
    ACTION_EXTEND,
    ACTION_MORE,
    ACTION_REASSIGN,
    ACTION_REJECT,
    ACTION_SNOOZE,
    ACTION_WITHDRAW,
)
from .metadata import MetadataSeal
from .parsing import click_of, text_of
from .people_events import PeopleEvents
from .rating_blocks import ACTION_RATE, ACTION_RATING_COMMENT, CALLBACK_RATING_COMMENT
from .ratings import RatingButtons
from .report_desk import ReportDesk
from .slash_command import SLASH_COMMAND, SlashCommand
from .start_form import StartForm
from .steps import WorkflowBuilderSteps
from .task_buttons import TaskButtons
from .views import (
    CALLBACK_CHANGES,
    CALLBACK_COMMENT,
    CALLBACK_DONE_NOTE,
    CALLBACK_EXTEND,
    CALLBACK_HAND_OVER,
    CALLBACK_PICK_WORKFLOW,
    CALLBACK_REJECT_REASON,
    CALLBACK_RESUBMIT,
    CALLBACK_START_FORM,
    notice_view,
)
from .workspace_events import WorkspaceEvents

__all__ = ["SLASH_COMMAND", "register_listeners"]

log = logging.getLogger(__name__)

Body = dict[str, Any]
ANYTHING = re.compile(".*")


def register_listeners(
    app: AsyncApp,
    service: WorkflowService,
    followups: FollowUps,
    seal: MetadataSeal,
    *,
    reports: ReportDesk,
    maps: MapDesk,
    lifecycle: AppLifecycle,
    people: PeopleEvents,
    channels: ChannelEvents,
) -> None:
    """Attach every listener Baton has to the Bolt app: this table is the whole list."""
    command = SlashCommand(service, followups, seal, reports=reports, maps=maps)
    tasks = TaskButtons(service, followups)
    start_form = StartForm(service, seal)
    together = Collaboration(service, followups, seal)
    events = WorkspaceEvents(service, followups)
    fallback = Fallbacks(followups)
    steps = WorkflowBuilderSteps(service)
    ratings = RatingButtons(service, followups)

    app.command(SLASH_COMMAND)(command.handle)  # every /workflow verb (bot/slack/command_text.py)
    # a task's DM
    app.action(ACTION_APPROVE)(tasks.approve)
    app.action(ACTION_COMPLETE)(tasks.complete)
    app.action(ACTION_REJECT)(tasks.ask_reject_reason)
    app.view(CALLBACK_REJECT_REASON)(tasks.reject_reason_submitted)
    app.action(ACTION_COMPLETE_WITH_NOTE)(tasks.ask_done_note)
    app.view(CALLBACK_DONE_NOTE)(tasks.done_note_submitted)
    app.action(ACTION_SNOOZE)(tasks.snooze)
    app.action(ACTION_REASSIGN)(tasks.reassign)
    app.action(ACTION_EXTEND)(tasks.ask_extension)  # a wait (an access that lapses): ask for more time
    app.view(CALLBACK_EXTEND)(tasks.extension_submitted)
    app.action(ACTION_MORE)(together.more)  # the ⋯ menu: ask for changes, hand over, comment
    app.view(CALLBACK_CHANGES)(together.changes_submitted)
    app.view(CALLBACK_HAND_OVER)(together.hand_over_submitted)
    app.view(CALLBACK_COMMENT)(together.comment_submitted)
    # the requester's side
    app.view(CALLBACK_START_FORM)(start_form.submitted)
    app.action(ACTION_EDIT_REQUEST)(together.edit_request)
    app.view(CALLBACK_RESUBMIT)(together.resubmitted)
    app.action(ACTION_WITHDRAW)(together.withdraw)
    app.action(ACTION_RATE)(ratings.rate)  # the outcome DM: 1 to 5, then an optional comment
    app.action(ACTION_RATING_COMMENT)(ratings.ask_comment)
    app.view(CALLBACK_RATING_COMMENT)(ratings.comment_submitted)
    app.shortcut(SHORTCUT_START)(together.start_shortcut)
    app.view(CALLBACK_PICK_WORKFLOW)(together.workflow_picked)
    app.shortcut(SHORTCUT_REQUEST_APPROVAL)(together.request_approval_shortcut)
    # the workspace
    app.event("message")(together.thread_reply)  # a decision typed in a request's thread
    app.event("team_join")(events.team_join)
    app.event("app_mention")(events.app_mention)
    app.event("app_home_opened")(events.app_home_opened)
    app.event("tokens_revoked")(lifecycle.tokens_revoked)  # Baton's own install: sending pauses
    app.event("app_uninstalled")(lifecycle.app_uninstalled)
    app.event("member_left_channel")(channels.member_left_channel)  # Baton removed from a notify step's channel
    app.event("channel_archive")(channels.channel_archive)
    app.event("group_archive")(channels.channel_archive)  # the same for a private channel
    app.event("user_change")(people.user_change)  # a new time zone; a deactivated person's tasks handed on
    app.action(MAP_BUTTONS)(MapButton(maps, followups).clicked)  # the Home's map buttons
    app.action(HOME_START_BUTTONS)(HomeStartButton(service, followups, seal).clicked)  # the Home's start buttons
    # Workflow Builder: a workflow reached one of Baton's steps (manifest.yml `functions`)
    app.function(REQUEST_APPROVAL)(steps.executed)
    app.function(START_WORKFLOW)(steps.executed)
    app.function(ANYTHING)(steps.executed)  # a step renamed or removed from the manifest: completed with an error
    # Last: anything Baton does not (or no longer) know gets a polite answer instead of an error in Slack.
    app.action(ANYTHING)(fallback.unknown_action)
    app.view(ANYTHING)(fallback.unknown_view)
    app.shortcut(ANYTHING)(fallback.unknown_action)
    app.event(ANYTHING)(fallback.ignore)  # events Baton is subscribed to but does not act on
    app.view_closed(ANYTHING)(fallback.ignore)
    app.options(ANYTHING)(fallback.no_options)


class Fallbacks:
    """Answers for what no other listener takes: old buttons, old forms, events Baton does not act on."""

    def __init__(self, followups: FollowUps) -> None:
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
        await ack(response_action="update", view=notice_view("Baton", "This form is out of date. Please start again."))
