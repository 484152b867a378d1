"""The Events API deliveries the driver plays towards Baton: events, messages, the Home tab, steps, URL checks."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from bot.emulator import payloads

from .driver_base import JSON, DriverBase, Response

__all__ = ["Events"]


class Events(DriverBase):
    """Signed ``event_callback`` deliveries (and their retries), the workspace changes behind some of them (a
    profile edit, a channel lost, a token revoked), and the URL verification handshake."""

    async def send_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> Response:
        """Deliver an Events API event (wrapped in ``event_callback``); ``retry_num`` marks a redelivery."""
        envelope = payloads.event_callback(
            event,
            event_id=event_id,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
            token=self.verification_token,
            bot_user_id=self.bot_user_id,
            event_time=int(self._clock()),
        )
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        return await self._send("event", envelope, json.dumps(envelope), JSON, headers=headers)

    async def change_user(self, user_id: str, **changes: Any) -> Response:
        """A profile edit in Slack (``tz=...``, ``deleted=True`` for a deactivation): stored, then ``user_change``."""
        if self.emulator is None:
            raise RuntimeError("change_user needs the emulator, which keeps the people")
        return await self.send_event(payloads.user_change_event(self.emulator.change_user(user_id, **changes)))

    async def remove_bot_from(self, channel_id: str) -> Response:
        """Someone removes Baton from a channel: posting there now fails ``not_in_channel``."""
        if self.emulator is not None:
            found = self.emulator.channels_by_id[channel_id]
            self.emulator.channels_by_id[channel_id] = dataclasses.replace(found, bot_is_member=False)
        return await self.send_event(
            payloads.member_left_channel_event(self.bot_user_id, channel_id, team_id=self.team_id)
        )

    async def archive_channel(self, channel_id: str, user_id: str) -> Response:
        """``user_id`` archives a channel: posting there now fails ``is_archived``."""
        if self.emulator is not None:
            found = self.emulator.channels_by_id[channel_id]
            self.emulator.channels_by_id[channel_id] = dataclasses.replace(found, is_archived=True)
        return await self.send_event(payloads.channel_archive_event(channel_id, user_id))

    async def revoke_tokens(self) -> Response:
        """A workspace admin revokes Baton's bot token: Slack refuses it from now on and sends ``tokens_revoked``."""
        if self.emulator is not None:
            self.emulator.revoke_bot_token("token_revoked")
        return await self.send_event(payloads.tokens_revoked_event(bot=[self.bot_user_id]))

    async def uninstall_app(self) -> Response:
        """Baton is removed from the workspace: its token stops working and Slack sends ``app_uninstalled``."""
        if self.emulator is not None:
            self.emulator.revoke_bot_token("invalid_auth")
        return await self.send_event(payloads.app_uninstalled_event())

    async def app_rate_limited(self) -> Response:
        """Slack's notice that it is dropping this app's events for a minute (sent outside ``event_callback``)."""
        envelope = payloads.app_rate_limited(team_id=self.team_id, api_app_id=self.api_app_id)
        return await self._send("app_rate_limited", envelope, json.dumps(envelope), JSON)

    async def run_step(self, callback_id: str, inputs: Mapping[str, Any]) -> tuple[Response, str]:
        """A Workflow Builder workflow reaches one of the app's steps: the emulator starts the execution and
        Baton gets its signed ``function_executed`` event. Returns Baton's answer and the execution id."""
        if self.emulator is None:
            raise RuntimeError("run_step needs the emulator, which keeps the execution")
        event = self.emulator.execute_function(callback_id, inputs)
        return await self.send_event(event), str(event["function_execution_id"])

    async def send_message(self, user_id: str, channel_id: str, text: str, *, thread_ts: str | None = None) -> Response:
        """A person types ``text`` in a conversation: stored in the emulator, then sent as a message event."""
        ts: str | None = None
        if self.emulator is not None:
            stored = self.emulator.add_message(channel_id, user_id, text, thread_ts=thread_ts)
            ts, channel_id = stored.ts, stored.channel
        event = payloads.message_event(
            user_id=user_id,
            channel_id=channel_id,
            text=text,
            ts=ts,
            thread_ts=thread_ts,
            team_id=self.team_id,
        )
        return await self.send_event(event)

    async def open_home(self, user_id: str) -> Response:
        """The user opens the app's Home tab (``app_home_opened``, with the published view if any)."""
        view = self.emulator.home_view(user_id) if self.emulator is not None else None
        channel = self.emulator.dm_channel(user_id) if self.emulator is not None else None
        return await self.send_event(payloads.app_home_opened_event(user_id, channel=channel, view=view))

    async def url_verification(self, challenge: str) -> Response:
        payload = payloads.url_verification(challenge, token=self.verification_token)
        return await self._send("url_verification", payload, json.dumps(payload), JSON)
