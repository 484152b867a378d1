"""The interactions a person makes in Slack, played towards Baton: commands, clicks, modals and shortcuts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from bot.emulator import payloads
from bot.emulator.web_api import Ephemeral, Message, find_action

from .driver_base import FORM, NO_RESPONSE_URL, DriverBase, MessageLike, Response

__all__ = ["Interactions"]


class Interactions(DriverBase):
    """Slash commands, block actions, view submissions and closings, global and message shortcuts."""

    async def send_command(
        self, user_id: str, text: str, *, command: str = "/workflow", channel_id: str = "C0GENERAL"
    ) -> Response:
        """A user runs ``/command text`` in ``channel_id``."""
        response_url = (
            self.emulator.issue_response_url(user_id=user_id, channel_id=channel_id)
            if self.emulator is not None
            else NO_RESPONSE_URL
        )
        fields = payloads.slash_command(
            command=command,
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            trigger_id=self.mint_trigger_id(user_id),
            response_url=response_url,
            user_name=self._user_name(user_id),
            channel_name=self._channel_name(channel_id),
            **self._context(),
        )
        return await self._send("command", fields, urlencode(fields), FORM)

    async def click(
        self,
        user_id: str,
        *,
        action_id: str,
        value: Any = None,
        message: MessageLike | None = None,
        channel_id: str | None = None,
        block_id: str | None = None,
        view: Mapping[str, Any] | None = None,
        action: Mapping[str, Any] | None = None,
        action_type: str = "button",
    ) -> Response:
        """A user uses an element in a message (``message``/``channel_id``) or in a view (``view``)."""
        is_ephemeral = isinstance(message, Ephemeral)
        message_dict: dict[str, Any] | None = None
        message_ts: str | None = None
        if isinstance(message, Message):
            message_dict, message_ts = message.to_slack(), message.ts
            channel_id = channel_id or message.channel
        elif isinstance(message, Ephemeral):
            bot_id = self.emulator.bot_id if self.emulator is not None else "B0BATONBOT"
            message_dict, message_ts = message.to_slack(bot_id, self.api_app_id), message.message_ts
            channel_id = channel_id or message.channel
        elif message is not None:
            message_dict = dict(message)
            message_ts = str(message_dict["ts"]) if "ts" in message_dict else None
            channel_id = channel_id or message_dict.get("channel")
        if view is not None:
            view = self._view_dict(view)
        response_url: str | None = None
        if view is None and channel_id is not None and self.emulator is not None:
            response_url = self.emulator.issue_response_url(
                user_id=user_id, channel_id=channel_id, message_ts=message_ts, ephemeral=is_ephemeral
            )
        elif view is None:
            response_url = NO_RESPONSE_URL
        payload = payloads.block_actions(
            user_id=user_id,
            action_id=action_id,
            value=value,
            trigger_id=self.mint_trigger_id(user_id),
            block_id=block_id,
            channel_id=channel_id,
            message_ts=message_ts,
            message=message_dict,
            view=view,
            action=action,
            action_type=action_type,
            response_url=response_url,
            is_ephemeral=is_ephemeral,
            user_name=self._user_name(user_id),
            channel_name=self._channel_name(channel_id) if channel_id else None,
            **self._context(),
        )
        return await self.send_interaction(payload)

    async def click_button_in(self, message: MessageLike, user_id: str, action_id: str) -> Response:
        """Click the button ``action_id`` of ``message`` (or of a view dict), sending its real value."""
        blocks = _blocks_of(message)
        found = find_action(blocks, action_id)
        if found is None:
            available = _action_ids(blocks)
            raise LookupError(f"no element with action_id {action_id!r} in the message; it has {available}")
        block_id, element = found
        if isinstance(message, Mapping) and message.get("type") in ("modal", "home"):
            return await self.click(
                user_id, action_id=action_id, value=element.get("value"), block_id=block_id, view=message
            )
        return await self.click(
            user_id, action_id=action_id, value=element.get("value"), block_id=block_id, message=message
        )

    async def submit_view(
        self,
        user_id: str,
        view: Mapping[str, Any] | str,
        values: Mapping[str, Mapping[str, Mapping[str, Any]]],
    ) -> Response:
        """The user submits ``view`` (dict or view id) with ``values``; the emulator's modal stack follows
        Baton's answer (close, ``errors``, ``update``, ``push``, ``clear``)."""
        view_dict = self._view_dict(view)
        view_id = str(view_dict.get("id", ""))
        if self.emulator is not None and self.emulator.view(view_id) is not None:
            self.emulator.set_view_state(view_id, values)
        payload = payloads.view_submission(
            user_id=user_id,
            view=view_dict,
            values=values,
            trigger_id=self.mint_trigger_id(user_id),
            user_name=self._user_name(user_id),
            **self._context(),
        )
        response = await self.send_interaction(payload)
        if self.emulator is not None and response.status == 200 and self.emulator.view(view_id) is not None:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            self.emulator.apply_view_submission_response(
                user_id, view_id, answer if isinstance(answer, Mapping) else None
            )
        return response

    async def close_view(
        self, user_id: str, view: Mapping[str, Any] | str, *, is_cleared: bool = False
    ) -> Response | None:
        """The user closes ``view``; Baton is told (``view_closed``) only if the view asked for it."""
        view_dict = self._view_dict(view)
        if self.emulator is not None:
            self.emulator.close_view(user_id, str(view_dict.get("id", "")), clear=is_cleared)
        if not view_dict.get("notify_on_close"):
            return None
        payload = payloads.view_closed(
            user_id=user_id,
            view=view_dict,
            is_cleared=is_cleared,
            user_name=self._user_name(user_id),
            **self._context(),
        )
        return await self.send_interaction(payload)

    async def shortcut(self, user_id: str, callback_id: str) -> Response:
        """The user picks a global shortcut of the app."""
        payload = payloads.global_shortcut(
            user_id=user_id, callback_id=callback_id, trigger_id=self.mint_trigger_id(user_id), team_id=self.team_id
        )
        return await self.send_interaction(payload)

    async def message_shortcut(self, user_id: str, callback_id: str, message: Message) -> Response:
        """The user picks a message shortcut on ``message``."""
        response_url = (
            self.emulator.issue_response_url(user_id=user_id, channel_id=message.channel)
            if self.emulator is not None
            else NO_RESPONSE_URL
        )
        payload = payloads.message_shortcut(
            user_id=user_id,
            callback_id=callback_id,
            trigger_id=self.mint_trigger_id(user_id),
            channel_id=message.channel,
            message=message.to_slack(),
            response_url=response_url,
            team_id=self.team_id,
        )
        return await self.send_interaction(payload)


def _blocks_of(message: MessageLike) -> list[Any]:
    if isinstance(message, Message | Ephemeral):
        return list(message.blocks)
    blocks = message.get("blocks")
    return list(blocks) if isinstance(blocks, list) else []


def _action_ids(blocks: list[Any]) -> list[str]:
    found: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements += [block[k] for k in ("accessory", "element") if k in block]
        found.extend(str(e["action_id"]) for e in elements if isinstance(e, dict) and "action_id" in e)
    return found
