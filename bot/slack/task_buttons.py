"""A task's own buttons in its DM (Approve, Reject…, Done, Done with a note…, Snooze, Reassign) and the two
small modals they open (the reason for a rejection, the note with a completion)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine import Decision, RefusalReason, WordedText
from bot.service import Refused, WorkflowService

from .collaboration import open_view, tell
from .followups import FollowUps
from .messages import when
from .parsing import ID_LIMIT, click_of, submission_of
from .refusals import refusal_text
from .views import done_note_view, extension_view, reject_reason_view, submitted_days, submitted_text
from .wording import shown

__all__ = ["TaskButtons"]

Body = dict[str, Any]


class TaskButtons:
    """Each click decides (committed before Slack hears back) or opens the modal that asks for the words."""

    def __init__(self, service: WorkflowService, followups: FollowUps) -> None:
        self._service = service
        self._later = followups.later

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

    async def ask_extension(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        """*Extend…* on a wait: from stored state, only its requester may ask; then the modal for days and why."""
        await self._open_if_allowed(ack, body, client, self._service.may_extend, extension_view)

    async def extension_submitted(self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        submission = submission_of(body, view)
        task_id, user_id = submission.private_metadata[:ID_LIMIT], submission.user_id
        days, reason = submitted_days(submission.values), (submitted_text(submission.values) or "").strip()
        if days is None or days < 1:
            await ack(response_action="errors", errors={"days": "A whole number of days, 1 or more."})
            return
        if not reason:
            await ack(response_action="errors", errors={"comment": "Say why you need more time."})
            return
        result = await self._service.extend(task_id, user_id, days, reason)  # committed before Slack hears back
        if isinstance(result, Refused):
            field = "days" if result.why.reason is RefusalReason.EXTENSION_LENGTH else "comment"
            await ack(response_action="errors", errors={field: refusal_text(result.why)[:150]})
        else:
            await ack()

    async def reject_reason_submitted(self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        await self._comment_submitted(ack, body, view, Decision.REJECT)

    async def done_note_submitted(self, ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        await self._comment_submitted(ack, body, view, Decision.COMPLETE)

    async def _ask_comment(
        self,
        ack: AsyncAck,
        body: Body,
        client: AsyncWebClient,
        decision: str,
        view: Callable[[str, str], dict[str, Any]],
    ) -> None:
        async def may(task_id: str, user_id: str) -> Refused | WordedText:
            return await self._service.check_act(task_id, user_id, decision)  # a refusal is in the history first

        await self._open_if_allowed(ack, body, client, may, view)

    async def _open_if_allowed(
        self,
        ack: AsyncAck,
        body: Body,
        client: AsyncWebClient,
        may: Callable[[str, str], Awaitable[Refused | WordedText]],
        view: Callable[[str, str], dict[str, Any]],
    ) -> None:
        """Ask the service whether this person may (from stored state), then open the modal that asks the rest."""
        click = click_of(body)
        task_id, user_id, channel_id = click.value[:ID_LIMIT], click.user_id, click.channel_id
        check = await may(task_id, user_id)
        await ack()
        if isinstance(check, Refused):
            self._later(tell(client, channel_id, user_id, refusal_text(check.why)), what="refusal note")
            return
        modal = view(task_id, shown(check))
        self._later(open_view(client, click.trigger_id, modal, user_id, channel_id), what="views.open")

    async def _act(self, ack: AsyncAck, body: Body, client: AsyncWebClient, decision: str) -> None:
        click = click_of(body)
        task_id, user_id, channel_id = click.value[:ID_LIMIT], click.user_id, click.channel_id
        result = await self._service.act(task_id, user_id, decision)  # committed before Slack hears back
        await ack()
        if isinstance(result, Refused):
            self._later(tell(client, channel_id, user_id, refusal_text(result.why)), what="refusal note")

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
