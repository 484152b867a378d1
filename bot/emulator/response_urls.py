"""``response_url``s handed out with interactions, and what the app's posts to them do."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from bot.emulator.arguments import flag, optional_text
from bot.emulator.blocks import MESSAGE_BLOCK_LIMIT, MESSAGE_TEXT_LIMIT, validate_blocks
from bot.emulator.records import ResponseUrlPost
from bot.emulator.workspace import Workspace

__all__ = ["RESPONSE_URL_MAX_USES", "RESPONSE_URL_TTL_SECONDS", "ResponseUrls"]

RESPONSE_URL_MAX_USES: Final = 5
RESPONSE_URL_TTL_SECONDS: Final = 30 * 60


@dataclass
class _ResponseUrl:
    channel_id: str | None
    user_id: str
    message_ts: str | None
    ephemeral: bool
    issued_at: float
    uses: int = 0


class ResponseUrls:
    """Mints ``response_url`` tokens tied to an interaction and applies what the app posts to them."""

    def __init__(self, workspace: Workspace, base_url: Callable[[], str]) -> None:
        self._workspace = workspace
        self._base_url = base_url
        self._issued: dict[str, _ResponseUrl] = {}
        self.posts: list[ResponseUrlPost] = []

    def issue(
        self,
        *,
        user_id: str,
        channel_id: str | None = None,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """Mint a ``response_url`` on this emulator, tied to the interaction's channel/message/user."""
        token = f"{self._workspace.next_number()}{self._workspace.rng.getrandbits(64):016x}"
        self._issued[token] = _ResponseUrl(
            channel_id=channel_id,
            user_id=user_id,
            message_ts=message_ts,
            ephemeral=ephemeral,
            issued_at=self._workspace.clock(),
        )
        return f"{self._base_url()}response/{token}"

    # --- faults

    def apply(self, token: str, payload: Any) -> tuple[int, str]:
        context = self._issued.get(token)
        now = self._workspace.clock()
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
        outcome = self._effect(context, payload, text, block_list)
        self.posts.append(
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

    def _effect(
        self, context: _ResponseUrl, payload: Mapping[str, Any], text: str, blocks: list[dict[str, Any]]
    ) -> str:
        channel_id, ts = context.channel_id, context.message_ts
        if flag(payload.get("delete_original")) and ts is not None:
            if context.ephemeral:
                items = self._workspace.ephemerals_by_user.get(context.user_id, [])
                items[:] = [e for e in items if e.message_ts != ts]
                return "delete_original"
            message = self._workspace.history.get(channel_id or "", {}).pop(ts, None)
            if message is not None:
                self._workspace.deleted.append(message)
            return "delete_original"
        if flag(payload.get("replace_original")) and ts is not None:
            if context.ephemeral:
                items = self._workspace.ephemerals_by_user.get(context.user_id, [])
                for i, item in enumerate(items):
                    if item.message_ts == ts:
                        items[i] = replace(
                            item, text=text, blocks=self._workspace.fill_ids(blocks), updates=item.updates + 1
                        )
                return "replace_original"
            message = self._workspace.history.get(channel_id or "", {}).get(ts)
            if message is not None:
                self._workspace.history[message.channel][ts] = self._workspace.revise(
                    message, text, blocks, mark_edited=False
                )
            return "replace_original"
        thread_ts = optional_text(payload.get("thread_ts"))
        if channel_id is None:
            return "ignored"
        if payload.get("response_type") == "in_channel":
            self._workspace.store_new_message(
                channel_id, self._workspace.bot_user_id, text, blocks, thread_ts=thread_ts, bot=True
            )
            return "in_channel"
        self._workspace.add_ephemeral(
            channel_id, context.user_id, text, blocks, thread_ts=thread_ts, via="response_url"
        )
        return "ephemeral"

    # --- internals
