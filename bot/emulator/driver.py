"""Plays Slack's side towards Baton: signed slash commands, interactions and events sent over HTTP."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, TypedDict
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from bot.emulator import payloads
from bot.emulator.signing import signature_headers
from bot.emulator.web_api import Ephemeral, Message, SlackEmulator, find_action

__all__ = ["NO_RESPONSE_URL", "SLACK_USER_AGENT", "Response", "SlackDriver"]

SLACK_USER_AGENT: Final = "Slackbot 1.0 (+https://api.slack.com/robots)"
FORM: Final = "application/x-www-form-urlencoded"
JSON: Final = "application/json"
# Without an emulator, response URLs point at a local port nothing listens on, never at the real Slack.
NO_RESPONSE_URL: Final = "http://127.0.0.1:9/response/no-emulator"

MessageLike = Message | Ephemeral | Mapping[str, Any]


class _Context(TypedDict):
    team_id: str
    team_domain: str
    api_app_id: str
    token: str


@dataclass(frozen=True)
class Response:
    """What Baton answered to one request the driver sent."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body, as Slack treats an empty 200 acknowledgement)."""
        return json.loads(self.body) if self.body.strip() else None


class SlackDriver:
    """Sends Slack-shaped, signed requests to Baton's request URL, keeping an emulator's state in step."""

    def __init__(
        self,
        baton_url: str,
        signing_secret: str,
        emulator: SlackEmulator | None = None,
        *,
        verification_token: str = payloads.DEFAULT_VERIFICATION_TOKEN,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.baton_url = baton_url
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.verification_token = verification_token
        self.timeout = timeout
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self.sent: list[tuple[str, Any, Response]] = []

    # --- lifecycle

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    # --- workspace context

    @property
    def team_id(self) -> str:
        return self.emulator.team_id if self.emulator is not None else payloads.DEFAULT_TEAM_ID

    @property
    def team_domain(self) -> str:
        return self.emulator.team_domain if self.emulator is not None else payloads.DEFAULT_TEAM_DOMAIN

    @property
    def api_app_id(self) -> str:
        return self.emulator.app_id if self.emulator is not None else payloads.DEFAULT_API_APP_ID

    @property
    def bot_user_id(self) -> str:
        return self.emulator.bot_user_id if self.emulator is not None else payloads.DEFAULT_BOT_USER_ID

    def _context(self) -> _Context:
        return {
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
        }

    def _user_name(self, user_id: str) -> str | None:
        user = self.emulator.user(user_id) if self.emulator is not None else None
        return user.name if user is not None else None

    def _channel_name(self, channel_id: str) -> str | None:
        channel = self.emulator.channel(channel_id) if self.emulator is not None else None
        if channel is None:
            return None
        return "directmessage" if channel.is_im else channel.name

    def mint_trigger_id(self, user_id: str) -> str:
        """A trigger id the emulator accepts in ``views.open`` (or a plausible one without an emulator)."""
        if self.emulator is not None:
            return self.emulator.issue_trigger_id(user_id)
        return f"{int(self._clock())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"

    # --- high-level actions

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

    async def send_interaction(self, payload: Mapping[str, Any]) -> Response:
        """POST an interactivity payload the way Slack does: form-encoded ``payload=<json>``."""
        body = urlencode({"payload": json.dumps(payload)})
        return await self._send(str(payload.get("type", "interaction")), payload, body, FORM)

    async def post_raw(
        self,
        body: str,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
        sign: bool = True,
        timestamp: int | None = None,
    ) -> Response:
        """POST ``body`` as-is; signed with ``timestamp`` (default now) unless ``sign`` is false."""
        all_headers = {"Content-Type": content_type, "User-Agent": SLACK_USER_AGENT}
        if sign:
            stamp = timestamp if timestamp is not None else int(self._clock())
            all_headers.update(signature_headers(self.signing_secret, stamp, body))
        elif timestamp is not None:
            all_headers["X-Slack-Request-Timestamp"] = str(timestamp)
        all_headers.update(headers or {})
        session = self._session_get()
        started = time.monotonic()
        async with session.post(self.baton_url, data=body.encode(), headers=all_headers) as reply:
            text = await reply.text()
            return Response(
                status=reply.status,
                body=text,
                headers=CIMultiDictProxy(CIMultiDict(reply.headers)),
                elapsed=time.monotonic() - started,
            )

    # --- internals

    async def _send(
        self,
        kind: str,
        payload: Any,
        body: str,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        response = await self.post_raw(body, content_type, headers=headers)
        self.sent.append((kind, payload, response))
        return response

    def _view_dict(self, view: Mapping[str, Any] | str) -> dict[str, Any]:
        """The view as Slack would send it now: the emulator's current version when it knows the view."""
        view_id = view if isinstance(view, str) else str(view.get("id", ""))
        current = self.emulator.view(view_id) if self.emulator is not None and view_id else None
        if current is not None:
            return current
        if isinstance(view, str):
            raise LookupError(f"no open view {view!r}")
        return dict(view)


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
