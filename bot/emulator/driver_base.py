"""What every request the driver plays as Slack shares: the workspace context, signing and the HTTP POST."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self, TypedDict
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from bot.emulator import payloads
from bot.emulator.signing import signature_headers
from bot.emulator.web_api import Ephemeral, Message, SlackEmulator

__all__ = ["FORM", "JSON", "NO_RESPONSE_URL", "SLACK_USER_AGENT", "DriverBase", "MessageLike", "Response"]

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


class DriverBase:
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

    async def __aenter__(self) -> Self:
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
