"""Slack payloads read once into typed values: who acted, where, on which action, and what they chose or typed.

Whatever Slack sends back (a button's `value`, a `block_id`, `private_metadata`) is only a lookup key here:
the listeners check it against stored state, or `metadata.py` checks Baton's signature on it. Any input gives
a value (empty strings for what is missing or of the wrong type), never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ID_LIMIT",
    "KNOWN_KINDS",
    "Click",
    "Submission",
    "click_of",
    "execution_of",
    "payload_problem",
    "shortcut_message_of",
    "submission_of",
    "submitted_choice",
    "text_of",
    "user_of",
]

ID_LIMIT = 200  # task ids, block ids and the like are short: anything longer is cut, never trusted
KNOWN_KINDS = frozenset(
    {"event_callback", "url_verification", "block_actions", "view_submission", "view_closed", "shortcut",
     "message_action", "block_suggestion"}
)  # what Baton hands to Bolt; other signed kinds (app_rate_limited, anything new) are answered 200 at the door
_INTERACTIONS = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion")
_ID_BEARERS = ("enterprise", "team", "user", "channel")  # Bolt reads `.id` from these when they are objects
_OBJECTS = ("view", "message", "container", "state", "previous_message", "item", "function_data")


@dataclass(frozen=True)
class Click:
    """A click or choice in a message or modal: who, where, and the first action's parts."""

    user_id: str
    channel_id: str | None
    trigger_id: str | None
    action_id: str = ""
    value: str = ""
    block_id: str = ""
    selected_option: str = ""
    selected_user: str = ""


@dataclass(frozen=True)
class Submission:
    """A submitted modal: who, which view, its metadata, the values typed and the input blocks it showed."""

    user_id: str
    view_id: str
    callback_id: str
    private_metadata: str
    values: dict[str, Any] = field(default_factory=dict)
    block_ids: frozenset[str] = frozenset()


def text_of(value: Any, limit: int = ID_LIMIT) -> str:
    """A string field as sent, cut to `limit`; anything that is not a string reads as empty."""
    return value[:limit] if isinstance(value, str) else ""


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def user_of(body: Any) -> str:
    """The person an interaction comes from (`user.id`, or a command's `user_id`)."""
    payload = _object(body)
    return text_of(_object(payload.get("user")).get("id")) or text_of(payload.get("user_id"))


def click_of(body: Any) -> Click:
    """The parts of a block_actions payload Baton uses."""
    payload = _object(body)
    channel = text_of(_object(payload.get("channel")).get("id")) or text_of(
        _object(payload.get("container")).get("channel_id")
    )
    actions = payload.get("actions")
    action = _object(actions[0]) if isinstance(actions, list) and actions else {}
    chosen_user = action.get("selected_user")
    return Click(
        user_id=user_of(payload),
        channel_id=channel or None,
        trigger_id=text_of(payload.get("trigger_id")) or None,
        action_id=text_of(action.get("action_id")),
        value=text_of(action.get("value"), 2000),
        block_id=text_of(action.get("block_id")),
        selected_option=text_of(_object(action.get("selected_option")).get("value")),
        selected_user=text_of(chosen_user, 100),
    )


def submission_of(body: Any, view: Any) -> Submission:
    """The parts of a view_submission payload Baton uses."""
    modal = _object(view)
    state = _object(modal.get("state")).get("values")
    blocks = modal.get("blocks")
    shown = {text_of(block.get("block_id")) for block in blocks if isinstance(block, Mapping)} if isinstance(
        blocks, list
    ) else set()
    return Submission(
        user_id=user_of(body),
        view_id=text_of(modal.get("id")),
        callback_id=text_of(modal.get("callback_id")),
        private_metadata=text_of(modal.get("private_metadata"), 3000),
        values=dict(state) if isinstance(state, Mapping) else {},
        block_ids=frozenset(shown - {""}),
    )


def shortcut_message_of(body: Any) -> tuple[str, str | None]:
    """A message shortcut's message: its text (as sent, with Slack's markup) and its ts."""
    message = _object(_object(body).get("message"))
    return text_of(message.get("text"), 40_000), text_of(message.get("ts"), 40) or None


def submitted_choice(values: Mapping[str, Any], block_id: str, action_id: str = "value") -> str:
    """The value of the option picked in a select of a submitted modal ("" when none)."""
    element = _object(_object(values.get(block_id)).get(action_id))
    return text_of(_object(element.get("selected_option")).get("value"))


def execution_of(event: Mapping[str, Any]) -> tuple[str, str, str | None, dict[str, Any]]:
    """A function_executed event's execution id, step callback_id, workflow execution id and inputs."""
    function = event.get("function")
    inputs = event.get("inputs")
    callback_id = text_of(function.get("callback_id")) if isinstance(function, Mapping) else ""
    workflow_execution = text_of(event.get("workflow_execution_id")) or None
    return (
        text_of(event.get("function_execution_id")),
        callback_id,
        workflow_execution,
        dict(inputs) if isinstance(inputs, Mapping) else {},
    )


def payload_problem(body: Mapping[str, Any]) -> str | None:
    """Why a signed payload is not one Slack sends (and Bolt or a listener would fail on), or None."""
    for name in _ID_BEARERS:
        if body.get(name) is not None and not isinstance(body.get(name), str | Mapping):
            return f"{name} is neither an id nor an object"
    authorizations = body.get("authorizations")
    if authorizations is not None and not (
        isinstance(authorizations, list) and all(isinstance(a, Mapping) for a in authorizations)
    ):
        return "authorizations is not a list of objects"
    if authorizations and payload_problem(authorizations[0]) is not None:  # Bolt reads ids from the first
        return "authorizations[0] has ids that are neither ids nor objects"
    for name in _OBJECTS:
        if name in body and body[name] is not None and not isinstance(body[name], Mapping):
            return f"{name} is not an object"
    kind = body.get("type")
    if kind is not None and not isinstance(kind, str):
        return "type is not a string"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
            return "event_callback without an event and its type"
        return _event_problem(event)
    if kind in _INTERACTIONS:
        return _interaction_problem(body, kind)
    if "command" in body and not (isinstance(body.get("command"), str) and isinstance(body.get("user_id"), str)):
        return "slash command without command and user_id"
    return None


def _event_problem(event: Mapping[str, Any]) -> str | None:
    for name in ("user", "channel", "item", "message", "previous_message"):
        value = event.get(name)
        if value is not None and not isinstance(value, str | Mapping):
            return f"event.{name} is neither an id nor an object"
    for name in ("function", "inputs"):  # function_executed: Bolt reads function.callback_id
        if event.get(name) is not None and not isinstance(event.get(name), Mapping):
            return f"event.{name} is not an object"
    return None


def _interaction_problem(body: Mapping[str, Any], kind: str) -> str | None:
    if not isinstance(body.get("user"), Mapping) or not isinstance(body["user"].get("id"), str):
        return f"{kind} without a user"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and all(_is_action(a) for a in actions)):
            return "block_actions without actions"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not (isinstance(view, Mapping) and isinstance(view.get("type"), str)):
            return f"{kind} without a view and its type"
        if not isinstance(view.get("callback_id"), str):
            return f"{kind} without a callback_id"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return f"{kind} without a callback_id"
    return None


def _is_action(action: Any) -> bool:
    return isinstance(action, Mapping) and isinstance(action.get("action_id"), str)
