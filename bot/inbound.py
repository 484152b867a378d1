"""Slack's requests at the door: read within limits, verify the signature, parse once, refuse what is malformed.

Everything here runs before Bolt sees a request, so Bolt (and Baton's listeners) only ever get a signed, fresh,
well-formed payload. The order keeps refusals cheap: size and read time first, the signature over the raw
bytes next (unsigned junk is never decoded or parsed), then decoding, parsing and the shape checks. Every
refusal is answered with a 4xx and logged as one bounded, escaped line, never with the body."""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.error import BoltError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import build_normalized_headers, extract_content_type
from slack_bolt.response import BoltResponse
from yarl import URL

from bot.logs import one_line
from bot.slack.parsing import KNOWN_KINDS, payload_problem

__all__ = [
    "InboundLimits",
    "ServerLog",
    "SlackInbound",
    "Turned",
    "deepest_nesting",
    "form_as_json",
    "parse_request",
    "read_body",
    "signature_refusal",
]

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_SECONDS = 5 * 60  # Slack's own rule: a request older (or newer) than this may be a replay
MAX_JSON_DEPTH = 48  # Slack's deepest payloads (a modal's state inside a view) nest about 12 levels


@dataclass(frozen=True)
class InboundLimits:
    """How much a request may send, and how slowly."""

    max_body_bytes: int
    read_timeout_seconds: float
    max_json_depth: int = MAX_JSON_DEPTH


@dataclass(frozen=True)
class Turned:
    """A request turned away: the status, and a short fixed reason (for the answer and the log line)."""

    status: int
    reason: str


Dispatch = Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]


class SlackInbound:
    """The `/slack/events` handler: admit a request (or turn it away), then hand it to Bolt."""

    def __init__(
        self,
        *,
        signing_secret: str | None,
        limits: InboundLimits,
        dispatch: Dispatch,
        on_turned: Callable[[int], None] = lambda _status: None,
        on_app_rate_limited: Callable[[], None] = lambda: None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._on_app_rate_limited = on_app_rate_limited
        self._secret = signing_secret
        self._limits = limits
        self._dispatch = dispatch
        self._on_turned = on_turned
        self._now = now

    async def handle(self, request: web.Request) -> web.StreamResponse:
        admitted = await self.admit(request)
        if isinstance(admitted, Turned):
            return self._turn_away(request, admitted)
        kind = admitted.body.get("type")
        if kind == "app_rate_limited":  # Slack drops Baton's events for a minute: nothing to undo, only to count
            log.warning(
                "Slack dropped Baton's events for the minute from %s (app_rate_limited: over 30,000 an hour)",
                one_line(str(admitted.body.get("minute_rate_limited")), 20),
            )
            self._on_app_rate_limited()
            return web.Response(status=200, text="")
        if kind is not None and kind not in KNOWN_KINDS:  # app_rate_limited, or a kind Slack adds later
            log.info("slack request not handled: type=%s", one_line(str(kind), 60))
            return web.Response(status=200, text="")
        bolt_response = await self._dispatch(admitted)
        if bolt_response.status == 404:  # a signed, well-formed request Baton has no listener for
            log.info("slack request not handled: type=%s", one_line(_kind(admitted.body), 60))
            return web.Response(status=200, text="")
        return await to_aiohttp_response(bolt_response)

    async def admit(self, request: web.Request) -> AsyncBoltRequest | Turned:
        """The request as Bolt's, or why it is turned away."""
        raw = await read_body(request, self._limits)
        if isinstance(raw, Turned):
            return raw
        if self._secret is not None:
            refusal = signature_refusal(self._secret, request.headers, raw, self._now())
            if refusal is not None and not is_ssl_check(raw):
                return refusal
        headers: dict[str, str | Sequence[str]] = {name: value for name, value in request.headers.items()}
        return parse_request(raw, request.charset, headers, request.query_string, self._limits.max_json_depth)

    def _turn_away(self, request: web.Request, turned: Turned) -> web.Response:
        log.warning(
            "slack request refused: status=%s reason=%s from=%s bytes=%s agent=%s",
            turned.status,
            turned.reason,
            one_line(str(request.remote), 45),
            request.content_length,
            one_line(request.headers.get("User-Agent", ""), 60),
        )
        self._on_turned(turned.status)
        close = {"Connection": "close"} if turned.status in (408, 413, 415) else None
        return web.Response(status=turned.status, text=turned.reason, headers=close)


async def read_body(request: web.Request, limits: InboundLimits) -> bytes | Turned:
    """The whole body within the size limit and the read timeout; a body cut short is turned away quietly."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return Turned(415, "compressed request bodies are not accepted")
    declared = request.content_length
    if declared is not None and declared > limits.max_body_bytes:
        return Turned(413, "request body too large")
    try:
        async with asyncio.timeout(limits.read_timeout_seconds):
            raw = await request.read()
    except TimeoutError:
        return Turned(408, "request body not sent in time")
    except web.HTTPRequestEntityTooLarge:
        return Turned(413, "request body too large")
    except (aiohttp.ClientError, HttpProcessingError, RequestPayloadError, ConnectionError, EOFError):
        return Turned(400, "request body cut short or not decodable")
    return raw if len(raw) <= limits.max_body_bytes else Turned(413, "request body too large")


def signature_refusal(secret: str, headers: Any, raw: bytes, now: float) -> Turned | None:
    """None when the body carries Slack's valid signature from the last five minutes."""
    stamp = str(headers.get("X-Slack-Request-Timestamp", ""))
    signature = str(headers.get("X-Slack-Signature", ""))
    if not stamp or not signature:
        return Turned(401, "request not signed")
    if not (stamp.isascii() and stamp.isdecimal() and len(stamp) <= 12):
        return Turned(400, "malformed request timestamp")
    if abs(now - int(stamp)) > MAX_CLOCK_SKEW_SECONDS:
        return Turned(401, "stale or future request timestamp")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return Turned(401, "bad request signature")
    return None


def is_ssl_check(raw: bytes) -> bool:
    """Slack's certificate check for slash commands, which Bolt answers without a signature."""
    return len(raw) < 1024 and parse_qs(raw.decode("latin-1")).get("ssl_check") == ["1"]


def parse_request(
    raw: bytes,
    charset: str | None,
    headers: dict[str, str | Sequence[str]],
    query: str,
    max_depth: int = MAX_JSON_DEPTH,
) -> AsyncBoltRequest | Turned:
    """Decode the body and have Bolt parse it, once, then check the shape Bolt and the listeners rely on."""
    text = decode_body(raw, charset)
    if isinstance(text, Turned):
        return text
    normalized = build_normalized_headers(headers)
    if not (extract_content_type(normalized) == "application/json" or text.startswith("{")):  # Bolt's test
        text = form_as_json(text)
        if isinstance(text, Turned):
            return text
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=normalized)
    except RecursionError:
        return Turned(400, "request body nested too deeply")
    except json.JSONDecodeError:
        return Turned(400, "request body is neither JSON nor a form")
    except (BoltError, LookupError, TypeError, AttributeError, ValueError):  # Bolt's context met an odd shape
        return Turned(400, "request body has a shape Slack does not send")
    body: Any = request.body
    if not isinstance(body, dict):
        return Turned(400, "request body is not an object")
    if deepest_nesting(body) > max_depth:
        return Turned(400, "request body nested too deeply")
    problem = payload_problem(body)
    return request if problem is None else Turned(400, problem)


def form_as_json(text: str) -> str | Turned:
    """A form body (an interaction's `payload=`, a slash command's fields) as the JSON text Bolt reads it as.

    Bolt decodes forms with `urllib.parse.parse_qsl`, whose pure-Python unquoting was about a tenth of the CPU of
    a click (a 4 KB payload has hundreds of escapes); yarl's (aiohttp's own URL library, in C) gives the same
    fields ten times faster. An interaction hands Bolt its `payload` field, which Bolt parses as it always has;
    other forms are handed over as their fields in JSON, which also spares them Bolt's reading of any form whose
    text merely contains the word "payload" (a command `/workflow start payload-review`) as empty."""
    fields = dict(URL.build(query_string=text, encoded=True).query.items())
    payload = fields.get("payload")
    if payload is None:
        return json.dumps(fields)
    if not payload.startswith("{"):
        return Turned(400, "request payload is not a JSON object")
    return payload


def decode_body(raw: bytes, charset: str | None) -> str | Turned:
    """The body as text in its declared charset (Slack always sends UTF-8)."""
    try:
        encoding = codecs.lookup(charset or "utf-8").name
    except (LookupError, ValueError):
        return Turned(400, "unknown charset")
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return Turned(400, f"request body is not valid {encoding}")


def deepest_nesting(value: object) -> int:
    """How many objects and arrays deep a parsed JSON value goes (without recursion)."""
    depth = 0
    level: list[Any] = [value] if isinstance(value, _CONTAINERS) else []
    while level:  # one level at a time, only containers kept: a payload's many strings are looked at once each
        depth += 1
        below: list[Any] = []
        for container in level:
            for child in container.values() if isinstance(container, dict) else container:
                if isinstance(child, _CONTAINERS):
                    below.append(child)
        level = below
    return depth


_CONTAINERS = (dict, list)


class ServerLog(logging.Logger):
    """aiohttp's server log, where a request that is not even HTTP (a bad request line or header, a body
    cut short) is one bounded line instead of a traceback; other failures keep theirs."""

    def __init__(self) -> None:
        super().__init__("aiohttp.server")
        self.parent = logging.getLogger("aiohttp.server")  # its level and handlers apply

    def _one_line(self, level: int, exc_info: Any) -> bool:
        if not isinstance(exc_info, HttpProcessingError | RequestPayloadError):
            return False
        first = str(getattr(exc_info, "message", "") or exc_info).strip().splitlines()
        self.log(level, "http request refused: %s", one_line(first[0] if first else type(exc_info).__name__, 80))
        return True

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._one_line(logging.WARNING, exc_info):
            super().exception(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        if not self._one_line(logging.DEBUG, exc_info):  # aiohttp logs non-HTTP traffic at debug: it stays there
            super().debug(msg, *args, exc_info=exc_info, **kwargs)


def _kind(body: dict[str, Any]) -> str:
    event = body.get("event")
    if body.get("type") == "event_callback" and isinstance(event, dict):
        return f"event_callback/{event.get('type')}"
    return str(body.get("type") or ("command" if "command" in body else "unknown"))
