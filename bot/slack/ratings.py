"""The requester rates a finished request from its outcome DM: a score button records at once, and *Add a
comment…* opens a small modal. Who may rate is decided from stored state, never from the button's value."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import Refused, WorkflowService

from .collaboration import open_view, tell
from .followups import FollowUps
from .parsing import click_of, submission_of
from .rating_blocks import rating_comment_view, score_of
from .refusals import refusal_text
from .views import submitted_text

__all__ = ["RatingButtons"]

Body = dict[str, Any]
_ID_DIGITS = 12


def request_number(text: str) -> int:
    """The request a button or modal names (0, which no request has, for anything else)."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= _ID_DIGITS else 0


class RatingButtons:
    """The 1 to 5 buttons and the comment of the outcome DM; each is committed before Slack hears back."""

    def __init__(self, service: WorkflowService, followups: FollowUps) -> None:
        self._service = service
        self._later = followups.later

    async def rate(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        score = score_of(click.action_id) or 0
        result = await self._service.ratings.rate(request_number(click.value), click.user_id, score)
        await ack()
        if isinstance(result, Refused):
            note = refusal_text(result.why)
            self._later(tell(client, click.channel_id, click.user_id, note), what="rating refusal")

    async def ask_comment(self, ack: AsyncAck, body: Body, client: AsyncWebClient) -> None:
        click = click_of(body)
        rated = await self._service.ratings.may_comment_rating(request_number(click.value), click.user_id)
        await ack()
        if isinstance(rated, Refused):
            note = refusal_text(rated.why)
            self._later(tell(client, click.channel_id, click.user_id, note), what="rating refusal")
            return
        modal = rating_comment_view(rated)
        self._later(open_view(client, click.trigger_id, modal, click.user_id, click.channel_id), what="views.open")

    async def comment_submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        submission = submission_of(body, view)
        text = submitted_text(submission.values) or ""
        result = await self._service.ratings.comment_rating(
            request_number(submission.private_metadata), submission.user_id, text
        )
        if isinstance(result, Refused):
            await ack(response_action="errors", errors={"comment": refusal_text(result.why)[:150]})
        else:
            await ack()
