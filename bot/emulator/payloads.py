"""Builders of the request payloads Slack sends to an app: slash commands, interactions and Events API."""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from bot.emulator.web_api import User, find_action

__all__ = [
    "DEFAULT_API_APP_ID",
    "DEFAULT_BOT_USER_ID",
    "DEFAULT_TEAM_DOMAIN",
    "DEFAULT_TEAM_ID",
    "DEFAULT_VERIFICATION_TOKEN",
    "action_from_element",
    "app_home_opened_event",
    "app_mention_event",
    "app_rate_limited",
    "app_uninstalled_event",
    "block_actions",
    "channel_archive_event",
    "channel_value",
    "checkboxes_value",
    "conversation_value",
    "date_value",
    "datetime_value",
    "email_value",
    "file_input_value",
    "event_callback",
    "member_left_channel_event",
    "message_event",
    "multi_static_select_value",
    "multi_users_value",
    "number_value",
    "plain_text_value",
    "radio_value",
    "rich_text_value",
    "rich_text_blocks",
    "slash_command",
    "ssl_check",
    "static_select_value",
    "team_join_event",
    "time_value",
    "tokens_revoked_event",
    "url_verification",
    "user_change_event",
    "user_ref",
    "url_value",
    "user_value",
    "view_closed",
    "view_submission",
]

DEFAULT_TEAM_ID: Final = "T0BATON"
DEFAULT_TEAM_DOMAIN: Final = "baton-sandbox"
DEFAULT_API_APP_ID: Final = "A0BATON"
DEFAULT_BOT_USER_ID: Final = "UBATONBOT"
DEFAULT_VERIFICATION_TOKEN: Final = "verification-token"  # Slack's deprecated verification token field


def _now_ts() -> str:
    return f"{time.time():.6f}"


def _random_id(prefix: str, length: int = 9) -> str:
    return prefix + secrets.token_hex(length).upper()[:length]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _channel_type(channel_id: str) -> str:
    if channel_id.startswith("D"):
        return "im"
    if channel_id.startswith("G"):
        return "mpim"
    return "channel"


def user_ref(user_id: str, *, user_name: str | None = None, team_id: str = DEFAULT_TEAM_ID) -> dict[str, Any]:
    """The ``user`` object of interaction payloads: ``{id, username, name, team_id}``."""
    name = user_name if user_name is not None else user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _team(team_id: str, team_domain: str) -> dict[str, Any]:
    return {"id": team_id, "domain": team_domain}


# --- slash commands


def slash_command(
    *,
    command: str,
    text: str,
    user_id: str,
    channel_id: str,
    trigger_id: str,
    response_url: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, str]:
    """Form fields of a slash command invocation (sent ``application/x-www-form-urlencoded``)."""
    if channel_name is None:
        channel_name = "directmessage" if channel_id.startswith("D") else channel_id.lower()
    return {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name if user_name is not None else user_id.lower(),
        "command": command if command.startswith("/") else f"/{command}",
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url or f"https://hooks.slack.com/commands/{team_id}/1/{secrets.token_hex(12)}",
        "trigger_id": trigger_id,
    }


# --- interactivity


def action_from_element(
    element: Mapping[str, Any],
    *,
    block_id: str | None,
    value: Any = None,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """The ``actions[]`` entry Slack sends when a user uses ``element`` (a Block Kit element dict).

    ``value`` is what the user picked: ignored for buttons (their own ``value`` is sent), an option value for
    selects/overflow/radio, a user/channel/conversation id for those selects, a date for a datepicker.
    """
    kind = str(element.get("type", "button"))
    action: dict[str, Any] = {
        "action_id": element.get("action_id", ""),
        "block_id": block_id if block_id is not None else element.get("block_id", ""),
        "type": kind,
        "action_ts": action_ts or _now_ts(),
    }
    if kind == "button":
        action["text"] = copy.deepcopy(element.get("text") or _plain("Button"))
        if "value" in element:
            action["value"] = element["value"]
        elif value is not None:
            action["value"] = value
        if "style" in element:
            action["style"] = element["style"]
        if "url" in element:
            action["url"] = element["url"]
        return action
    if kind in ("static_select", "overflow", "radio_buttons", "external_select"):
        option = _find_option(element, value)
        action["selected_option"] = option
        if "placeholder" in element:
            action["placeholder"] = copy.deepcopy(element["placeholder"])
        return action
    if kind in ("multi_static_select", "checkboxes"):
        values = list(value) if isinstance(value, list | tuple) else ([] if value is None else [value])
        action["selected_options"] = [_find_option(element, v) for v in values]
        return action
    single = {
        "users_select": "selected_user",
        "conversations_select": "selected_conversation",
        "channels_select": "selected_channel",
        "datepicker": "selected_date",
        "timepicker": "selected_time",
        "datetimepicker": "selected_date_time",
    }
    multi = {
        "multi_users_select": "selected_users",
        "multi_conversations_select": "selected_conversations",
        "multi_channels_select": "selected_channels",
    }
    if kind in single:
        action[single[kind]] = value
    elif kind in multi:
        action[multi[kind]] = list(value) if isinstance(value, list | tuple) else [value]
    elif value is not None:
        action["value"] = value
    return action


def _find_option(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    options: list[Any] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        if isinstance(group, dict):
            options.extend(group.get("options") or [])
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return copy.deepcopy(option)
    return {"text": _plain(str(value)), "value": value}


def _build_action(
    *,
    action: Mapping[str, Any] | None,
    action_id: str,
    block_id: str | None,
    value: Any,
    action_type: str,
    text: str,
    blocks: Sequence[Any],
) -> dict[str, Any]:
    if action is not None:
        built = copy.deepcopy(dict(action))
        built.setdefault("action_id", action_id)
        built.setdefault("block_id", block_id or "")
        built.setdefault("action_ts", _now_ts())
        return built
    found = find_action(blocks, action_id) if blocks else None
    if found is not None and (action_type == "button" or found[1].get("type") == action_type):
        found_block_id, element = found
        built = action_from_element(element, block_id=block_id or found_block_id, value=value)
        if element.get("type") == "button" and value is not None:
            built["value"] = value
        return built
    made: dict[str, Any] = {"type": action_type, "action_id": action_id}
    if action_type == "button":
        made["text"] = _plain(text)
        if value is not None:
            made["value"] = value
    return action_from_element(made, block_id=block_id or _random_id("", 5), value=value)


def block_actions(
    *,
    user_id: str,
    action_id: str,
    value: Any = None,
    trigger_id: str,
    block_id: str | None = None,
    channel_id: str | None = None,
    message_ts: str | None = None,
    message: Mapping[str, Any] | None = None,
    view: Mapping[str, Any] | None = None,
    action: Mapping[str, Any] | None = None,
    action_type: str = "button",
    text: str = "Button",
    response_url: str | None = None,
    is_ephemeral: bool = False,
    user_name: str | None = None,
    channel_name: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A ``block_actions`` payload: a view action when ``view`` is given, else a message action.

    The action entry is ``action`` when given; otherwise it is built from the element with ``action_id``
    found in the message's/view's blocks (so it carries the element's real type, text and value), or from
    scratch.
    """
    blocks: list[Any] = []
    if view is not None:
        blocks = list(view.get("blocks") or [])
    elif message is not None:
        blocks = list(message.get("blocks") or [])
    built = _build_action(
        action=action,
        action_id=action_id,
        block_id=block_id,
        value=value,
        action_type=action_type,
        text=text,
        blocks=blocks,
    )
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": user_ref(user_id, user_name=user_name, team_id=team_id),
        "api_app_id": api_app_id,
        "token": token,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "")}
    else:
        ts = message_ts or (str(message["ts"]) if message is not None and "ts" in message else None)
        if channel_id is None:
            raise ValueError("a message action needs channel_id (or pass view= for a view action)")
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
    payload["trigger_id"] = trigger_id
    payload["team"] = _team(team_id, team_domain)
    payload["enterprise"] = None
    payload["is_enterprise_install"] = False
    if view is not None:
        payload["view"] = copy.deepcopy(dict(view))
    else:
        assert channel_id is not None
        payload["channel"] = {"id": channel_id, "name": channel_name or _default_channel_name(channel_id)}
        if message is not None and not is_ephemeral:
            payload["message"] = copy.deepcopy(dict(message))
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url or (
            f"https://hooks.slack.com/actions/{team_id}/1/{secrets.token_hex(12)}"
        )
    payload["actions"] = [built]
    return payload


def _default_channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else channel_id.lower()


def view_submission(
    *,
    user_id: str,
    view: Mapping[str, Any],
    values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    trigger_id: str,
    response_urls: Iterable[Mapping[str, Any]] = (),
    user_name: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A ``view_submission`` payload; ``values`` becomes ``view.state.values`` (block_id→action_id→value)."""
    submitted = copy.deepcopy(dict(view))
    submitted["state"] = {"values": copy.deepcopy({k: dict(v) for k, v in values.items()})}
    return {
        "type": "view_submission",
        "team": _team(team_id, team_domain),
        "user": user_ref(user_id, user_name=user_name, team_id=team_id),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id,
        "view": submitted,
        "response_urls": [dict(r) for r in response_urls],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(
    *,
    user_id: str,
    view: Mapping[str, Any],
    is_cleared: bool = False,
    user_name: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A ``view_closed`` payload (sent only for views opened with ``notify_on_close: true``)."""
    return {
        "type": "view_closed",
        "team": _team(team_id, team_domain),
        "user": user_ref(user_id, user_name=user_name, team_id=team_id),
        "api_app_id": api_app_id,
        "token": token,
        "view": copy.deepcopy(dict(view)),
        "is_cleared": is_cleared,
        "is_enterprise_install": False,
        "enterprise": None,
    }


# --- Events API


def event_callback(
    event: Mapping[str, Any],
    *,
    event_id: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
    bot_user_id: str = DEFAULT_BOT_USER_ID,
    event_time: int | None = None,
) -> dict[str, Any]:
    """The Events API envelope around ``event``."""
    return {
        "token": token,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": copy.deepcopy(dict(event)),
        "type": "event_callback",
        "event_id": event_id or _random_id("Ev"),
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def url_verification(challenge: str, *, token: str = DEFAULT_VERIFICATION_TOKEN) -> dict[str, Any]:
    """The handshake Slack sends when a Request URL is configured."""
    return {"token": token, "challenge": challenge, "type": "url_verification"}


def ssl_check(*, token: str = DEFAULT_VERIFICATION_TOKEN) -> dict[str, str]:
    """Form fields of Slack's periodic SSL certificate check of a slash command URL."""
    return {"ssl_check": "1", "token": token}


def team_join_event(user: Mapping[str, Any] | User) -> dict[str, Any]:
    """A ``team_join`` event carrying the full user object."""
    body = user.to_slack() if isinstance(user, User) else copy.deepcopy(dict(user))
    now = time.time()
    return {"type": "team_join", "user": body, "cache_ts": int(now), "event_ts": f"{now:.6f}"}


def member_left_channel_event(user: str, channel: str, *, team_id: str = DEFAULT_TEAM_ID) -> dict[str, Any]:
    """A ``member_left_channel`` event: ``user`` left (or was removed from) ``channel``."""
    kind = "G" if channel.startswith("G") else "C"
    return {
        "type": "member_left_channel",
        "user": user,
        "channel": channel,
        "channel_type": kind,
        "team": team_id,
        "event_ts": _now_ts(),
    }


def channel_archive_event(channel: str, user: str) -> dict[str, Any]:
    """A ``channel_archive`` event: ``user`` archived ``channel``."""
    return {"type": "channel_archive", "channel": channel, "user": user, "event_ts": _now_ts()}


def user_change_event(user: User) -> dict[str, Any]:
    """A ``user_change`` event: a member's profile changed (time zone, name, deactivation), with the whole user."""
    now = time.time()
    return {"type": "user_change", "user": user.to_slack(), "cache_ts": int(now), "event_ts": f"{now:.6f}"}


def tokens_revoked_event(*, bot: Sequence[str] = (), oauth: Sequence[str] = ()) -> dict[str, Any]:
    """A ``tokens_revoked`` event: the users whose OAuth (user) and bot tokens were revoked."""
    return {"type": "tokens_revoked", "tokens": {"oauth": list(oauth), "bot": list(bot)}, "event_ts": _now_ts()}


def app_uninstalled_event() -> dict[str, Any]:
    """An ``app_uninstalled`` event: the app was removed from the workspace (its tokens with it)."""
    return {"type": "app_uninstalled", "event_ts": _now_ts()}


def app_rate_limited(*, team_id: str = DEFAULT_TEAM_ID, api_app_id: str = DEFAULT_API_APP_ID) -> dict[str, Any]:
    """Slack's notice (not an event_callback) that it dropped this app's events for going over 30,000 an hour."""
    minute = int(time.time()) // 60 * 60
    return {
        "token": DEFAULT_VERIFICATION_TOKEN,
        "type": "app_rate_limited",
        "team_id": team_id,
        "minute_rate_limited": minute,
        "api_app_id": api_app_id,
    }


def app_home_opened_event(
    user: str, *, channel: str | None = None, tab: str = "home", view: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An ``app_home_opened`` event; ``view`` is the currently published Home view, if any."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": channel or _random_id("D", 8),
        "tab": tab,
        "event_ts": _now_ts(),
    }
    if view is not None:
        event["view"] = copy.deepcopy(dict(view))
    return event


def rich_text_blocks(text: str) -> list[dict[str, Any]]:
    """The ``rich_text`` block Slack clients attach to a typed message."""
    return [
        {
            "type": "rich_text",
            "block_id": secrets.token_hex(3),
            "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}],
        }
    ]


def message_event(
    *,
    user_id: str,
    channel_id: str,
    text: str,
    ts: str | None = None,
    thread_ts: str | None = None,
    channel_type: str | None = None,
    subtype: str | None = None,
    bot_id: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
) -> dict[str, Any]:
    """A ``message`` event (``message.channels``/``message.im``/...) for a message a person typed."""
    stamp = ts or _now_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel_id,
        "user": user_id,
        "text": text,
        "ts": stamp,
        "event_ts": stamp,
        "channel_type": channel_type or _channel_type(channel_id),
        "team": team_id,
    }
    if subtype is not None:
        event["subtype"] = subtype
    if bot_id is not None:
        event["bot_id"] = bot_id
    else:
        event["client_msg_id"] = secrets.token_hex(16)
        event["blocks"] = rich_text_blocks(text)
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def app_mention_event(
    *,
    user_id: str,
    channel_id: str,
    text: str,
    bot_user_id: str = DEFAULT_BOT_USER_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
    team_id: str = DEFAULT_TEAM_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event; the ``<@bot>`` mention is prepended to ``text`` unless already there."""
    mention = f"<@{bot_user_id}>"
    full_text = text if mention in text else f"{mention} {text}".rstrip()
    stamp = ts or _now_ts()
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user_id,
        "text": full_text,
        "ts": stamp,
        "channel": channel_id,
        "event_ts": stamp,
        "team": team_id,
        "client_msg_id": secrets.token_hex(16),
        "blocks": rich_text_blocks(full_text),
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


# --- view state


def plain_text_value(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def email_value(value: str | None) -> dict[str, Any]:
    return {"type": "email_text_input", "value": value}


def number_value(value: int | float | str | None) -> dict[str, Any]:
    """``number_input`` state: Slack sends the number as a string."""
    return {"type": "number_input", "value": None if value is None else str(value)}


def date_value(value: str | None) -> dict[str, Any]:
    """``datepicker`` state, ``value`` like ``"2026-12-01"``."""
    return {"type": "datepicker", "selected_date": value}


def time_value(value: str | None) -> dict[str, Any]:
    """``timepicker`` state, ``value`` like ``"14:30"``."""
    return {"type": "timepicker", "selected_time": value}


def datetime_value(value: int | None) -> dict[str, Any]:
    """``datetimepicker`` state: a Unix timestamp."""
    return {"type": "datetimepicker", "selected_date_time": value}


def user_value(user_id: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user_id}


def multi_users_value(user_ids: Iterable[str]) -> dict[str, Any]:
    return {"type": "multi_users_select", "selected_users": list(user_ids)}


def conversation_value(conversation_id: str | None) -> dict[str, Any]:
    return {"type": "conversations_select", "selected_conversation": conversation_id}


def channel_value(channel_id: str | None) -> dict[str, Any]:
    return {"type": "channels_select", "selected_channel": channel_id}


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}


def static_select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """``static_select`` state; ``None`` means nothing selected."""
    if value is None:
        return {"type": "static_select", "selected_option": None}
    return {"type": "static_select", "selected_option": _option(value, text if text is not None else value)}


def multi_static_select_value(options: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``multi_static_select`` state from ``(value, text)`` pairs."""
    return {"type": "multi_static_select", "selected_options": [_option(v, t) for v, t in options]}


def checkboxes_value(options: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``checkboxes`` state from ``(value, text)`` pairs."""
    return {"type": "checkboxes", "selected_options": [_option(v, t) for v, t in options]}


def radio_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    if value is None:
        return {"type": "radio_buttons", "selected_option": None}
    return {"type": "radio_buttons", "selected_option": _option(value, text if text is not None else value)}


def rich_text_value(text: str | None) -> dict[str, Any]:
    """``rich_text_input`` state: the text as one rich_text section (``None``: nothing written)."""
    if text is None:
        return {"type": "rich_text_input", "rich_text_value": None}
    return {"type": "rich_text_input", "rich_text_value": rich_text_blocks(text)[0]}


def url_value(value: str | None) -> dict[str, Any]:
    return {"type": "url_text_input", "value": value}


def file_input_value(files: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``file_input`` state: the file objects of what the user attached (see ``Workspace.attach_file``)."""
    return {"type": "file_input", "files": [dict(file) for file in files]}


def global_shortcut(
    *,
    user_id: str,
    callback_id: str,
    trigger_id: str,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A global shortcut (the lightning menu): ``type: shortcut``."""
    return {
        "type": "shortcut",
        "token": token,
        "action_ts": _now_ts(),
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "api_app_id": api_app_id,
    }


def message_shortcut(
    *,
    user_id: str,
    callback_id: str,
    trigger_id: str,
    channel_id: str,
    message: Mapping[str, Any],
    response_url: str,
    team_id: str = DEFAULT_TEAM_ID,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_API_APP_ID,
    token: str = DEFAULT_VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """A message shortcut (a message's ⋮ menu): ``type: message_action`` with the message it was used on."""
    return {
        "type": "message_action",
        "token": token,
        "action_ts": _now_ts(),
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "name": user_id.lower(), "team_id": team_id},
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "message_ts": message.get("ts"),
        "message": dict(message),
        "response_url": response_url,
        "api_app_id": api_app_id,
    }
