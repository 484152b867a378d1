"""users.*, usergroups.* and auth.test: who is who in the workspace, the bot included."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, flag
from bot.emulator.workspace import Workspace

__all__ = ["USER_TIERS", "UserMethods"]

# Tiers of the methods here that the reference files do not describe (Slack's method pages give them).
USER_TIERS = {"users.list": "t2", "team.profile.get": "t3", "users.profile.get": "t4"}
_MOST_A_PAGE = 1000  # users.list: "we recommend no more than 200 results at a time", and never more than 1,000
_LIMIT_REQUIRED_ABOVE = 1000  # "for large teams a limit is required"


class UserMethods:
    """People, user groups and the bot itself, as Slack describes them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, Handler]:
        """The Web API methods this family answers, by name."""
        return {
            "auth.test": self.auth_test,
            "users.info": self.info,
            "users.lookupByEmail": self.lookup_by_email,
            "users.list": self.list_members,
            "users.profile.get": self.profile,
            "team.profile.get": self.team_profile,
            "usergroups.users.list": self.usergroup_members,
            "usergroups.list": self.usergroups,
        }

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self._workspace.team_domain}.slack.com/",
            "team": self._workspace.team_name,
            "user": self._workspace.users_by_id[self._workspace.bot_user_id].name,
            "team_id": self._workspace.team_id,
            "user_id": self._workspace.bot_user_id,
            "bot_id": self._workspace.bot_id,
            "is_enterprise_install": False,
        }

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._workspace.users_by_id.get(str(args.get("user")))
        if user is None:
            raise SlackApiFailure("user_not_found")
        return {"ok": True, "user": user.to_slack()}

    def list_members(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every member, deactivated ones and bots included, a page at a time behind an opaque cursor."""
        members = list(self._workspace.users_by_id.values())
        limit = int(args.get("limit") or 0)
        if limit < 0:
            raise SlackApiFailure("invalid_limit")
        if limit == 0 and len(members) > _LIMIT_REQUIRED_ABOVE:
            raise SlackApiFailure("limit_required")
        size = min(limit or len(members), _MOST_A_PAGE)
        start = _position(str(args.get("cursor") or ""))
        if start > len(members):
            raise SlackApiFailure("invalid_cursor")
        page = members[start : start + size]
        following = start + size
        next_cursor = _cursor(following) if following < len(members) else ""
        return {
            "ok": True,
            "members": [member.to_slack() for member in page],
            "cache_ts": int(self._workspace.clock()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def profile(self, args: dict[str, Any]) -> dict[str, Any]:
        """users.profile.get: the profile with custom field values (`fields`: id → value and alt)."""
        user_id = str(args.get("user") or "")
        user = self._workspace.users_by_id.get(user_id)
        if user is None:
            raise SlackApiFailure("user_not_found")
        profile = dict(user.to_slack()["profile"])
        profile["fields"] = {field_id: {"value": value, "alt": ""} for field_id, value in user.fields}
        return {"ok": True, "profile": profile}

    def team_profile(self, args: dict[str, Any]) -> dict[str, Any]:
        """team.profile.get: the workspace's custom profile fields."""
        return {"ok": True, "profile": {"fields": [field.to_slack() for field in self._workspace.profile_fields]}}

    def lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).strip().lower()
        for user in self._workspace.users_by_id.values():
            if user.email is not None and user.email.lower() == email:
                return {"ok": True, "user": user.to_slack()}
        raise SlackApiFailure("users_not_found")

    def usergroup_members(self, args: dict[str, Any]) -> dict[str, Any]:
        group = self._workspace.usergroups_by_id.get(str(args.get("usergroup")))
        if group is None:
            raise SlackApiFailure("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def usergroups(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's usergroups.list (not in the reference files): every group, with members when asked."""
        include_users = flag(args.get("include_users"))
        groups = []
        for group in self._workspace.usergroups_by_id.values():
            entry: dict[str, Any] = {
                "id": group.id,
                "team_id": self._workspace.team_id,
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


def _cursor(position: int) -> str:
    return base64.b64encode(f"user:{position}".encode()).decode()


def _position(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        kind, _, number = base64.b64decode(cursor, validate=True).decode().partition(":")
        if kind != "user" or not number.isdigit():
            raise ValueError(cursor)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SlackApiFailure("invalid_cursor") from None
