"""The emulator's state model: a Slack workspace's people, conversations, messages, views and files."""

from __future__ import annotations

import copy
import itertools
import random
import re
import string
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.emulator.arguments import SlackApiFailure

__all__ = [
    "TRIGGER_TTL_SECONDS",
    "Channel",
    "Ephemeral",
    "Message",
    "MessageVersion",
    "ProfileField",
    "Trigger",
    "UploadedFile",
    "User",
    "Usergroup",
    "Workspace",
]

TRIGGER_TTL_SECONDS: Final = 3.0

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
_ID_ALPHABET: Final = string.ascii_letters + string.digits


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
    title: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # custom profile fields: (field id, value), as users.profile.get has them

    def to_slack(self) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "avatar_hash": f"g{zlib.crc32(self.id.encode()):011x}",
            "status_text": "",
            "status_emoji": "",
            "real_name": self.real_name,
            "display_name": self.name,
            "real_name_normalized": self.real_name,
            "display_name_normalized": self.name,
            "title": self.title,
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
class ProfileField:
    """A custom profile field of the workspace, as team.profile.get lists it."""

    id: str
    label: str
    type: str = "text"
    ordering: int = 0

    def to_slack(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ordering": self.ordering,
            "label": self.label,
            "hint": "",
            "type": self.type,
            "possible_values": None,
            "options": None,
            "is_hidden": False,
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

    @property
    def slug(self) -> str:
        """The file name as Slack puts it in links: lower case, anything but letters, digits, `.`, `-` as `_`."""
        return re.sub(r"[^a-z0-9.\-]+", "_", self.filename.lower()) or "file"

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
            "url_private": f"https://files.slack.com/files-pri/{self.id}/{self.slug}",
            "permalink": f"https://{team_domain}.slack.com/files/{self.user}/{self.id}/{self.slug}",
            "channels": list(self.channels),
        }


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
class Trigger:
    """A trigger id handed out with an interaction: single use, valid for a few seconds."""

    issued_at: float
    user_id: str | None
    used: bool = False


class Workspace:
    """The state of a fake Slack workspace: people, conversations, messages, views, triggers and uploads."""

    def __init__(
        self,
        *,
        team_id: str,
        team_name: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        bot_name: str,
        trigger_ttl: float,
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.trigger_ttl = trigger_ttl
        self.clock = clock
        self.rng = random.Random(seed)
        self._ids = itertools.count(1)
        self._last_ts_micros = 0

        self.users_by_id: dict[str, User] = {}
        self.channels_by_id: dict[str, Channel] = {}
        self.usergroups_by_id: dict[str, Usergroup] = {}
        self.profile_fields: list[ProfileField] = []  # the workspace's custom profile fields (team.profile.get)
        self.history: dict[str, dict[str, Message]] = {}
        self.deleted: list[Message] = []
        self.dm_by_user: dict[str, str] = {}
        self.mpim_by_members: dict[frozenset[str], str] = {}
        self.ephemerals_by_user: dict[str, list[Ephemeral]] = {}
        self.views_by_id: dict[str, dict[str, Any]] = {}
        self.view_owner: dict[str, str] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.view_errors_by_id: dict[str, dict[str, str]] = {}
        self.home_by_user: dict[str, str] = {}
        self.view_by_external_id: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}
        self.uploads: dict[str, UploadedFile] = {}
        self.add_user(bot_user_id, name=bot_name, real_name="Baton", is_bot=True)

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
        title: str = "",
        fields: Mapping[str, str] | None = None,
    ) -> User:
        """Add (or replace) a workspace member; ``tz_label``/``tz_offset`` are derived from ``tz`` now; ``fields``
        are custom profile field values by field id (see `add_profile_field`)."""
        now = self.clock()
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
            title=title,
            fields=tuple((fields or {}).items()),
        )
        self.users_by_id[user_id] = user
        return user

    def deactivate_user(self, user_id: str) -> User:
        """Mark a member as deleted (deactivated), as when someone leaves the company."""
        user = replace(self.users_by_id[user_id], deleted=True, updated=int(self.clock()))
        self.users_by_id[user_id] = user
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
            created=int(self.clock()),
            bot_is_member=bot_is_member,
        )
        self.channels_by_id[channel_id] = channel
        self.history.setdefault(channel_id, {})
        return channel

    def change_user(self, user_id: str, **changes: Any) -> User:
        """An admin or the person edits the profile (``tz``, ``deleted``...): the user as ``user_change`` carries it."""
        user = self.users_by_id[user_id]
        if "tz" in changes:
            changes["tz_label"], changes["tz_offset"] = _tz_details(str(changes["tz"]), self.clock())
        changed = replace(user, **changes, updated=int(self.clock()))
        self.users_by_id[user_id] = changed
        return changed

    def add_profile_field(self, field_id: str, label: str, *, type: str = "user") -> ProfileField:
        """A custom profile field an admin added (Slack's "Manager" field is of type ``user``)."""
        added = ProfileField(id=field_id, label=label, type=type, ordering=len(self.profile_fields))
        self.profile_fields.append(added)
        return added

    def add_usergroup(self, group_id: str, handle: str, users: Iterable[str], *, name: str = "") -> Usergroup:
        group = Usergroup(id=group_id, handle=handle, users=tuple(users), name=name or handle)
        self.usergroups_by_id[group_id] = group
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
        target = self.resolve_channel(channel, open_dm=True)
        return self.store_new_message(
            target.id, user_id, text, blocks or [], thread_ts=thread_ts, bot=False, attachments=[]
        )

    # --- triggers

    def issue_trigger_id(self, user_id: str | None = None) -> str:
        """Mint a trigger id as Slack puts in interaction payloads (single use, valid for ``trigger_ttl``)."""
        now = self.clock()
        trigger = f"{int(now)}.{next(self._ids)}.{self.rng.getrandbits(128):032x}"
        self.triggers[trigger] = Trigger(issued_at=now, user_id=user_id)
        return trigger

    def user(self, user_id: str) -> User | None:
        return self.users_by_id.get(user_id)

    @property
    def users(self) -> list[User]:
        return list(self.users_by_id.values())

    def channel(self, channel_id: str) -> Channel | None:
        return self.channels_by_id.get(channel_id)

    @property
    def channels(self) -> list[Channel]:
        return list(self.channels_by_id.values())

    def usergroup(self, group_id: str) -> Usergroup | None:
        return self.usergroups_by_id.get(group_id)

    def messages(self, channel: str) -> list[Message]:
        """Current messages (top-level and replies, oldest first) of a channel id, ``#name`` or DM user id."""
        channel_id = self.lookup_channel_id(channel)
        if channel_id is None:
            return []
        return list(self.history.get(channel_id, {}).values())

    def message(self, channel: str, ts: str) -> Message | None:
        channel_id = self.lookup_channel_id(channel)
        return self.history.get(channel_id or "", {}).get(ts)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in a thread (the parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == thread_ts and m.ts != thread_ts]

    @property
    def deleted_messages(self) -> list[Message]:
        return list(self.deleted)

    def dm_channel(self, user_id: str) -> str | None:
        return self.dm_by_user.get(user_id)

    def dm_messages(self, user_id: str) -> list[Message]:
        channel_id = self.dm_by_user.get(user_id)
        return list(self.history.get(channel_id, {}).values()) if channel_id else []

    def ephemerals(self, user_id: str) -> list[Ephemeral]:
        return list(self.ephemerals_by_user.get(user_id, []))

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        view_id = self.home_by_user.get(user_id)
        return copy.deepcopy(self.views_by_id[view_id]) if view_id else None

    def open_views(self, user_id: str) -> list[dict[str, Any]]:
        """The user's modal stack, bottom (root) first; the last one is what the user sees."""
        return [copy.deepcopy(self.views_by_id[v]) for v in self.view_stacks.get(user_id, [])]

    def view(self, view_id: str) -> dict[str, Any] | None:
        view = self.views_by_id.get(view_id)
        return copy.deepcopy(view) if view is not None else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """Field errors the app returned (``response_action: errors``) for a view's last submission."""
        return dict(self.view_errors_by_id.get(view_id, {}))

    @property
    def files(self) -> list[UploadedFile]:
        """Completed uploads (``files.completeUploadExternal`` done), oldest first."""
        return [f for f in self.uploads.values() if f.completed]

    def file(self, file_id: str) -> UploadedFile | None:
        return self.uploads.get(file_id)

    def attach_file(self, user_id: str, filename: str, content: bytes = b"%PDF-1.4 receipt") -> dict[str, Any]:
        """A file ``user_id`` picks in a modal's ``file_input``: uploaded by them, shared nowhere yet, returned as
        the file object a ``view_submission`` carries for it."""
        if user_id not in self.users_by_id:
            raise KeyError(user_id)
        upload = UploadedFile(
            id=self.new_id("F"),
            filename=filename,
            length=len(content),
            title=filename,
            user=user_id,
            created=int(self.clock()),
            content=content,
            completed=True,
        )
        self.uploads[upload.id] = upload
        return upload.to_slack(self.team_domain)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able picture of the workspace, e.g. for a sandbox page."""
        snapshot = {
            "team": {"id": self.team_id, "name": self.team_name, "domain": self.team_domain},
            "users": [u.to_slack() for u in self.users_by_id.values()],
            "channels": [c.to_slack(self.team_id) | {"members": list(c.members)} for c in self.channels_by_id.values()],
            "messages": {cid: [m.to_slack() for m in msgs.values()] for cid, msgs in self.history.items()},
            "ephemerals": {
                uid: [e.to_slack(self.bot_id, self.app_id) | {"channel": e.channel} for e in items]
                for uid, items in self.ephemerals_by_user.items()
            },
            "homes": {uid: self.views_by_id[vid] for uid, vid in self.home_by_user.items()},
            "open_views": {uid: [self.views_by_id[v] for v in stack] for uid, stack in self.view_stacks.items()},
            "files": [f.to_slack(self.team_domain) for f in self.files],
        }
        return copy.deepcopy(snapshot)

    # --- view state

    def set_view_state(self, view_id: str, values: Mapping[str, Mapping[str, Any]]) -> None:
        """Record what the user entered in a view (``state.values``), as Slack does before a submission."""
        view = self.views_by_id.get(view_id)
        if view is None:
            raise KeyError(view_id)
        view["state"] = {"values": copy.deepcopy(dict(values))}

    def close_view(self, user_id: str, view_id: str | None = None, *, clear: bool = False) -> None:
        """The user closed the top modal (or ``view_id`` and those above it); ``clear`` closes them all."""
        stack = self.view_stacks.get(user_id, [])
        if clear or not stack:
            removed, stack[:] = list(stack), []
        else:
            index = stack.index(view_id) if view_id in stack else len(stack) - 1
            removed, stack[:] = stack[index:], stack[:index]
        for vid in removed:
            self.forget_view(vid)

    # --- primitives the method handlers share

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def new_hash(self) -> str:
        return f"{int(self.clock())}.{self.rng.getrandbits(32):08x}"

    def next_ts(self) -> str:
        micros = int(self.clock() * 1_000_000)
        if micros <= self._last_ts_micros:
            micros = self._last_ts_micros + 100
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def random_id(self, length: int) -> str:
        return "".join(self.rng.choice(_ID_ALPHABET) for _ in range(length))

    def fill_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Copy blocks, giving ids to blocks/elements without one, as Slack does."""
        filled = copy.deepcopy(blocks)
        for block in filled:
            if not isinstance(block, dict):
                continue
            if block.get("type") != "rich_text" and "block_id" not in block:
                block["block_id"] = self.random_id(5)
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
                    element["action_id"] = self.random_id(4)
        return filled

    def lookup_channel_id(self, ref: str) -> str | None:
        if ref in self.channels_by_id:
            return ref
        if ref in self.dm_by_user:
            return self.dm_by_user[ref]
        name = ref.lstrip("#")
        for channel in self.channels_by_id.values():
            if channel.name == name and not channel.is_im:
                return channel.id
        return None

    def open_dm(self, user_id: str) -> tuple[Channel, bool]:
        existing = self.dm_by_user.get(user_id)
        if existing is not None:
            return self.channels_by_id[existing], True
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            members=(user_id, self.bot_user_id),
            is_im=True,
            is_private=True,
            user=user_id,
            created=int(self.clock()),
        )
        self.channels_by_id[channel.id] = channel
        self.history[channel.id] = {}
        self.dm_by_user[user_id] = channel.id
        return channel, False

    def resolve_channel(self, ref: Any, *, open_dm: bool) -> Channel:
        if not isinstance(ref, str) or not ref.strip():
            raise SlackApiFailure("channel_not_found")
        ref = ref.strip()
        if ref in self.channels_by_id:
            return self.channels_by_id[ref]
        if ref[0] in "UW" and open_dm:
            user = self.users_by_id.get(ref)
            if user is not None and not user.deleted:
                return self.open_dm(ref)[0]
            raise SlackApiFailure("channel_not_found")
        name = ref.lstrip("#")
        for channel in self.channels_by_id.values():
            if channel.name == name and not channel.is_im:
                return channel
        raise SlackApiFailure("channel_not_found")

    def store_new_message(
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
        ts = self.next_ts()
        filled = self.fill_ids(blocks)
        history = self.history.setdefault(channel_id, {})
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
            versions=(MessageVersion(text=text, blocks=filled, at=self.clock()),),
        )
        history[ts] = message
        return message

    def revise(
        self, message: Message, text: str | None, blocks: list[dict[str, Any]] | None, *, mark_edited: bool
    ) -> Message:
        new_text = text if text is not None else message.text
        new_blocks = self.fill_ids(blocks) if blocks is not None else message.blocks
        now = self.clock()
        return replace(
            message,
            text=new_text,
            blocks=new_blocks,
            updates=message.updates + 1,
            edited_ts=f"{now:.6f}" if mark_edited else message.edited_ts,
            versions=(*message.versions, MessageVersion(text=new_text, blocks=new_blocks, at=now)),
        )

    def add_ephemeral(
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
            message_ts=self.next_ts(),
            text=text,
            blocks=self.fill_ids(blocks),
            thread_ts=thread_ts,
            via=via,
        )
        self.ephemerals_by_user.setdefault(user_id, []).append(ephemeral)
        return ephemeral

    def message_in(self, channel: Channel, ts: Any) -> Message:
        message = self.history.get(channel.id, {}).get(str(ts)) if ts else None
        if message is None:
            raise SlackApiFailure("message_not_found")
        return message

    def build_view(
        self,
        spec: Mapping[str, Any],
        *,
        view_id: str,
        root_view_id: str,
        previous_view_id: str | None,
        values: Mapping[str, Any],
    ) -> dict[str, Any]:
        kind = spec["type"]
        blocks = self.fill_ids(list(spec.get("blocks", [])))
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
            "hash": self.new_hash(),
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
            self.view_by_external_id[view["external_id"]] = view_id
        return view

    def forget_view(self, view_id: str) -> None:
        view = self.views_by_id.pop(view_id, None)
        self.view_owner.pop(view_id, None)
        self.view_errors_by_id.pop(view_id, None)
        if view is not None and view.get("external_id"):
            self.view_by_external_id.pop(view["external_id"], None)

    def next_number(self) -> int:
        """The next number of the workspace's one counter (ids, triggers and tokens share it, as in Slack)."""
        return next(self._ids)
