"""The start form's submission: check the seal on its metadata, validate the answers, start the request."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.service import FormInvalid, Refused, WorkflowService

from .blocks import context
from .command_text import quoted
from .metadata import MetadataSeal
from .parsing import submission_of, text_of
from .refusals import refusal_text
from .views import field_block_id, notice_view, start_form_view, submitted_form

__all__ = ["StartForm"]

log = logging.getLogger(__name__)

Body = dict[str, Any]
_UNSEALED_FORM = (
    "Baton could not verify this form, so nothing was started. Please start again with `/workflow start` "
    "in the channel where you want the request announced."
)


class StartForm:
    """A submitted start form starts its request (committed before the modal closes) or says why not in it."""

    def __init__(self, service: WorkflowService, seal: MetadataSeal) -> None:
        self._service = service
        self._seal = seal

    async def submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        submission = submission_of(body, view)
        user_id = submission.user_id
        opened = self._seal.opened(user_id, submission.private_metadata)  # the channel in it must be Baton's
        if opened is None:
            log.warning("start form refused: its private_metadata was not sealed by Baton for user=%s", user_id)
            await ack(response_action="update", view=notice_view("Baton", _UNSEALED_FORM))
            return
        metadata = _json_object(opened)
        name = text_of(metadata.get("workflow"))
        channel = text_of(metadata.get("channel")) or None
        definition = self._service.definition(name)
        if definition is None:
            await ack(
                response_action="update", view=notice_view("Workflow gone", f"`{quoted(name)}` no longer exists.")
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
            await ack(response_action="update", view=notice_view(definition.title, refusal_text(result.why)))
        else:
            await ack()


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
