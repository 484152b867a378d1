"""Local, stateful Slack Web API emulator served over real HTTP: the fake Slack for tests and the sandbox."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import math
import random
import string
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import BodyPartReader, web

__all__ = [
    "DEFAULT_REFERENCE_DIR",
    "Channel",
    "Delay",
    "Drop",
    "Ephemeral",
    "Fault",
    "HttpError",
    "Message",
    "MessageVersion",
    "MethodSpec",
    "RateLimited",
    "RecordedCall",
    "ResponseUrlPost",
    "SlackApiFailure",
    "SlackEmulator",
    "SlackError",
    "SlackReference",
    "UploadedFile",
    "User",
    "Usergroup",
    "find_action",
    "validate_blocks",
    "validate_view",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_REFERENCE_DIR: Final = Path(__file__).resolve().parents[2].parent / "shared" / "slack-api-ref"

TRIGGER_TTL_SECONDS: Final = 3.0
MESSAGE_BLOCK_LIMIT: Final = 50
VIEW_BLOCK_LIMIT: Final = 100
MESSAGE_TEXT_LIMIT: Final = 40_000
VIEW_STACK_LIMIT: Final = 3
VIEW_SIZE_LIMIT: Final = 250_000
RESPONSE_URL_MAX_USES: Final = 5
RESPONSE_URL_TTL_SECONDS: Final = 30 * 60
RATE_LIMIT_WINDOW_SECONDS: Final = 60.0

# Arguments that Slack takes as "JSON-encoded strings" in form posts (and as structures in JSON posts).
_JSON_ARGS: Final = frozenset(
    {"blocks", "attachments", "unfurled_attachments", "view", "files", "metadata", "file_ids"}
)

# Requests per minute for each rate-limit tier (Slack's documented minimums; t5 stands for "special").
_TIER_PER_MINUTE: Final[Mapping[str, int]] = MappingProxyType({"t1": 1, "t2": 20, "t3": 50, "t4": 100, "t5": 60})

# Which error code answers a missing required argument, in order of preference (first one the method lists).
_MISSING_ARG_ERRORS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "channel": ("channel_not_found", "invalid_channel"),
        "channel_id": ("channel_not_found", "invalid_channel"),
        "user": ("user_not_found",),
        "user_id": ("user_not_found",),
        "ts": ("message_not_found",),
        "message_ts": ("message_not_found",),
        "email": ("users_not_found",),
        "usergroup": ("no_such_subteam",),
        "filename": ("missing_argument",),
        "length": ("missing_argument",),
        "files": ("missing_argument",),
    }
)

_TZ_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "UTC": "Coordinated Universal Time",
        "GMT": "Greenwich Mean Time",
        "BST": "British Summer Time",
        "IST": "India Standard Time",
        "WET": "Western European Time",
        "WEST": "Western European Summer Time",
        "CET": "Central European Time",
        "CEST": "Central European Summer Time",
        "EET": "Eastern European Time",
        "EEST": "Eastern European Summer Time",
        "MSK": "Moscow Time",
        "EST": "Eastern Standard Time",
        "EDT": "Eastern Daylight Time",
        "CST": "Central Standard Time",
        "CDT": "Central Daylight Time",
        "MST": "Mountain Standard Time",
        "MDT": "Mountain Daylight Time",
        "PST": "Pacific Standard Time",
        "PDT": "Pacific Daylight Time",
        "AKST": "Alaska Standard Time",
        "AKDT": "Alaska Daylight Time",
        "HST": "Hawaii-Aleutian Standard Time",
        "JST": "Japan Standard Time",
        "KST": "Korea Standard Time",
        "AEST": "Australian Eastern Standard Time",
        "AEDT": "Australian Eastern Daylight Time",
        "NZST": "New Zealand Standard Time",
        "NZDT": "New Zealand Daylight Time",
    }
)

_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "call",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
        "context_actions",
        "card",
        "alert",
        "carousel",
    }
)
_OPTION_LIMITS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "static_select": 100,
        "multi_static_select": 100,
        "overflow": 5,
        "radio_buttons": 10,
        "checkboxes": 10,
    }
)
_ID_ALPHABET: Final = string.ascii_letters + string.digits


# ----------------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class HttpError:
    """Answer with a bare HTTP error status (an outage at Slack's edge), not a Slack JSON error."""

    status: int = 500
    body: str = "Internal Server Error"


@dataclass(frozen=True)
class RateLimited:
    """Answer HTTP 429 with a ``Retry-After`` header and ``{"ok": false, "error": "ratelimited"}``."""

    retry_after: int = 1


@dataclass(frozen=True)
class SlackError:
    """Answer HTTP 200 with ``{"ok": false, "error": <error>}``."""

    error: str = "internal_error"


@dataclass(frozen=True)
class Delay:
    """Sleep before answering; the call then proceeds normally (it is not a failure)."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


Fault: TypeAlias = HttpError | RateLimited | SlackError | Delay | Drop


# ----------------------------------------------------------------------------------------------------
# Records and workspace objects


@dataclass(frozen=True)
class RecordedCall:
    """One request the emulator received: Web API calls, plus ``response_url`` posts and ``upload`` bodies.

    ``faulted`` is true when an injected fault (or an enforced rate limit) replaced the answer; such calls
    never change state. ``fault`` names the fault applied, if any (a ``Delay`` is not a failure).
    """

    method: str
    args: dict[str, Any]
    response: dict[str, Any]
    at: float
    faulted: bool = False
    status: int = 200
    fault: Fault | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok")) and not self.faulted

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None

    def summary(self) -> str:
        outcome = "ok" if self.ok else f"error={self.error or self.status}"
        if self.fault is not None:
            outcome += f" fault={self.fault!r}"
        shown = {k: _shorten(v) for k, v in self.args.items()}
        return f"{self.method}({shown}) -> {outcome}"


@dataclass(frozen=True)
class User:
    """A workspace member as the emulator holds it."""

    id: str
    name: str
    real_name: str
    tz: str = "UTC"
    tz_label: str = "Coordinated Universal Time"
    tz_offset: int = 0
    email: str | None = None
    is_admin: bool = False
    is_owner: bool = False
    deleted: bool = False
    is_bot: bool = False
    team_id: str = "T0BATON"
    updated: int = 0

    def to_slack(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "avatar_hash": f"g{zlib.crc32(self.id.encode()):011x}",
            "status_text": "",
            "status_emoji": "",
            "real_name": self.real_name,
            "display_name": self.name,
            "real_name_normalized": self.real_name,
            "display_name_normalized": self.name,
            "team": self.team_id,
        }
        if self.email is not None:
            profile["email"] = self.email
        for size in (24, 32, 48, 72, 192, 512):
            profile[f"image_{size}"] = f"https://avatars.slack-edge.example/{self.id}_{size}.png"
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.deleted,
            "color": "9f69e7",
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz_label,
            "tz_offset": self.tz_offset,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": self.updated,
            "has_2fa": False,
        }


@dataclass(frozen=True)
class Channel:
    """A conversation: public/private channel (``C...``), DM (``D...``) or group DM (``G...``)."""

    id: str
    name: str
    members: tuple[str, ...] = ()
    is_im: bool = False
    is_mpim: bool = False
    is_private: bool = False
    is_archived: bool = False
    user: str | None = None
    created: int = 0
    bot_is_member: bool = True  # the app was invited (`/invite @baton`); without it, posting is `not_in_channel`

    def to_slack(self, team_id: str) -> dict[str, Any]:
        if self.is_im:
            return {
                "id": self.id,
                "created": self.created,
                "is_im": True,
                "is_org_shared": False,
                "user": self.user,
                "last_read": "0000000000.000000",
                "latest": None,
                "unread_count": 0,
                "unread_count_display": 0,
                "is_open": True,
                "priority": 0,
            }
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_mpim,
            "is_group": False,
            "is_im": False,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_mpim,
            "created": self.created,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "unlinked": 0,
            "name_normalized": self.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": team_id,
            "shared_team_ids": [team_id],
            "creator": "",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }


@dataclass(frozen=True)
class Usergroup:
    """A user group (``S...``), addressed in text as ``<!subteam^ID>``."""

    id: str
    handle: str
    users: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True)
class MessageVersion:
    """One version of a message's content; the first is the original post."""

    text: str
    blocks: list[dict[str, Any]]
    at: float


@dataclass(frozen=True)
class Message:
    """Current state of a message in a conversation."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    updates: int = 0
    edited_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    team: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    reply_count: int = 0
    versions: tuple[MessageVersion, ...] = ()

    @property
    def edited(self) -> bool:
        return self.updates > 0

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_slack(self) -> dict[str, Any]:
        """The message object as Slack returns it (``chat.postMessage``'s ``message``, interactions)."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "user": self.user, "ts": self.ts}
        if self.team:
            out["team"] = self.team
        if self.bot_id is not None:
            out["bot_id"] = self.bot_id
            out["app_id"] = self.app_id
            out["bot_profile"] = {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "Baton",
                "deleted": False,
                "team_id": self.team,
            }
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            out["attachments"] = copy.deepcopy(self.attachments)
        if self.metadata:
            out["metadata"] = copy.deepcopy(self.metadata)
        if self.files:
            out["files"] = copy.deepcopy(self.files)
            out["upload"] = False
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
            if not self.is_reply:
                out["reply_count"] = self.reply_count
        if self.edited_ts is not None:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        return out


@dataclass(frozen=True)
class Ephemeral:
    """An ephemeral message shown to one user (never part of the channel history)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    via: str = "chat.postEphemeral"
    updates: int = 0

    def to_slack(self, bot_id: str, app_id: str) -> dict[str, Any]:
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": self.text,
            "ts": self.message_ts,
            "bot_id": bot_id,
            "app_id": app_id,
            "blocks": copy.deepcopy(self.blocks),
        }


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded via files.getUploadURLExternal, the upload URL and files.completeUploadExternal."""

    id: str
    filename: str
    length: int
    title: str
    user: str
    created: int
    content: bytes | None = None
    completed: bool = False
    channels: tuple[str, ...] = ()
    alt_txt: str | None = None
    snippet_type: str | None = None

    def to_slack(self, team_domain: str) -> dict[str, Any]:
        extension = self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else "binary"
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.filename,
            "title": self.title,
            "mimetype": _mimetype(extension),
            "filetype": extension,
            "pretty_type": extension.upper(),
            "user": self.user,
            "size": len(self.content) if self.content is not None else self.length,
            "mode": "hosted",
            "is_external": False,
            "is_public": bool(self.channels),
            "url_private": f"https://files.slack.com/files-pri/{self.id}/{self.filename}",
            "permalink": f"https://{team_domain}.slack.com/files/{self.user}/{self.id}/{self.filename}",
            "channels": list(self.channels),
        }


@dataclass(frozen=True)
class ResponseUrlPost:
    """Something the app POSTed to a ``response_url`` the driver handed out, and what it did."""

    token: str
    payload: dict[str, Any]
    at: float
    channel_id: str | None
    user_id: str
    message_ts: str | None
    outcome: str


@dataclass(frozen=True)
class MethodSpec:
    """What the Slack reference says about one Web API method."""

    name: str
    required: tuple[str, ...]
    properties: Mapping[str, Any]
    errors: frozenset[str]
    tier: str | None
    http_method: str
    json_input_supported: bool
    examples: Mapping[str, Any]

    def error_for_missing(self, arg: str) -> str:
        for candidate in _MISSING_ARG_ERRORS.get(arg, ()):
            if candidate in self.errors:
                return candidate
        return "invalid_arguments"


@dataclass(frozen=True)
class SlackReference:
    """Slack's machine-readable method and event descriptions, read in place (never copied)."""

    root: Path
    methods: Mapping[str, MethodSpec]
    events: Mapping[str, Mapping[str, Any]]

    @classmethod
    def load(cls, root: Path) -> SlackReference:
        methods: dict[str, MethodSpec] = {}
        for path in sorted((root / "methods").glob("*.json")):
            raw = json.loads(path.read_text(encoding="utf-8"))
            args = raw.get("args") or {}
            methods[path.stem] = MethodSpec(
                name=path.stem,
                required=tuple(args.get("required") or ()),
                properties=MappingProxyType(dict(args.get("properties") or {})),
                errors=frozenset((raw.get("errors") or {}).keys()),
                tier=raw.get("rate_limits"),
                http_method=str(raw.get("http_method", "POST")),
                json_input_supported=bool(raw.get("json_input_supported", False)),
                examples=MappingProxyType(dict(raw.get("examples") or {})),
            )
        events: dict[str, Mapping[str, Any]] = {}
        for path in sorted((root / "events").glob("*.json")):
            events[path.stem] = MappingProxyType(json.loads(path.read_text(encoding="utf-8")))
        if not methods:
            raise FileNotFoundError(f"no method descriptions under {root / 'methods'}")
        return cls(root=root, methods=MappingProxyType(methods), events=MappingProxyType(events))


class SlackApiFailure(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, *messages: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages
        self.extra = extra

    def as_response(self) -> dict[str, Any]:
        response: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            response["response_metadata"] = {"messages": list(self.messages)}
        return response


# ----------------------------------------------------------------------------------------------------
# Block Kit validation


def _text_problem(obj: Any, pointer: str, max_len: int, *, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict):
        return f"must be a text object [json-pointer:{pointer}]"
    kind = obj.get("type")
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if kind not in allowed:
        return f"must be one of {list(allowed)} [json-pointer:{pointer}/type]"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return f"must be more than 0 characters [json-pointer:{pointer}/text]"
    if len(text) > max_len:
        return f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"
    return None


def _check_text(obj: Any, pointer: str, max_len: int, errors: list[str], *, plain_only: bool = False) -> None:
    problem = _text_problem(obj, pointer, max_len, plain_only=plain_only)
    if problem is not None:
        errors.append(problem)


def _check_options(options: Any, pointer: str, limit: int, errors: list[str]) -> None:
    if not isinstance(options, list):
        errors.append(f"must be an array [json-pointer:{pointer}]")
        return
    if len(options) > limit:
        errors.append(f"must be less than {limit + 1} items [json-pointer:{pointer}]")
    for i, option in enumerate(options):
        p = f"{pointer}/{i}"
        if not isinstance(option, dict):
            errors.append(f"must be an object [json-pointer:{p}]")
            continue
        _check_text(option.get("text"), f"{p}/text", 75, errors)
        value = option.get("value")
        if isinstance(value, str) and len(value) > 150:
            errors.append(f"must be less than 151 characters [json-pointer:{p}/value]")


def _check_element(element: Any, pointer: str, errors: list[str], action_ids: set[str]) -> None:
    if not isinstance(element, dict):
        errors.append(f"must be an object [json-pointer:{pointer}]")
        return
    kind = element.get("type")
    if not isinstance(kind, str):
        errors.append(f"missing required field: type [json-pointer:{pointer}]")
        return
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or len(action_id) > 255:
            errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
        elif action_id in action_ids:
            errors.append(f"{action_id} is not unique [json-pointer:{pointer}/action_id]")
        else:
            action_ids.add(action_id)
    if kind == "button":
        _check_text(element.get("text"), f"{pointer}/text", 75, errors, plain_only=True)
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        url = element.get("url")
        if isinstance(url, str) and len(url) > 3000:
            errors.append(f"must be less than 3001 characters [json-pointer:{pointer}/url]")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"must be one of ['primary', 'danger'] [json-pointer:{pointer}/style]")
    if kind in _OPTION_LIMITS and "options" in element:
        _check_options(element["options"], f"{pointer}/options", _OPTION_LIMITS[kind], errors)
    if kind in ("static_select", "multi_static_select") and "options" not in element and "option_groups" not in element:
        errors.append(f"must provide either options or option_groups [json-pointer:{pointer}]")
    placeholder = element.get("placeholder")
    if placeholder is not None:
        _check_text(placeholder, f"{pointer}/placeholder", 150, errors, plain_only=True)
    if kind == "image" and not (element.get("image_url") or element.get("slack_file")):
        errors.append(f"missing required field: image_url [json-pointer:{pointer}]")


def _check_block(block: dict[str, Any], pointer: str, errors: list[str]) -> None:
    kind = block["type"]
    action_ids: set[str] = set()
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
        if text is not None:
            _check_text(text, f"{pointer}/text", 3000, errors)
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(f"must be an array of at most 10 items [json-pointer:{pointer}/fields]")
            else:
                for i, item in enumerate(fields):
                    _check_text(item, f"{pointer}/fields/{i}", 2000, errors)
        if "accessory" in block:
            _check_element(block["accessory"], f"{pointer}/accessory", errors, action_ids)
    elif kind == "header":
        _check_text(block.get("text"), f"{pointer}/text", 150, errors, plain_only=True)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"must provide at least 1 element [json-pointer:{pointer}/elements]")
        else:
            if len(elements) > 25:
                errors.append(f"must be less than 26 items [json-pointer:{pointer}/elements]")
            for i, element in enumerate(elements):
                _check_element(element, f"{pointer}/elements/{i}", errors, action_ids)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"must provide at least 1 element [json-pointer:{pointer}/elements]")
        else:
            if len(elements) > 10:
                errors.append(f"must be less than 11 items [json-pointer:{pointer}/elements]")
            for i, element in enumerate(elements):
                p = f"{pointer}/elements/{i}"
                if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                    _check_text(element, p, 3000, errors)
                else:
                    _check_element(element, p, errors, action_ids)
    elif kind == "input":
        _check_text(block.get("label"), f"{pointer}/label", 2000, errors, plain_only=True)
        if "hint" in block:
            _check_text(block["hint"], f"{pointer}/hint", 2000, errors, plain_only=True)
        if "element" not in block:
            errors.append(f"missing required field: element [json-pointer:{pointer}]")
        else:
            _check_element(block["element"], f"{pointer}/element", errors, action_ids)
    elif kind == "image":
        if not (block.get("image_url") or block.get("slack_file")):
            errors.append(f"missing required field: image_url [json-pointer:{pointer}]")
        alt = block.get("alt_text")
        if not isinstance(alt, str) or len(alt) > 2000:
            errors.append(f"must be a string of at most 2000 characters [json-pointer:{pointer}/alt_text]")
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or len(text) > 12_000:
            errors.append(f"must be a string of at most 12000 characters [json-pointer:{pointer}/text]")


def validate_blocks(blocks: Any, *, limit: int = MESSAGE_BLOCK_LIMIT, pointer: str = "/blocks") -> list[str]:
    """Check Block Kit structure and limits; return Slack-style problem descriptions (empty when valid)."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"must be less than {limit + 1} items [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{p}]")
            continue
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{p}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"must be 1 to 255 characters [json-pointer:{p}/block_id]")
            elif block_id in block_ids:
                errors.append(f"{block_id} is a duplicate block_id [json-pointer:{p}/block_id]")
            else:
                block_ids.add(block_id)
        _check_block(block, p, errors)
    return errors


def validate_view(view: Any, *, allowed_types: Iterable[str] = ("modal", "home")) -> list[str]:
    """Check a view payload (modal or App Home) the way ``views.*`` do; return problems (empty when valid)."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    allowed = tuple(allowed_types)
    kind = view.get("type")
    if kind not in allowed:
        return [f"must be one of {list(allowed)} [json-pointer:/view/type]"]
    errors: list[str] = []
    if len(json.dumps(view)) > VIEW_SIZE_LIMIT:
        errors.append("view is too large [json-pointer:/view]")
    if kind == "modal":
        if "title" not in view:
            errors.append("missing required field: title [json-pointer:/view]")
        else:
            _check_text(view["title"], "/view/title", 24, errors, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                _check_text(view[key], f"/view/{key}", 24, errors, plain_only=True)
        blocks = view.get("blocks", [])
        has_input = isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if has_input and view.get("submit") is None:
            errors.append("must provide submit if blocks contain an input block [json-pointer:/view/submit]")
    if "blocks" not in view:
        errors.append("missing required field: blocks [json-pointer:/view]")
    else:
        errors.extend(validate_blocks(view["blocks"], limit=VIEW_BLOCK_LIMIT, pointer="/view/blocks"))
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        value = view.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors


def find_action(blocks: Iterable[Any], action_id: str) -> tuple[str | None, dict[str, Any]] | None:
    """Find the interactive element with ``action_id``: return ``(block_id, element)`` or None."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = []
        if isinstance(block.get("elements"), list):
            candidates.extend(block["elements"])
        for key in ("accessory", "element"):
            if key in block:
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                block_id = block.get("block_id")
                return (block_id if isinstance(block_id, str) else None), element
    return None


# ----------------------------------------------------------------------------------------------------
# Small helpers


def _shorten(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mimetype(extension: str) -> str:
    known = {
        "txt": "text/plain",
        "csv": "text/csv",
        "json": "application/json",
        "pdf": "application/pdf",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "md": "text/markdown",
    }
    return known.get(extension, "application/octet-stream")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return False


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text or None


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _tz_details(tz: str, at: float) -> tuple[str, int]:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return "Coordinated Universal Time", 0
    moment = datetime.fromtimestamp(at, zone)
    offset = moment.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    abbreviation = moment.tzname() or "UTC"
    return _TZ_LABELS.get(abbreviation, abbreviation), seconds


@dataclass
class _Trigger:
    issued_at: float
    user_id: str | None
    used: bool = False


@dataclass
class _ResponseUrl:
    channel_id: str | None
    user_id: str
    message_ts: str | None
    ephemeral: bool
    issued_at: float
    uses: int = 0


@dataclass
class _Injected:
    fault: Fault
    remaining: int | None
    channel: str | None = None


@dataclass
class _Chaos:
    rate: float
    rng: random.Random
    faults: tuple[Fault, ...]
    methods: frozenset[str] | None


@dataclass
class _RateLimits:
    window: float
    per_minute: Mapping[str, int]
    history: dict[str, deque[float]] = field(default_factory=dict)


Listener: TypeAlias = Callable[[RecordedCall], Awaitable[None]]
Handler: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]


# ----------------------------------------------------------------------------------------------------
# The emulator


class SlackEmulator:
    """A fake Slack workspace answering the Web API over HTTP, with recorded calls and injectable faults."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        reference_dir: Path | None = None,
        team_id: str = "T0BATON",
        bot_user_id: str = "UBATONBOT",
        bot_id: str = "B0BATONBOT",
        app_id: str = "A0BATON",
        team_name: str = "Baton Sandbox",
        team_domain: str = "baton-sandbox",
        bot_name: str = "baton",
        trigger_ttl: float = TRIGGER_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.trigger_ttl = trigger_ttl
        self._clock = clock
        self._rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._last_ts_micros = 0

        self.reference_dir = reference_dir if reference_dir is not None else DEFAULT_REFERENCE_DIR
        self.reference: SlackReference | None
        self.reference_problem: str | None = None
        try:
            self.reference = SlackReference.load(self.reference_dir)
        except (OSError, ValueError) as exc:
            self.reference = None
            self.reference_problem = f"Slack API reference not loaded from {self.reference_dir}: {exc}"
            log.warning("%s; running without argument validation", self.reference_problem)

        self.calls: list[RecordedCall] = []
        self.response_url_posts: list[ResponseUrlPost] = []

        self._users: dict[str, User] = {}
        self._channels: dict[str, Channel] = {}
        self._usergroups: dict[str, Usergroup] = {}
        self._messages: dict[str, dict[str, Message]] = {}
        self._deleted: list[Message] = []
        self._dms: dict[str, str] = {}
        self._mpims: dict[frozenset[str], str] = {}
        self._ephemerals: dict[str, list[Ephemeral]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, str] = {}
        self._view_stacks: dict[str, list[str]] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._homes: dict[str, str] = {}
        self._external_ids: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._files: dict[str, UploadedFile] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}

        self._faults: dict[str, list[_Injected]] = {}
        self._chaos: _Chaos | None = None
        self._rate_limits: _RateLimits | None = None
        self._listeners: list[Listener] = []

        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "usergroups.list": self._usergroups_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }
        self.add_user(bot_user_id, name=bot_name, real_name="Baton", is_bot=True)

    # --- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the emulator on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response_url)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        address = runner.addresses[0]
        self._port = int(address[1])

    async def stop(self) -> None:
        """Stop serving; state and recordings are kept."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port/`` of the running emulator."""
        if self._port is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._host}:{self._port}/"

    @property
    def api_url(self) -> str:
        """Web API base URL for ``AsyncWebClient(base_url=...)``; ends with a slash."""
        return f"{self.base_url}api/"

    @property
    def reference_available(self) -> bool:
        """Whether Slack's method reference was found (arguments are validated only then)."""
        return self.reference is not None

    def tier_of(self, method: str) -> str | None:
        """Rate-limit tier of ``method`` per the reference (``"t1"``..``"t5"``), or None when unknown."""
        if self.reference is None:
            return None
        spec = self.reference.methods.get(method)
        return spec.tier if spec is not None else None

    @property
    def supported_methods(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    # --- seeding

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
    ) -> User:
        """Add (or replace) a workspace member; ``tz_label``/``tz_offset`` are derived from ``tz`` now."""
        now = self._clock()
        tz_label, tz_offset = _tz_details(tz, now)
        user = User(
            id=user_id,
            name=name,
            real_name=real_name if real_name is not None else name,
            tz=tz,
            tz_label=tz_label,
            tz_offset=tz_offset,
            email=email,
            is_admin=is_admin,
            is_owner=is_owner,
            deleted=deleted,
            is_bot=is_bot,
            team_id=self.team_id,
            updated=int(now),
        )
        self._users[user_id] = user
        return user

    def deactivate_user(self, user_id: str) -> User:
        """Mark a member as deleted (deactivated), as when someone leaves the company."""
        user = replace(self._users[user_id], deleted=True, updated=int(self._clock()))
        self._users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        name: str,
        members: Iterable[str] = (),
        *,
        is_private: bool = False,
        bot_is_member: bool = True,
    ) -> Channel:
        """Add (or replace) a channel. When ``members`` is non-empty, ephemerals require membership. A bot with
        only `chat:write` posts only where it is a member: elsewhere chat.postMessage answers ``not_in_channel``."""
        channel = Channel(
            id=channel_id,
            name=name.lstrip("#"),
            members=tuple(members),
            is_private=is_private,
            created=int(self._clock()),
            bot_is_member=bot_is_member,
        )
        self._channels[channel_id] = channel
        self._messages.setdefault(channel_id, {})
        return channel

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str], *, name: str = "") -> Usergroup:
        group = Usergroup(id=group_id, handle=handle, users=tuple(users), name=name or handle)
        self._usergroups[group_id] = group
        return group

    def add_message(
        self,
        channel: str,
        user_id: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Message:
        """Put a message from a person into a conversation (e.g. before sending the matching event)."""
        target = self._resolve_channel(channel, open_dm=True)
        return self._store_new_message(
            target.id, user_id, text, blocks or [], thread_ts=thread_ts, bot=False, attachments=[]
        )

    # --- triggers

    def issue_trigger_id(self, user_id: str | None = None) -> str:
        """Mint a trigger id as Slack puts in interaction payloads (single use, valid for ``trigger_ttl``)."""
        now = self._clock()
        trigger = f"{int(now)}.{next(self._ids)}.{self._rng.getrandbits(128):032x}"
        self._triggers[trigger] = _Trigger(issued_at=now, user_id=user_id)
        return trigger

    def issue_response_url(
        self,
        *,
        user_id: str,
        channel_id: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """Mint a ``response_url`` on this emulator, tied to the interaction's channel/message/user."""
        token = f"{next(self._ids)}{self._rng.getrandbits(64):016x}"
        self._response_urls[token] = _ResponseUrl(
            channel_id=channel_id,
            user_id=user_id,
            message_ts=message_ts,
            ephemeral=ephemeral,
            issued_at=self._clock(),
        )
        return f"{self.base_url}response/{token}"

    # --- faults

    def inject(
        self, method_or_star: str, fault: Fault, times: int | None = 1, *, channel: str | None = None
    ) -> None:
        """Answer the next ``times`` calls of a method (``"*"``: any) with ``fault`` (``None``: always); with
        ``channel``, only calls whose ``channel`` argument is that (a user ID for a DM opened by user ID)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None for every call)")
        self._faults.setdefault(method_or_star, []).append(_Injected(fault=fault, remaining=times, channel=channel))

    def clear_faults(self) -> None:
        """Remove injected faults, chaos mode and rate limiting."""
        self._faults.clear()
        self._chaos = None
        self._rate_limits = None

    def random_failures(
        self, rate: float, seed: int, faults: Sequence[Fault], *, methods: Iterable[str] | None = None
    ) -> None:
        """Chaos mode: each call (of ``methods``, default all) fails with probability ``rate``; 0: off."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        if rate == 0.0:
            self._chaos = None
            return
        if not faults:
            raise ValueError("random_failures needs at least one fault")
        self._chaos = _Chaos(
            rate=rate,
            rng=random.Random(seed),
            faults=tuple(faults),
            methods=frozenset(methods) if methods is not None else None,
        )

    def enforce_rate_limits(
        self, per_minute: Mapping[str, int] | None = None, *, window: float = RATE_LIMIT_WINDOW_SECONDS
    ) -> None:
        """Answer 429 once a method exceeds its tier's calls per window (chat.postMessage: per channel).

        ``per_minute`` overrides limits by method name or by tier (``"t3"``).
        """
        self._rate_limits = _RateLimits(window=window, per_minute=dict(per_minute or {}))

    def _next_fault(self, method: str, args: Mapping[str, Any] | None = None) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            matching = [i for i in queue or () if i.channel is None or (args or {}).get("channel") == i.channel]
            if not matching:
                continue
            injected = matching[0]
            if injected.remaining is not None:
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._faults[key].remove(injected)
            return injected.fault
        chaos = self._chaos
        if chaos is not None and (chaos.methods is None or method in chaos.methods) and chaos.rng.random() < chaos.rate:
            return chaos.rng.choice(chaos.faults)
        return None

    def _rate_limit_fault(self, method: str, args: Mapping[str, Any]) -> Fault | None:
        limits = self._rate_limits
        if limits is None or method not in self._handlers:
            return None
        tier = self.tier_of(method)
        limit = limits.per_minute.get(method)
        if limit is None and tier is not None:
            limit = limits.per_minute.get(tier, _TIER_PER_MINUTE.get(tier))
        if limit is None:
            return None
        key = f"{method}:{args.get('channel', '')}" if method == "chat.postMessage" else method
        now = self._clock()
        history = limits.history.setdefault(key, deque())
        while history and history[0] <= now - limits.window:
            history.popleft()
        if len(history) >= limit:
            retry_after = max(1, math.ceil(history[0] + limits.window - now))
            return RateLimited(retry_after=retry_after)
        history.append(now)
        return None

    # --- listeners

    def on_call(self, callback: Listener) -> Callable[[], None]:
        """Call ``await callback(call)`` after every recorded call; returns a function that unsubscribes."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    async def _record(self, call: RecordedCall) -> None:
        self.calls.append(call)
        for listener in list(self._listeners):
            try:
                await listener(call)
            except Exception:
                log.exception("emulator listener failed for %s", call.method)

    # --- queries

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()
        self.response_url_posts.clear()

    def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    @property
    def users(self) -> list[User]:
        return list(self._users.values())

    def channel(self, channel_id: str) -> Channel | None:
        return self._channels.get(channel_id)

    @property
    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def usergroup(self, group_id: str) -> Usergroup | None:
        return self._usergroups.get(group_id)

    def messages(self, channel: str) -> list[Message]:
        """Current messages (top-level and replies, oldest first) of a channel id, ``#name`` or DM user id."""
        channel_id = self._lookup_channel_id(channel)
        if channel_id is None:
            return []
        return list(self._messages.get(channel_id, {}).values())

    def message(self, channel: str, ts: str) -> Message | None:
        channel_id = self._lookup_channel_id(channel)
        return self._messages.get(channel_id or "", {}).get(ts)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in a thread (the parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    @property
    def deleted_messages(self) -> list[Message]:
        return list(self._deleted)

    def dm_channel(self, user_id: str) -> str | None:
        return self._dms.get(user_id)

    def dm_messages(self, user_id: str) -> list[Message]:
        channel_id = self._dms.get(user_id)
        return list(self._messages.get(channel_id, {}).values()) if channel_id else []

    def ephemerals(self, user_id: str) -> list[Ephemeral]:
        return list(self._ephemerals.get(user_id, []))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        view_id = self._homes.get(user_id)
        return copy.deepcopy(self._views[view_id]) if view_id else None

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, bottom (root) first; the last one is what the user sees."""
        return [copy.deepcopy(self._views[v]) for v in self._view_stacks.get(user_id, [])]

    def view(self, view_id: str) -> dict[str, Any] | None:
        view = self._views.get(view_id)
        return copy.deepcopy(view) if view is not None else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """Field errors the app returned (``response_action: errors``) for a view's last submission."""
        return dict(self._view_errors.get(view_id, {}))

    @property
    def files(self) -> list[UploadedFile]:
        """Completed uploads (``files.completeUploadExternal`` done), oldest first."""
        return [f for f in self._files.values() if f.completed]

    def file(self, file_id: str) -> UploadedFile | None:
        return self._files.get(file_id)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able picture of the workspace, e.g. for a sandbox page."""
        snapshot = {
            "team": {"id": self.team_id, "name": self.team_name, "domain": self.team_domain},
            "users": [u.to_slack() for u in self._users.values()],
            "channels": [c.to_slack(self.team_id) | {"members": list(c.members)} for c in self._channels.values()],
            "messages": {cid: [m.to_slack() for m in msgs.values()] for cid, msgs in self._messages.items()},
            "ephemerals": {
                uid: [e.to_slack(self.bot_id, self.app_id) | {"channel": e.channel} for e in items]
                for uid, items in self._ephemerals.items()
            },
            "homes": {uid: self._views[vid] for uid, vid in self._homes.items()},
            "open_views": {uid: [self._views[v] for v in stack] for uid, stack in self._view_stacks.items()},
            "files": [f.to_slack(self.team_domain) for f in self.files],
            "calls": len(self.calls),
        }
        return copy.deepcopy(snapshot)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, *, what: str | None = None) -> T:
        """Poll ``predicate`` every 20 ms until it returns something truthy, and return that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if loop.time() >= deadline:
                recent = "\n  ".join(call.summary() for call in self.calls[-15:]) or "(none)"
                label = what or getattr(predicate, "__name__", "condition")
                raise TimeoutError(
                    f"{label} not met within {timeout:.2f}s; {len(self.calls)} calls so far, most recent:\n  {recent}"
                )
            await asyncio.sleep(0.02)

    # --- view state

    def set_view_state(self, view_id: str, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Record what the user entered in a view (``state.values``), as Slack does before a submission."""
        view = self._views.get(view_id)
        if view is None:
            raise KeyError(view_id)
        view["state"] = {"values": copy.deepcopy(dict(values))}

    def close_view(self, user_id: str, view_id: str | None = None, *, clear: bool = False) -> None:
        """The user closed the top modal (or ``view_id`` and those above it); ``clear`` closes them all."""
        stack = self._view_stacks.get(user_id, [])
        if clear or not stack:
            removed, stack[:] = list(stack), []
        else:
            index = stack.index(view_id) if view_id in stack else len(stack) - 1
            removed, stack[:] = stack[index:], stack[:index]
        for vid in removed:
            self._forget_view(vid)

    def apply_view_submission_response(self, user_id: str, view_id: str, response: Mapping[str, Any] | None) -> str:
        """Apply the app's answer to a ``view_submission`` as Slack would; returns what happened."""
        action = response.get("response_action") if response else None
        stack = self._view_stacks.get(user_id, [])
        if action == "errors":
            errors = response.get("errors") if response else None
            self._view_errors[view_id] = dict(errors) if isinstance(errors, dict) else {}
            return "errors"
        self._view_errors.pop(view_id, None)
        if action == "clear":
            self.close_view(user_id, clear=True)
            return "clear"
        if action in ("update", "push") and response is not None:
            spec = response.get("view")
            problems = validate_view(spec, allowed_types=("modal",))
            if problems:
                raise SlackApiFailure("invalid_arguments", *problems)
            assert isinstance(spec, dict)
            if action == "update" and view_id in self._views:
                old = self._views[view_id]
                self._views[view_id] = self._build_view(
                    spec,
                    view_id=view_id,
                    root_view_id=old["root_view_id"],
                    previous_view_id=old.get("previous_view_id"),
                    values={},
                )
                return "update"
            if len(stack) >= VIEW_STACK_LIMIT:
                raise SlackApiFailure("push_limit_reached")
            new_id = self._new_id("V")
            root = stack[0] if stack else new_id
            self._views[new_id] = self._build_view(
                spec, view_id=new_id, root_view_id=root, previous_view_id=view_id, values={}
            )
            self._view_owner[new_id] = user_id
            self._view_stacks.setdefault(user_id, []).append(new_id)
            return "push"
        self.close_view(user_id, view_id)
        return "close"

    # --- HTTP

    async def _read_args(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any], bool]:
        query: dict[str, Any] = dict(request.query)
        body: dict[str, Any] = {}
        is_json = request.content_type == "application/json"
        if request.can_read_body:
            if is_json:
                raw = await request.text()
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError as exc:
                        raise SlackApiFailure("invalid_json") from exc
                    if not isinstance(parsed, dict):
                        raise SlackApiFailure("invalid_json")
                    body = parsed
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                body = {k: v for k, v in form.items() if isinstance(v, str)}
            else:
                await request.read()
        return query, body, is_json

    @staticmethod
    def _normalise(args: dict[str, Any]) -> dict[str, Any]:
        out = dict(args)
        for key in _JSON_ARGS & out.keys():
            value = out[key]
            if isinstance(value, str) and value.strip():
                try:
                    out[key] = json.loads(value)
                except ValueError:
                    out[key] = value  # left as a string; the handler answers the method's format error
            elif isinstance(value, str):
                out[key] = None
        return out

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            query, body, is_json = await self._read_args(request)
        except SlackApiFailure as failure:
            response = failure.as_response()
            await self._record(RecordedCall(method, {}, response, self._clock()))
            return web.json_response(response)
        spec = self.reference.methods.get(method) if self.reference is not None else None
        token: str | None = None
        authorization = request.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip() or None
        # Slack reads a token argument only from the query string or a form body, never from a JSON body.
        form_token = query.pop("token", None) or (None if is_json else body.pop("token", None))
        token = token or form_token
        if is_json and spec is not None and not spec.json_input_supported:
            body = {}  # this method does not read JSON bodies: the arguments are simply not seen
        args = self._normalise({**query, **body})

        fault = self._next_fault(method, args)
        delay: Delay | None = None
        if isinstance(fault, Delay):
            delay, fault = fault, None
            await asyncio.sleep(delay.seconds)
        if fault is None:
            fault = self._rate_limit_fault(method, args)
        if fault is not None:
            return await self._answer_fault(request, method, args, fault)

        response = self._dispatch(method, token, args)
        await self._record(RecordedCall(method, args, response, self._clock(), fault=delay))
        return web.json_response(response)

    def _dispatch(self, method: str, token: str | None, args: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            if not token:
                raise SlackApiFailure("not_authed")
            if token != self.bot_token:
                raise SlackApiFailure("invalid_auth")
            self._check_required(method, args)
            return handler(args)
        except SlackApiFailure as failure:
            return failure.as_response()

    def _check_required(self, method: str, args: Mapping[str, Any]) -> None:
        if self.reference is None:
            return
        spec = self.reference.methods.get(method)
        if spec is None:
            return
        for name in spec.required:
            if name != "token" and _is_missing(args.get(name)):
                raise SlackApiFailure(spec.error_for_missing(name), f"[ERROR] missing required field: {name}")

    async def _answer_fault(
        self, request: web.Request, method: str, args: dict[str, Any], fault: Fault
    ) -> web.StreamResponse:
        now = self._clock()
        if isinstance(fault, SlackError):
            response: dict[str, Any] = {"ok": False, "error": fault.error}
            await self._record(RecordedCall(method, args, response, now, faulted=True, fault=fault))
            return web.json_response(response)
        if isinstance(fault, RateLimited):
            response = {"ok": False, "error": "ratelimited"}
            await self._record(RecordedCall(method, args, response, now, True, 429, fault))
            return web.json_response(response, status=429, headers={"Retry-After": str(fault.retry_after)})
        if isinstance(fault, HttpError):
            await self._record(RecordedCall(method, args, {}, now, True, fault.status, fault))
            return web.Response(status=fault.status, text=fault.body)
        await self._record(RecordedCall(method, args, {}, now, True, 0, fault))
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        content = b""
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            part = await reader.next()
            if isinstance(part, BodyPartReader):
                content = bytes(await part.read())
        else:
            content = await request.read()
        args = {"file_id": file_id, "bytes": len(content)}
        fault = self._next_fault("upload")
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is not None:
            return await self._answer_fault(request, "upload", args, fault)
        existing = self._files.get(file_id)
        if existing is None or existing.completed:
            await self._record(RecordedCall("upload", args, {"ok": False}, self._clock(), status=404))
            return web.Response(status=404, text="Not Found")
        self._files[file_id] = replace(existing, content=content)
        await self._record(RecordedCall("upload", args, {"ok": True}, self._clock()))
        return web.Response(status=200, text=f"OK - {len(content)}")

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        raw = await request.text()
        payload: Any
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = dict(parse_qsl(raw, keep_blank_values=True))
                payload = json.loads(form["payload"]) if "payload" in form else form
            else:
                payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            payload = None
        args: dict[str, Any] = payload if isinstance(payload, dict) else {"raw": raw}
        fault = self._next_fault("response_url")
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is not None:
            return await self._answer_fault(request, "response_url", args, fault)
        status, body = self._apply_response_url(token, payload)
        response = {"ok": status == 200} if status == 200 else {"ok": False, "error": body}
        await self._record(RecordedCall("response_url", args, response, self._clock(), status=status))
        if status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, text=body)

    def _apply_response_url(self, token: str, payload: Any) -> tuple[int, str]:
        context = self._response_urls.get(token)
        now = self._clock()
        if context is None:
            return 404, "no_such_url"
        if context.uses >= RESPONSE_URL_MAX_USES or now - context.issued_at > RESPONSE_URL_TTL_SECONDS:
            return 404, "used_url"
        if not isinstance(payload, dict):
            return 400, "invalid_payload"
        text = payload.get("text")
        text = text if isinstance(text, str) else ""
        blocks = payload.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return 400, "invalid_blocks_format"
        if blocks is not None and validate_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT):
            return 400, "invalid_blocks"
        if len(text) > MESSAGE_TEXT_LIMIT:
            return 400, "msg_too_long"
        block_list: list[dict[str, Any]] = list(blocks) if isinstance(blocks, list) else []
        context.uses += 1
        outcome = self._response_url_effect(context, payload, text, block_list)
        self.response_url_posts.append(
            ResponseUrlPost(
                token=token,
                payload=payload,
                at=now,
                channel_id=context.channel_id,
                user_id=context.user_id,
                message_ts=context.message_ts,
                outcome=outcome,
            )
        )
        return 200, "ok"

    def _response_url_effect(
        self, context: _ResponseUrl, payload: Mapping[str, Any], text: str, blocks: list[dict[str, Any]]
    ) -> str:
        channel_id, ts = context.channel_id, context.message_ts
        if _flag(payload.get("delete_original")) and ts is not None:
            if context.ephemeral:
                items = self._ephemerals.get(context.user_id, [])
                items[:] = [e for e in items if e.message_ts != ts]
                return "delete_original"
            message = self._messages.get(channel_id or "", {}).pop(ts, None)
            if message is not None:
                self._deleted.append(message)
            return "delete_original"
        if _flag(payload.get("replace_original")) and ts is not None:
            if context.ephemeral:
                items = self._ephemerals.get(context.user_id, [])
                for i, item in enumerate(items):
                    if item.message_ts == ts:
                        items[i] = replace(item, text=text, blocks=self._fill_ids(blocks), updates=item.updates + 1)
                return "replace_original"
            message = self._messages.get(channel_id or "", {}).get(ts)
            if message is not None:
                self._messages[message.channel][ts] = self._revise(message, text, blocks, mark_edited=False)
            return "replace_original"
        thread_ts = _opt_str(payload.get("thread_ts"))
        if channel_id is None:
            return "ignored"
        if payload.get("response_type") == "in_channel":
            self._store_new_message(channel_id, self.bot_user_id, text, blocks, thread_ts=thread_ts, bot=True)
            return "in_channel"
        self._add_ephemeral(channel_id, context.user_id, text, blocks, thread_ts=thread_ts, via="response_url")
        return "ephemeral"

    # --- internals

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _new_hash(self) -> str:
        return f"{int(self._clock())}.{self._rng.getrandbits(32):08x}"

    def _next_ts(self) -> str:
        micros = int(self._clock() * 1_000_000)
        if micros <= self._last_ts_micros:
            micros = self._last_ts_micros + 100
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _random_id(self, length: int) -> str:
        return "".join(self._rng.choice(_ID_ALPHABET) for _ in range(length))

    def _fill_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks, giving ids to blocks/elements without one, as Slack does."""
        filled = copy.deepcopy(blocks)
        for block in filled:
            if not isinstance(block, dict):
                continue
            if block.get("type") != "rich_text" and "block_id" not in block:
                block["block_id"] = self._random_id(5)
            elements: list[Any] = []
            if block.get("type") == "actions" and isinstance(block.get("elements"), list):
                elements.extend(block["elements"])
            for key in ("accessory", "element"):
                if key in block:
                    elements.append(block[key])
            for element in elements:
                if (
                    isinstance(element, dict)
                    and element.get("type") not in (None, "image", "plain_text", "mrkdwn")
                    and "action_id" not in element
                ):
                    element["action_id"] = self._random_id(4)
        return filled

    def _lookup_channel_id(self, ref: str) -> str | None:
        if ref in self._channels:
            return ref
        if ref in self._dms:
            return self._dms[ref]
        name = ref.lstrip("#")
        for channel in self._channels.values():
            if channel.name == name and not channel.is_im:
                return channel.id
        return None

    def _open_dm(self, user_id: str) -> tuple[Channel, bool]:
        existing = self._dms.get(user_id)
        if existing is not None:
            return self._channels[existing], True
        channel = Channel(
            id=self._new_id("D"),
            name=user_id,
            members=(user_id, self.bot_user_id),
            is_im=True,
            is_private=True,
            user=user_id,
            created=int(self._clock()),
        )
        self._channels[channel.id] = channel
        self._messages[channel.id] = {}
        self._dms[user_id] = channel.id
        return channel, False

    def _resolve_channel(self, ref: Any, *, open_dm: bool) -> Channel:
        if not isinstance(ref, str) or not ref.strip():
            raise SlackApiFailure("channel_not_found")
        ref = ref.strip()
        if ref in self._channels:
            return self._channels[ref]
        if ref[0] in "UW" and open_dm:
            user = self._users.get(ref)
            if user is not None and not user.deleted:
                return self._open_dm(ref)[0]
            raise SlackApiFailure("channel_not_found")
        name = ref.lstrip("#")
        for channel in self._channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        raise SlackApiFailure("channel_not_found")

    def _content(
        self, args: Mapping[str, Any], *, require: bool
    ) -> tuple[str | None, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
        text_arg = args.get("text")
        markdown = args.get("markdown_text")
        if markdown is not None:
            if text_arg or args.get("blocks"):
                raise SlackApiFailure("markdown_text_conflict")
            text_arg = markdown
        text = None if text_arg is None else str(text_arg)
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            raise SlackApiFailure("invalid_blocks_format", "[ERROR] blocks must be a JSON array")
        if blocks is not None:
            problems = validate_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT)
            if problems:
                raise SlackApiFailure("invalid_blocks", *(f"[ERROR] {p}" for p in problems), errors=problems)
        attachments = args.get("attachments")
        if isinstance(attachments, str) or (attachments is not None and not isinstance(attachments, list)):
            raise SlackApiFailure("invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise SlackApiFailure("no_text")
        if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
            raise SlackApiFailure("msg_too_long")
        return text, blocks, attachments

    def _store_new_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None,
        bot: bool,
        attachments: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> Message:
        ts = self._next_ts()
        filled = self._fill_ids(blocks)
        history = self._messages.setdefault(channel_id, {})
        if thread_ts is not None and thread_ts in history:
            parent = history[thread_ts]
            history[thread_ts] = replace(parent, thread_ts=thread_ts, reply_count=parent.reply_count + 1)
        message = Message(
            channel=channel_id,
            ts=ts,
            user=user_id,
            text=text,
            blocks=filled,
            thread_ts=thread_ts,
            bot_id=self.bot_id if bot else None,
            app_id=self.app_id if bot else None,
            team=self.team_id,
            attachments=list(attachments or []),
            metadata=metadata,
            files=list(files or []),
            versions=(MessageVersion(text=text, blocks=filled, at=self._clock()),),
        )
        history[ts] = message
        return message

    def _revise(
        self, message: Message, text: str | None, blocks: list[dict[str, Any]] | None, *, mark_edited: bool
    ) -> Message:
        new_text = text if text is not None else message.text
        new_blocks = self._fill_ids(blocks) if blocks is not None else message.blocks
        now = self._clock()
        return replace(
            message,
            text=new_text,
            blocks=new_blocks,
            updates=message.updates + 1,
            edited_ts=f"{now:.6f}" if mark_edited else message.edited_ts,
            versions=(*message.versions, MessageVersion(text=new_text, blocks=new_blocks, at=now)),
        )

    def _add_ephemeral(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None,
        via: str,
    ) -> Ephemeral:
        ephemeral = Ephemeral(
            channel=channel_id,
            user=user_id,
            message_ts=self._next_ts(),
            text=text,
            blocks=self._fill_ids(blocks),
            thread_ts=thread_ts,
            via=via,
        )
        self._ephemerals.setdefault(user_id, []).append(ephemeral)
        return ephemeral

    def _message_in(self, channel: Channel, ts: Any) -> Message:
        message = self._messages.get(channel.id, {}).get(str(ts)) if ts else None
        if message is None:
            raise SlackApiFailure("message_not_found")
        return message

    def _view_arg(self, args: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackApiFailure("invalid_arguments", "[ERROR] failed to parse view: must be a JSON object")
        problems = validate_view(view, allowed_types=allowed)
        if problems:
            if any("view is too large" in p for p in problems):
                raise SlackApiFailure("view_too_large")
            raise SlackApiFailure("invalid_arguments", *(f"[ERROR] {p}" for p in problems))
        return view

    def _check_trigger(self, args: Mapping[str, Any]) -> _Trigger:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not isinstance(trigger_id, str) or not trigger_id:
            raise SlackApiFailure("invalid_arguments", "[ERROR] missing required field: trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        if self._clock() - trigger.issued_at > self.trigger_ttl:
            raise SlackApiFailure("expired_trigger_id")
        return trigger

    def _check_external_id(self, spec: Mapping[str, Any], own_view_id: str | None = None) -> str | None:
        external_id = spec.get("external_id") or None
        if external_id is None:
            return None
        holder = self._external_ids.get(str(external_id))
        if holder is not None and holder != own_view_id:
            raise SlackApiFailure("duplicate_external_id")
        return str(external_id)

    def _build_view(
        self,
        spec: Mapping[str, Any],
        *,
        view_id: str,
        root_view_id: str,
        previous_view_id: str | None,
        values: Mapping[str, Any],
    ) -> dict[str, Any]:
        kind = spec["type"]
        blocks = self._fill_ids(list(spec.get("blocks", [])))
        block_ids = {b.get("block_id") for b in blocks if isinstance(b, dict)}
        kept = {k: v for k, v in values.items() if k in block_ids}
        view: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": kind,
            "blocks": blocks,
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "state": {"values": copy.deepcopy(kept)},
            "hash": self._new_hash(),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        if kind == "modal":
            view["title"] = copy.deepcopy(spec.get("title"))
            view["submit_disabled"] = bool(spec.get("submit_disabled", False))
        if view["external_id"]:
            self._external_ids[view["external_id"]] = view_id
        return view

    def _forget_view(self, view_id: str) -> None:
        view = self._views.pop(view_id, None)
        self._view_owner.pop(view_id, None)
        self._view_errors.pop(view_id, None)
        if view is not None and view.get("external_id"):
            self._external_ids.pop(view["external_id"], None)

    # --- methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self._users[self.bot_user_id].name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), open_dm=True)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if not (channel.is_im or channel.is_mpim or channel.bot_is_member):
            raise SlackApiFailure("not_in_channel")
        text, blocks, attachments = self._content(args, require=True)
        metadata = args.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise SlackApiFailure("invalid_metadata_format")
        message = self._store_new_message(
            channel.id,
            self.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=_opt_str(args.get("thread_ts")),
            bot=True,
            attachments=attachments,
            metadata=metadata,
        )
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_slack()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), open_dm=False)
        message = self._message_in(channel, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        text, blocks, attachments = self._content(args, require=False)
        if text is None and blocks is None and attachments is None and not args.get("file_ids"):
            raise SlackApiFailure("no_text")
        revised = self._revise(message, text, blocks, mark_edited=True)
        if attachments is not None:
            revised = replace(revised, attachments=list(attachments))
        if isinstance(args.get("metadata"), dict):
            revised = replace(revised, metadata=args["metadata"] or None)
        self._messages[channel.id][message.ts] = revised
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": revised.text,
            "message": revised.to_slack(),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), open_dm=True)
        user_id = str(args.get("user"))
        user = self._users.get(user_id)
        if user is None or user.deleted:
            raise SlackApiFailure("user_not_in_channel")
        if channel.is_im and channel.user != user_id:
            raise SlackApiFailure("user_not_in_channel")
        if channel.members and user_id not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks, _attachments = self._content(args, require=True)
        ephemeral = self._add_ephemeral(
            channel.id,
            user_id,
            text or "",
            blocks or [],
            thread_ts=_opt_str(args.get("thread_ts")),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": ephemeral.message_ts}

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), open_dm=False)
        message = self._message_in(channel, args.get("ts"))
        if message.user != self.bot_user_id:
            raise SlackApiFailure("cant_delete_message")
        del self._messages[channel.id][message.ts]
        self._deleted.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(args.get("channel"), open_dm=False)
        message = self._message_in(channel, args.get("message_ts"))
        link = f"https://{self.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return_im = _flag(args.get("return_im"))
        existing_id = _opt_str(args.get("channel"))
        if existing_id is not None:
            channel = self._channels.get(existing_id)
            if channel is None or not (channel.is_im or channel.is_mpim):
                raise SlackApiFailure("channel_not_found")
            return self._open_response(channel, already_open=True, full=return_im)
        users_arg = _opt_str(args.get("users"))
        if users_arg is None:
            raise SlackApiFailure("users_list_not_supplied")
        ids = [u.strip() for u in users_arg.split(",") if u.strip() and u.strip() != self.bot_user_id]
        if not ids:
            raise SlackApiFailure("not_enough_users")
        if len(ids) > 8:
            raise SlackApiFailure("too_many_users")
        for user_id in ids:
            user = self._users.get(user_id)
            if user is None:
                raise SlackApiFailure("user_not_found")
            if user.deleted:
                raise SlackApiFailure("user_disabled")
        prevent = _flag(args.get("prevent_creation"))
        if len(ids) == 1:
            if prevent and ids[0] not in self._dms:
                raise SlackApiFailure("channel_not_found")
            channel, already = self._open_dm(ids[0])
            return self._open_response(channel, already_open=already, full=return_im)
        key = frozenset(ids)
        mpim_id = self._mpims.get(key)
        if mpim_id is not None:
            return self._open_response(self._channels[mpim_id], already_open=True, full=return_im)
        if prevent:
            raise SlackApiFailure("channel_not_found")
        channel = Channel(
            id=self._new_id("G"),
            name="mpdm-" + "--".join(self._users[u].name for u in ids) + "-1",
            members=(*ids, self.bot_user_id),
            is_mpim=True,
            is_private=True,
            created=int(self._clock()),
        )
        self._channels[channel.id] = channel
        self._messages[channel.id] = {}
        self._mpims[key] = channel.id
        return self._open_response(channel, already_open=False, full=return_im)

    def _open_response(self, channel: Channel, *, already_open: bool, full: bool) -> dict[str, Any]:
        response: dict[str, Any] = {"ok": True}
        if already_open:
            response["no_op"] = True
            response["already_open"] = True
        response["channel"] = channel.to_slack(self.team_id) if full else {"id": channel.id}
        return response

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(args.get("channel"))
        channel = self._channels.get(channel_id)
        if channel is None:
            raise SlackApiFailure("channel_not_found")
        info = channel.to_slack(self.team_id)
        if _flag(args.get("include_num_members")):
            info["num_members"] = len(channel.members)
        return {"ok": True, "channel": info}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(args.get("user")))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"ok": True, "user": user.to_slack()}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).strip().lower()
        for user in self._users.values():
            if user.email is not None and user.email.lower() == email:
                return {"ok": True, "user": user.to_slack()}
        raise SlackApiFailure("users_not_found")

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self._usergroups.get(str(args.get("usergroup")))
        if group is None:
            raise SlackApiFailure("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def _usergroups_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's usergroups.list (not in the reference files): every group, with members when asked."""
        include_users = _flag(args.get("include_users"))
        groups = []
        for group in self._usergroups.values():
            entry: dict[str, Any] = {
                "id": group.id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": group.name or group.handle,
                "handle": group.handle,
                "date_delete": 0,
                "user_count": len(group.users),
            }
            if include_users:
                entry["users"] = list(group.users)
            groups.append(entry)
        return {"ok": True, "usergroups": groups}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._view_arg(args, ("modal",))
        trigger = self._check_trigger(args)
        self._check_external_id(spec)
        trigger.used = True
        user_id = trigger.user_id or ""
        self.close_view(user_id, clear=True)
        view_id = self._new_id("V")
        view = self._build_view(spec, view_id=view_id, root_view_id=view_id, previous_view_id=None, values={})
        self._views[view_id] = view
        self._view_owner[view_id] = user_id
        self._view_stacks[user_id] = [view_id]
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        spec = self._view_arg(args, ("modal",))
        trigger = self._check_trigger(args)
        user_id = trigger.user_id or ""
        stack = self._view_stacks.get(user_id, [])
        if not stack:
            raise SlackApiFailure("not_found")
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackApiFailure("push_limit_reached")
        self._check_external_id(spec)
        trigger.used = True
        view_id = self._new_id("V")
        view = self._build_view(spec, view_id=view_id, root_view_id=stack[0], previous_view_id=stack[-1], values={})
        self._views[view_id] = view
        self._view_owner[view_id] = user_id
        stack.append(view_id)
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = _opt_str(args.get("view_id"))
        external_id = _opt_str(args.get("external_id"))
        if view_id is None and external_id is None:
            raise SlackApiFailure("invalid_arguments", "[ERROR] either view_id or external_id is required")
        if view_id is None and external_id is not None:
            view_id = self._external_ids.get(external_id)
        current = self._views.get(view_id or "")
        if view_id is None or current is None:
            raise SlackApiFailure("not_found")
        spec = self._view_arg(args, (str(current["type"]),))
        expected_hash = _opt_str(args.get("hash"))
        if expected_hash is not None and expected_hash != current["hash"]:
            raise SlackApiFailure("hash_conflict")
        self._check_external_id(spec, own_view_id=view_id)
        if current.get("external_id"):
            self._external_ids.pop(current["external_id"], None)
        view = self._build_view(
            spec,
            view_id=view_id,
            root_view_id=current["root_view_id"],
            previous_view_id=current.get("previous_view_id"),
            values=current["state"]["values"],
        )
        self._views[view_id] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id"))
        if user_id not in self._users:
            raise SlackApiFailure("invalid_arguments", "invalid `user_id`")
        spec = self._view_arg(args, ("home",))
        existing_id = self._homes.get(user_id)
        existing = self._views.get(existing_id) if existing_id else None
        expected_hash = _opt_str(args.get("hash"))
        if expected_hash is not None and (existing is None or expected_hash != existing["hash"]):
            raise SlackApiFailure("hash_conflict")
        view_id = existing_id or self._new_id("V")
        self._check_external_id(spec, own_view_id=view_id)
        if existing is not None and existing.get("external_id"):
            self._external_ids.pop(existing["external_id"], None)
        view = self._build_view(
            spec,
            view_id=view_id,
            root_view_id=view_id,
            previous_view_id=None,
            values=existing["state"]["values"] if existing else {},
        )
        self._views[view_id] = view
        self._view_owner[view_id] = user_id
        self._homes[user_id] = view_id
        return {"ok": True, "view": copy.deepcopy(view)}

    def _files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _opt_str(args.get("filename"))
        if filename is None:
            raise SlackApiFailure("missing_argument", "[ERROR] missing required field: filename")
        try:
            length = int(str(args.get("length")))
        except ValueError as exc:
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be an integer") from exc
        if length < 0:
            raise SlackApiFailure("invalid_arguments", "[ERROR] length must be positive")
        file_id = self._new_id("F")
        self._files[file_id] = UploadedFile(
            id=file_id,
            filename=filename,
            length=length,
            title=filename,
            user=self.bot_user_id,
            created=int(self._clock()),
            alt_txt=_opt_str(args.get("alt_txt")),
            snippet_type=_opt_str(args.get("snippet_type")),
        )
        return {"ok": True, "upload_url": f"{self.base_url}upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise SlackApiFailure("invalid_arguments", "[ERROR] files must be a JSON array of {id, title}")
        chosen: list[tuple[UploadedFile, str]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise SlackApiFailure("invalid_arguments", "[ERROR] each file needs an id")
            upload = self._files.get(item["id"])
            if upload is None or upload.content is None or upload.completed:
                raise SlackApiFailure("file_not_found")
            chosen.append((upload, str(item.get("title") or upload.filename)))
        targets: list[str] = []
        if args.get("channel_id"):
            targets.append(str(args["channel_id"]))
        if args.get("channels"):
            targets.extend(c.strip() for c in str(args["channels"]).split(",") if c.strip())
        channels = [self._resolve_channel(target, open_dm=True) for target in targets]
        thread_ts = _opt_str(args.get("thread_ts"))
        if thread_ts is not None and len(channels) != 1:
            raise SlackApiFailure("invalid_arguments", "[ERROR] thread_ts requires exactly one channel")
        completed: list[UploadedFile] = []
        for upload, title in chosen:
            done = replace(upload, title=title, completed=True, channels=tuple(c.id for c in channels))
            self._files[upload.id] = done
            completed.append(done)
        comment = _opt_str(args.get("initial_comment")) or ""
        for channel in channels:
            self._store_new_message(
                channel.id,
                self.bot_user_id,
                comment,
                [],
                thread_ts=thread_ts,
                bot=True,
                files=[f.to_slack(self.team_domain) for f in completed],
            )
        return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in completed]}
