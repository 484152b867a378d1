"""users.*, usergroups.* and auth.test: who is who in the workspace, the bot included."""

from __future__ import annotations

from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, flag
from bot.emulator.workspace import Workspace

__all__ = ["UserMethods"]


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
