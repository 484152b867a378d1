"""Listeners for how teams decide together: more actions on a task, change requests, hand-overs, comments,
delegation, decisions typed in a thread, and shortcuts."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import Decision, RefusalReason, StepKind, Why, WordedText
from bot.service import FormInvalid, Refused, WorkflowService

from .blocks import actions, button, section
from .followups import FollowUps
from .messages import (
    ACTION_APPROVE,
    ACTION_COMPLETE,
    ACTION_REJECT,
    revision_view,
)
from .metadata import MetadataSeal
from .parsing import ID_LIMIT, click_of, shortcut_message_of, submission_of, submitted_choice, text_of, user_of
from .refusals import refusal_text
from .views import (
    changes_view,
    comment_view,
    field_block_id,
    hand_over_view,
    pick_workflow_view,
    start_form_view,
    submitted_form,
    submitted_text,
    submitted_user,
)
from .wording import shown

__all__ = ["SHORTCUT_REQUEST_APPROVAL", "SHORTCUT_START", "Collaboration", "parse_delegation"]

log = logging.getLogger(__name__)

SHORTCUT_START = "start_workflow"
SHORTCUT_REQUEST_APPROVAL = "request_approval"
APPROVAL_WORKFLOW = "approval"
Body = dict[str, Any]

_SAYS_APPROVE = re.compile(r"\b(approved?|lgtm|looks good( to me)?|ship it|go ahead)\b|(^|\s)(\+1|👍)(\s|$)", re.I)
_SAYS_REJECT = re.compile(r"\b(reject(ed)?|denied|decline[sd]?|not approved)\b", re.I)
_SAYS_DONE = re.compile(r"\b(done|finished|completed)\b", re.I)
# "not done yet", "I can't approve this", "haven't finished": words of a decision, but saying the opposite
_SAYS_NOT = re.compile(r"\b(not|no|never|yet|cannot|can't|won't|don't|isn't|haven't|hasn't|wasn't)\b|n't\b", re.I)
_SLACK_TOKEN = re.compile(r"<([@#!])?([^>|]+)(?:\|([^>]*))?>")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def parse_delegation(argument: str, rest: str, today: date) -> tuple[str | None, date | None, str | None]:
    """Read `@someone until 2026-12-24` (or `for 5 days`); return (user, last day, problem)."""
    match = _MENTION.match(argument.strip())
    if match is None:
        return None, None, "Name the person as a mention, e.g. `/workflow delegate @maria until 2026-12-24`."
    words = rest.split()
    if len(words) == 2 and words[0].lower() == "until":
        try:
            last = date.fromisoformat(words[1])
        except ValueError:
            return None, None, f"`{words[1][:20]}` is not a date; write it as 2026-12-24."
    elif len(words) == 3 and words[0].lower() == "for" and words[1].isdecimal() and words[2].startswith("day"):
        last = today + timedelta(days=min(int(words[1]), 400) - 1)  # over a year is refused below, not overflowed
    else:
        return None, None, "Say until when, e.g. `until 2026-12-24` or `for 5 days`."
    if last < today:
        return None, None, "That date has passed."
    if last > today + timedelta(days=366):
        return None, None, "Delegate for at most a year."
    return match.group(1), last, None


class Collaboration:
    """More actions on a task, change requests, hand-overs, comments, decisions typed in a thread, shortcuts."""

    def __init__(self, service: WorkflowService, followups: FollowUps, seal: MetadataSeal) -> None:
        self._service = service
        self._seal = seal
        self._later = followups.later

    def _tell(self, client: AsyncWebClient, channel: Any, user_id: str, text: str) -> None:
        self._later(tell(client, channel, user_id, text), what="note to a person")

    def _open(self, client: AsyncWebClient, trigger: Any, view: dict[str, Any], user_id: str, channel: Any) -> None:
        self._later(open_view(client, trigger, view, user_id, channel), what="views.open")

    # ---- the "more" menu on a task ------------------------------------------------------------------

    async def more(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        task_id = click.block_id.removeprefix("task:")
        user_id, channel, choice = click.user_id, click.channel_id, click.selected_option
        check = await self._may(choice, task_id, user_id)  # from stored state, before any form opens
        await ack()
        if isinstance(check, Refused):
            self._tell(client, channel, user_id, refusal_text(check.why))
            return
        view = {"request_changes": changes_view, "hand_over": hand_over_view, "comment": comment_view}[choice]
        self._open(client, click.trigger_id, view(task_id, shown(check)), user_id, channel)

    async def _may(self, choice: str, task_id: str, user_id: str) -> Refused | WordedText:
        """May this person do what they picked from the menu? The refusal, or the task's title."""
        if choice == "request_changes":
            return await self._service.check_act(task_id, user_id, Decision.REQUEST_CHANGES)
        if choice == "hand_over":
            return await self._service.may_hand_over(task_id, user_id)
        if choice == "comment":
            return await self._service.may_comment(task_id, user_id)
        return Refused(Why(RefusalReason.OLD_MENU_ITEM))

    async def changes_submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        task_id, user_id, comment = _modal_context(body, view)
        if not (comment or "").strip():
            await ack(response_action="errors", errors={"comment": "Say what should change."})
            return
        result = await self._service.act(task_id, user_id, Decision.REQUEST_CHANGES, comment)
        await _close_or_error(ack, result)

    async def hand_over_submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        task_id, user_id, note = _modal_context(body, view)
        to = submitted_user(submission_of(body, view).values) or ""
        result = await self._service.reassign(task_id, user_id, to, note)
        if isinstance(result, Refused):
            await ack(response_action="errors", errors={"person": refusal_text(result.why)[:150]})
        else:
            await ack()

    async def comment_submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        task_id, user_id, text = _modal_context(body, view)
        result = await self._service.comment(task_id, user_id, text or "")
        await _close_or_error(ack, result)

    # ---- change requests: the requester's side ------------------------------------------------------

    async def edit_request(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await ack()  # reads only: nothing to commit
        click = click_of(body)
        task_id, user_id, channel = click.value[:ID_LIMIT], click.user_id, click.channel_id
        found = await self._service.screens.task_by_id(task_id)
        if found is None or not found[1].status.is_open or found[1].kind is not StepKind.REVISION:
            self._tell(client, channel, user_id, "There is no open change request here any more.")
            return
        instance, _task = found
        if user_id != instance.requester:
            self._tell(client, channel, user_id, f"Only <@{instance.requester}> can edit this request.")
            return
        definition = await self._service.screens.definition_of(instance)
        self._open(client, click.trigger_id, revision_view(definition, instance, task_id), user_id, channel)

    async def resubmitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        submission = submission_of(body, view)
        task_id, user_id = submission.private_metadata[:ID_LIMIT], submission.user_id
        found = await self._service.screens.task_by_id(task_id)
        if found is None:
            await ack(response_action="errors", errors={})
            return
        definition = await self._service.screens.definition_of(found[0])
        form = submitted_form(definition, submission.values)
        result = await self._service.resubmit(task_id, user_id, form)
        if isinstance(result, FormInvalid):
            await ack(response_action="errors", errors={field_block_id(k): v for k, v in result.errors.items()})
        elif isinstance(result, Refused):
            first = field_block_id(definition.form[0].id) if definition.form else "comment"
            await ack(response_action="errors", errors={first: refusal_text(result.why)[:150]})
        else:
            await ack()

    async def withdraw(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        task_id, user_id, channel = click.value[:ID_LIMIT], click.user_id, click.channel_id
        found = await self._service.screens.task_by_id(task_id)
        reason = "Withdrawn after a change request."
        result = await self._service.cancel(found[0].id, user_id, reason) if found else None
        await ack()  # the withdrawal is committed
        if found is None:
            self._tell(client, channel, user_id, "That request does not exist.")
        elif isinstance(result, Refused):
            self._tell(client, channel, user_id, refusal_text(result.why))

    # ---- decisions typed in a thread ----------------------------------------------------------------

    async def thread_reply(self, ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        """Someone wrote "lgtm" under a task message: offer to record it — never record free text by itself."""
        await ack()  # nothing is recorded here: the offer is a Slack-only follow-up
        self._later(self._offer_typed_decision(event, client), what="offer to record a typed decision")

    async def _offer_typed_decision(self, event: Body, client: AsyncWebClient) -> None:
        thread, channel, user_id = event.get("thread_ts"), event.get("channel"), event.get("user")
        text = str(event.get("text") or "")
        if (
            event.get("subtype")
            or event.get("bot_id")
            or not (thread and channel and user_id)
            or thread == event.get("ts")
        ):
            return
        found = await self._service.screens.task_at(str(channel), str(thread))
        if found is None:
            return
        instance, task = found
        if not task.status.is_open or user_id not in task.assignees:
            return
        if task.kind is StepKind.APPROVAL and _SAYS_REJECT.search(text):
            label, action_id = "Reject…", ACTION_REJECT
        elif _SAYS_NOT.search(text):
            return  # "not done yet", "I can't approve this": never offer the opposite of what was said
        elif task.kind is StepKind.APPROVAL and _SAYS_APPROVE.search(text):
            label, action_id = "Approve", ACTION_APPROVE
        elif task.kind is StepKind.TASK and _SAYS_DONE.search(text):
            label, action_id = "Mark done", ACTION_COMPLETE
        else:
            return
        question = f"Record this as *{label.rstrip('…')}* on “{shown(task.title)}” ({instance.title})?"
        blocks = [section(question), actions(button(label, action_id=action_id, value=task.id, style="primary"))]
        await _offer(client, str(channel), str(user_id), question, blocks, str(thread))

    # ---- shortcuts ----------------------------------------------------------------------------------

    async def start_shortcut(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        await ack()
        user_id = user_of(body)
        view = pick_workflow_view(self._service.startable_by(user_id))
        self._open(client, text_of(body.get("trigger_id")) or None, view, user_id, None)

    async def request_approval_shortcut(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        """From a message: a general approval request, prefilled with the message and its link."""
        await ack()
        self._later(self._open_approval_request(body, client), what="approval request form")

    async def _open_approval_request(self, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        user_id, trigger, channel = click.user_id, click.trigger_id, click.channel_id
        text, ts = shortcut_message_of(body)
        definition = self._service.definition(APPROVAL_WORKFLOW)
        if definition is None or self._service.start_refusal(definition, user_id):
            await open_view(client, trigger, pick_workflow_view(self._service.startable_by(user_id)), user_id, channel)
            return
        link = await _permalink(client, channel, ts)
        prefill = {"subject": readable(text)[:2900], "link": link}
        view = start_form_view(definition, origin_channel=None, initial={k: v for k, v in prefill.items() if v})
        view = self._seal.sealed_view(user_id, view)
        await open_view(client, trigger, view, user_id, channel)

    async def workflow_picked(self, ack: AsyncAck, body: Body, view: Body) -> None:
        submission = submission_of(body, view)
        definition = self._service.definition(submitted_choice(submission.values, "workflow"))
        if definition is None:
            await ack(response_action="errors", errors={"workflow": "Pick a workflow."})
            return
        user_id = submission.user_id
        refusal = self._service.start_refusal(definition, user_id)
        if refusal:
            await ack(response_action="errors", errors={"workflow": refusal_text(refusal)[:150]})
            return
        view = self._seal.sealed_view(user_id, start_form_view(definition, origin_channel=None))
        await ack(response_action="update", view=view)


async def delegate_command(service: WorkflowService, user_id: str, argument: str, rest: str, now: datetime) -> str:
    """`/workflow delegate @someone until 2026-12-24`, `/workflow delegate off`, `/workflow delegate`."""
    if not argument:
        current = await service.delegations.delegation_of(user_id)
        return f"Your new tasks go to <@{current}>." if current else "You are not delegating. " + _DELEGATE_HELP
    if argument.lower() in ("off", "end", "stop", "none"):
        ended = await service.delegations.end_delegation(user_id)
        return "Delegation ended: new tasks come to you again." if ended else "You were not delegating."
    delegate, last_day, problem = parse_delegation(argument, rest, now.date())
    if problem or delegate is None or last_day is None:
        return problem or _DELEGATE_HELP
    until = datetime.combine(last_day + timedelta(days=1), time(0, 0), tzinfo=UTC)
    result = await service.delegations.delegate(user_id, delegate, until)
    if isinstance(result, Refused):
        return refusal_text(result.why)
    return (
        f":palm_tree: Until the end of {last_day.isoformat()}, your new tasks go to <@{delegate}>. "
        "End it early with `/workflow delegate off`."
    )


_DELEGATE_HELP = "Delegate while you are away: `/workflow delegate @someone until 2026-12-24`."


def _modal_context(body: Body, view: Body) -> tuple[str, str, str | None]:
    submission = submission_of(body, view)
    return submission.private_metadata[:ID_LIMIT], submission.user_id, submitted_text(submission.values)


async def _close_or_error(ack: AsyncAck, result: object) -> None:
    if isinstance(result, Refused):
        await ack(response_action="errors", errors={"comment": refusal_text(result.why)[:150]})
    else:
        await ack()


async def _offer(
    client: AsyncWebClient, channel: str, user_id: str, question: str, blocks: list[dict[str, Any]], thread: str
) -> None:
    try:
        await client.chat_postEphemeral(channel=channel, user=user_id, text=question, blocks=blocks, thread_ts=thread)
    except SlackApiError as error:
        log.info("could not offer to record a typed decision: %s", error.response.get("error"))


async def _permalink(client: AsyncWebClient, channel: Any, ts: Any) -> str | None:
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    try:
        answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError:
        return None
    link = answer.get("permalink")
    return link if isinstance(link, str) else None


async def tell(client: AsyncWebClient, channel_id: Any, user_id: str, text: str) -> None:
    """An ephemeral note to one person where they acted, or a DM where that is not possible."""
    if isinstance(channel_id, str) and channel_id:
        try:
            await client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
            return
        except SlackApiError as error:
            log.info("ephemeral to user=%s failed (%s); sending a DM", user_id, error.response.get("error"))
    try:
        await client.chat_postMessage(channel=user_id, text=text)
    except SlackApiError as error:
        log.warning("could not tell user=%s: %s", user_id, error.response.get("error"))


async def open_view(client: AsyncWebClient, trigger_id: Any, view: dict[str, Any], user_id: str, channel: Any) -> None:
    """Open a modal right away (trigger ids live 3 seconds); say so if Slack refuses."""
    if not isinstance(trigger_id, str):
        await tell(client, channel, user_id, "Slack did not send what is needed to open the form.")
        return
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        code = error.response.get("error")
        log.warning("views.open failed: user=%s error=%s", user_id, code)
        await tell(client, channel, user_id, f"The form could not be opened (Slack said `{code}`). Please try again.")


def readable(text: str) -> str:
    """A Slack message's text as a person reads it: `<@U1|ana>` → @ana, `<#C1|general>` → #general,
    `<https://x|label>` → label (https://x), and `&amp;`, `&lt;`, `&gt;` decoded; for a plain-text input."""

    def token(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return f"@{label or target}"
        if sigil == "#":
            return f"#{label or target}"
        if sigil == "!":
            return f"@{(label or target).split('^')[0]}"
        return f"{label} ({target})" if label and label != target else target

    decoded = _SLACK_TOKEN.sub(token, text)
    return decoded.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
