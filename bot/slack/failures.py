"""What Slack is answered when a listener fails before its work is committed: a failure the person sees."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.response import BoltResponse

from .blocks import plain, section

__all__ = ["FAILURE_NOTE", "MODAL_FAILURE", "failure_answer", "failure_note_target"]

FAILURE_NOTE = (
    ":warning: Something went wrong on Baton's side, so that may not have been recorded. "
    "Check `/workflow tasks` or `/workflow status` and try again; the admins can find the details in Baton's log."
)
MODAL_FAILURE = "Baton could not save this (a problem on its side). Please submit again in a minute."
_JSON = {"content-type": ["application/json;charset=utf-8"]}


def failure_answer(body: Any) -> BoltResponse:
    """The answer to a request whose listener failed: never a silent 200.

    A command gets the note as its reply, a modal submission keeps the modal open with the note on its first
    input, an event gets 503 so that Slack delivers it again; a click gets an empty 200 here and the note as
    an ephemeral follow-up (see `failure_note_target`)."""
    kind = body.get("type") if isinstance(body, dict) else None
    if isinstance(body, dict) and "command" in body:
        return _json({"response_type": "ephemeral", "text": FAILURE_NOTE})
    if kind == "view_submission":
        return _json(_keep_modal_open(body.get("view")))
    if kind == "event_callback":
        return BoltResponse(status=503, body="Baton could not handle this event now; please deliver it again.")
    return BoltResponse(status=200, body="")


def failure_note_target(body: Any) -> tuple[str, str | None] | None:
    """For a click or shortcut that failed: (the person, the channel) to tell with an ephemeral note."""
    if not isinstance(body, dict) or body.get("type") not in ("block_actions", "shortcut", "message_action"):
        return None
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        return None
    channel = body.get("channel")
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    return user_id, channel_id if isinstance(channel_id, str) else None


def _keep_modal_open(view: Any) -> dict[str, Any]:
    blocks = view.get("blocks") if isinstance(view, dict) else None
    inputs = [
        block["block_id"]
        for block in blocks or ()
        if isinstance(block, dict) and block.get("type") == "input" and isinstance(block.get("block_id"), str)
    ]
    if inputs:
        return {"response_action": "errors", "errors": {inputs[0]: MODAL_FAILURE}}
    notice = {
        "type": "modal",
        "title": plain("Baton", 24),
        "close": plain("Close", 24),
        "blocks": [section(MODAL_FAILURE)],
    }
    return {"response_action": "update", "view": notice}


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers=dict(_JSON))
