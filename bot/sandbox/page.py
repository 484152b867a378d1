"""What the sandbox page does as Slack would: send a message or command, click, submit, close, open Home, move time.

Each action becomes a signed request to Baton's own `/slack/events` through the emulator's driver."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.emulator import Ephemeral, Message, Response, SlackApiFailure
from bot.emulator.payloads import action_from_element, slash_command

from .workspace import element_in, next_working_morning, view_state, zone

if TYPE_CHECKING:
    from .server import Sandbox

__all__ = ["BadRequest", "Handler", "PageActions", "api_handler", "query_int"]

log = logging.getLogger(__name__)
_PAGE_FILE = b"(a file attached on the sandbox page: the page sends its name, not its content)"

TIME_STEPS: Final = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
FORM: Final = "application/x-www-form-urlencoded"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """The page asked for something that does not exist or is malformed."""


class PageActions:
    """The page's POSTs, each one person's action in the emulated workspace."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    async def send(self, request: web.Request) -> dict[str, Any]:
        """The composer: a slash command when the text starts with `/`, otherwise a message."""
        body = await _body(request)
        user, channel, text = self._user(body), _text(body, "channel"), _text(body, "text").strip()
        if not text:
            raise BadRequest("nothing to send")
        if text.startswith("/"):
            return await self._slash_command(user, channel, text)
        response = await self._sandbox.driver.send_message(user, channel, text)
        return _outcome(response)

    async def _slash_command(self, user: str, channel: str, text: str) -> dict[str, Any]:
        command, _, argument = text.partition(" ")
        response_url = self._sandbox.emulator.issue_response_url(user_id=user, channel_id=channel)
        fields = slash_command(
            command=command,
            text=argument.strip(),
            user_id=user,
            channel_id=channel,
            trigger_id=self._sandbox.driver.mint_trigger_id(user),
            response_url=response_url,
            user_name=self._user_name(user),
            channel_name=self._channel_name(channel),
            team_id=self._sandbox.driver.team_id,
            team_domain=self._sandbox.driver.team_domain,
            api_app_id=self._sandbox.driver.api_app_id,
            token=self._sandbox.driver.verification_token,
        )
        response = await self._sandbox.driver.post_raw(urlencode(fields), FORM)
        if response.ok and response.body.strip():
            await self._show_reply(response_url, response.body)
        return _outcome(response)

    async def _show_reply(self, response_url: str, body: str) -> None:
        """Slack shows a command's immediate answer like a reply to its response_url: privately, by default."""
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"text": body}
        async with self._sandbox.http.post(
            response_url, json=reply if isinstance(reply, dict) else {"text": body}
        ) as answer:
            await answer.read()

    async def click(self, request: web.Request) -> dict[str, Any]:
        """A person uses a button or select in a message, an ephemeral, the Home tab or a modal."""
        body = await _body(request)
        user, block_id, action_id = self._user(body), _text(body, "block_id"), _text(body, "action_id")
        picked = body.get("value")
        if body.get("view_id"):
            view = self._sandbox.emulator.view(_text(body, "view_id"))
            if view is None:
                raise BadRequest("that view is no longer open")
            element = _element(view.get("blocks") or [], block_id, action_id)
            action = action_from_element(element, block_id=block_id, value=picked)
            response = await self._sandbox.driver.click(
                user, action_id=action_id, block_id=block_id, view=view, action=action, value=picked
            )
            return _outcome(response)
        message = self._message(user, _text(body, "channel"), _text(body, "ts"))
        element = _element(message.blocks, block_id, action_id)
        action = action_from_element(element, block_id=block_id, value=picked)
        response = await self._sandbox.driver.click(
            user, action_id=action_id, block_id=block_id, message=message, action=action, value=picked
        )
        return _outcome(response)

    async def submit(self, request: web.Request) -> dict[str, Any]:
        """A person submits their top modal with what they typed and picked, keyed by block id."""
        body = await _body(request)
        user, view_id = self._user(body), _text(body, "view_id")
        view = self._sandbox.emulator.view(view_id)
        if view is None:
            raise BadRequest("that view is no longer open")
        entered = body.get("values")
        person = self._sandbox.emulator.user(user)
        state = view_state(
            view,
            entered if isinstance(entered, Mapping) else {},
            tz=zone(person.tz if person else None),
            attach=lambda name: self._sandbox.emulator.attach_file(user, name[:255], _PAGE_FILE),
        )
        response = await self._sandbox.driver.submit_view(user, view_id, state)
        outcome = _outcome(response)
        with contextlib.suppress(ValueError):
            outcome["answer"] = response.json()
        return outcome

    async def close(self, request: web.Request) -> dict[str, Any]:
        body = await _body(request)
        response = await self._sandbox.driver.close_view(self._user(body), _text(body, "view_id"))
        return _outcome(response) if response is not None else {"ok": True, "status": None}

    async def home(self, request: web.Request) -> dict[str, Any]:
        """A person opens the app's Home tab; Baton answers by publishing it."""
        return _outcome(await self._sandbox.driver.open_home(self._user(await _body(request))))

    async def move_time(self, request: web.Request) -> dict[str, Any]:
        """Move the sandbox clock forward, then let Baton do whatever has become due."""
        body = await _body(request)
        by = _text(body, "by")
        now = self._sandbox.clock.now()
        if by == "morning":
            person = self._sandbox.emulator.user(self._user(body))
            step = next_working_morning(now, zone(person.tz if person else None)) - now
        elif by in TIME_STEPS:
            step = TIME_STEPS[by]
        else:
            raise BadRequest(f"cannot move time by {by!r}; use hour, day or morning")
        self._sandbox.clock.advance(step)
        await self._sandbox.baton.tick()
        return {"ok": True, "now": self._sandbox.clock.now().isoformat(), "advanced_seconds": step.total_seconds()}

    # --- lookups

    def _user(self, body: Mapping[str, Any]) -> str:
        user_id = _text(body, "user")
        if self._sandbox.emulator.user(user_id) is None:
            raise BadRequest(f"no such person {user_id!r}")
        return user_id

    def _user_name(self, user_id: str) -> str | None:
        user = self._sandbox.emulator.user(user_id)
        return user.name if user is not None else None

    def _channel_name(self, channel_id: str) -> str | None:
        channel = self._sandbox.emulator.channel(channel_id)
        if channel is None:
            raise BadRequest(f"no such channel {channel_id!r}")
        return "directmessage" if channel.is_im else channel.name

    def _message(self, user: str, channel: str, ts: str) -> Message | Ephemeral:
        message = self._sandbox.emulator.message(channel, ts)
        if message is not None:
            return message
        for ephemeral in self._sandbox.emulator.ephemerals(user):
            if ephemeral.channel == channel and ephemeral.message_ts == ts:
                return ephemeral
        raise BadRequest("that message is gone")


def api_handler(
    handler: Callable[[web.Request], Awaitable[dict[str, Any]]], *, then: Callable[[], None] | None = None
) -> Handler:
    """Answer JSON; a bad request is a 400 with the reason, a failure inside the emulator a 502.

    `then` runs after each request: not every action makes Baton call Slack (form errors, a closed modal).
    """

    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            try:
                result = await handler(request)
            finally:
                if then is not None:
                    then()
        except (BadRequest, LookupError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        except (SlackApiFailure, aiohttp.ClientError, TimeoutError) as error:
            log.warning("sandbox request failed: %r", error)
            return web.json_response({"ok": False, "error": repr(error)}, status=502)
        return web.json_response(result, headers={"Cache-Control": "no-store"})

    return answer


def _outcome(response: Response) -> dict[str, Any]:
    return {"ok": response.ok, "status": response.status}


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise BadRequest("send a JSON object") from error
    if not isinstance(body, dict):
        raise BadRequest("send a JSON object")
    return body


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is missing")
    return value


def query_int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _element(blocks: list[Any], block_id: str, action_id: str) -> dict[str, Any]:
    element = element_in(blocks, block_id, action_id)
    if element is None:
        raise BadRequest(f"no element {action_id!r} in block {block_id!r}")
    return element
