"""conversations.*: opening DMs and group DMs, and conversation details."""

from __future__ import annotations

from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, flag, optional_text
from bot.emulator.workspace import Channel, Workspace

__all__ = ["ConversationMethods"]


class ConversationMethods:
    """Conversations as conversations.* opens and describes them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, Handler]:
        """The Web API methods this family answers, by name."""
        return {
            "conversations.open": self.open,
            "conversations.info": self.info,
        }

    def open(self, args: dict[str, Any]) -> dict[str, Any]:
        return_im = flag(args.get("return_im"))
        existing_id = optional_text(args.get("channel"))
        if existing_id is not None:
            channel = self._workspace.channels_by_id.get(existing_id)
            if channel is None or not (channel.is_im or channel.is_mpim):
                raise SlackApiFailure("channel_not_found")
            return self._open_response(channel, already_open=True, full=return_im)
        users_arg = optional_text(args.get("users"))
        if users_arg is None:
            raise SlackApiFailure("users_list_not_supplied")
        ids = [u.strip() for u in users_arg.split(",") if u.strip() and u.strip() != self._workspace.bot_user_id]
        if not ids:
            raise SlackApiFailure("not_enough_users")
        if len(ids) > 8:
            raise SlackApiFailure("too_many_users")
        for user_id in ids:
            user = self._workspace.users_by_id.get(user_id)
            if user is None:
                raise SlackApiFailure("user_not_found")
            if user.deleted:
                raise SlackApiFailure("user_disabled")
        prevent = flag(args.get("prevent_creation"))
        if len(ids) == 1:
            if prevent and ids[0] not in self._workspace.dm_by_user:
                raise SlackApiFailure("channel_not_found")
            channel, already = self._workspace.open_dm(ids[0])
            return self._open_response(channel, already_open=already, full=return_im)
        key = frozenset(ids)
        mpim_id = self._workspace.mpim_by_members.get(key)
        if mpim_id is not None:
            return self._open_response(self._workspace.channels_by_id[mpim_id], already_open=True, full=return_im)
        if prevent:
            raise SlackApiFailure("channel_not_found")
        channel = Channel(
            id=self._workspace.new_id("G"),
            name="mpdm-" + "--".join(self._workspace.users_by_id[u].name for u in ids) + "-1",
            members=(*ids, self._workspace.bot_user_id),
            is_mpim=True,
            is_private=True,
            created=int(self._workspace.clock()),
        )
        self._workspace.channels_by_id[channel.id] = channel
        self._workspace.history[channel.id] = {}
        self._workspace.mpim_by_members[key] = channel.id
        return self._open_response(channel, already_open=False, full=return_im)

    def _open_response(self, channel: Channel, *, already_open: bool, full: bool) -> dict[str, Any]:
        response: dict[str, Any] = {"ok": True}
        if already_open:
            response["no_op"] = True
            response["already_open"] = True
        response["channel"] = channel.to_slack(self._workspace.team_id) if full else {"id": channel.id}
        return response

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(args.get("channel"))
        channel = self._workspace.channels_by_id.get(channel_id)
        if channel is None:
            raise SlackApiFailure("channel_not_found")
        info = channel.to_slack(self._workspace.team_id)
        if flag(args.get("include_num_members")):
            info["num_members"] = len(channel.members)
        return {"ok": True, "channel": info}
