"""chat.*: posting, updating, deleting messages, ephemerals and permalinks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.emulator.arguments import Handler, SlackApiFailure, optional_text
from bot.emulator.blocks import MESSAGE_BLOCK_LIMIT, MESSAGE_TEXT_LIMIT, validate_blocks
from bot.emulator.workspace import Workspace

__all__ = ["ChatMethods"]


class ChatMethods:
    """Messages in conversations, as chat.* changes them."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def handlers(self) -> dict[str, Handler]:
        """The Web API methods this family answers, by name."""
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.delete": self.delete,
            "chat.getPermalink": self.get_permalink,
        }

    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._workspace.resolve_channel(args.get("channel"), open_dm=True)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if not (channel.is_im or channel.is_mpim or channel.bot_is_member):
            raise SlackApiFailure("not_in_channel")
        text, blocks, attachments = self._content(args, require=True)
        metadata = args.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise SlackApiFailure("invalid_metadata_format")
        message = self._workspace.store_new_message(
            channel.id,
            self._workspace.bot_user_id,
            text or "",
            blocks or [],
            thread_ts=optional_text(args.get("thread_ts")),
            bot=True,
            attachments=attachments,
            metadata=metadata,
        )
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_slack()}

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._workspace.resolve_channel(args.get("channel"), open_dm=False)
        message = self._workspace.message_in(channel, args.get("ts"))
        if message.user != self._workspace.bot_user_id:
            raise SlackApiFailure("cant_update_message")
        text, blocks, attachments = self._content(args, require=False)
        if text is None and blocks is None and attachments is None and not args.get("file_ids"):
            raise SlackApiFailure("no_text")
        revised = self._workspace.revise(message, text, blocks, mark_edited=True)
        if attachments is not None:
            revised = replace(revised, attachments=list(attachments))
        if isinstance(args.get("metadata"), dict):
            revised = replace(revised, metadata=args["metadata"] or None)
        self._workspace.history[channel.id][message.ts] = revised
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": revised.text,
            "message": revised.to_slack(),
        }

    def post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._workspace.resolve_channel(args.get("channel"), open_dm=True)
        user_id = str(args.get("user"))
        user = self._workspace.users_by_id.get(user_id)
        if user is None or user.deleted:
            raise SlackApiFailure("user_not_in_channel")
        if channel.is_im and channel.user != user_id:
            raise SlackApiFailure("user_not_in_channel")
        if channel.members and user_id not in channel.members:
            raise SlackApiFailure("user_not_in_channel")
        text, blocks, _attachments = self._content(args, require=True)
        ephemeral = self._workspace.add_ephemeral(
            channel.id,
            user_id,
            text or "",
            blocks or [],
            thread_ts=optional_text(args.get("thread_ts")),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": ephemeral.message_ts}

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._workspace.resolve_channel(args.get("channel"), open_dm=False)
        message = self._workspace.message_in(channel, args.get("ts"))
        if message.user != self._workspace.bot_user_id:
            raise SlackApiFailure("cant_delete_message")
        del self._workspace.history[channel.id][message.ts]
        self._workspace.deleted.append(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._workspace.resolve_channel(args.get("channel"), open_dm=False)
        message = self._workspace.message_in(channel, args.get("message_ts"))
        link = f"https://{self._workspace.team_domain}.slack.com/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"ok": True, "channel": channel.id, "permalink": link}

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
