"""Reading Slack-shaped HTTP requests and writing the answers that faults call for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from bot.emulator.arguments import SlackApiFailure
from bot.emulator.faults import Fault, HttpError, RateLimited, SlackError
from bot.emulator.reference import SlackReference

__all__ = ["ApiRequest", "fault_answer", "read_api_request", "read_response_url_payload", "read_upload"]

# Arguments that Slack takes as "JSON-encoded strings" in form posts (and as structures in JSON posts).
_JSON_ARGS: Final = frozenset(
    {"blocks", "attachments", "unfurled_attachments", "view", "files", "metadata", "file_ids"}
)


@dataclass(frozen=True)
class ApiRequest:
    """A Web API call as the method handlers see it: the token apart, JSON-encoded arguments decoded."""

    token: str | None
    args: dict[str, Any]


async def _read_args(request: web.Request) -> tuple[dict[str, Any], dict[str, Any], bool]:
    query: dict[str, Any] = dict(request.query)
    body: dict[str, Any] = {}
    is_json = request.content_type == "application/json"
    if request.can_read_body:
        if is_json:
            raw = await request.text()
            if raw.strip():
                try:
                    parsed = json.loads(raw)
                except ValueError as exc:
                    raise SlackApiFailure("invalid_json") from exc
                if not isinstance(parsed, dict):
                    raise SlackApiFailure("invalid_json")
                body = parsed
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            body = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            await request.read()
    return query, body, is_json


def _normalise(args: dict[str, Any]) -> dict[str, Any]:
    out = dict(args)
    for key in _JSON_ARGS & out.keys():
        value = out[key]
        if isinstance(value, str) and value.strip():
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value  # left as a string; the handler answers the method's format error
        elif isinstance(value, str):
            out[key] = None
    return out


async def read_api_request(request: web.Request, method: str, reference: SlackReference | None) -> ApiRequest:
    """Read a call's token and arguments the way Slack does; ``SlackApiFailure`` for an unreadable body."""
    query, body, is_json = await _read_args(request)
    spec = reference.methods.get(method) if reference is not None else None
    token: str | None = None
    authorization = request.headers.get("Authorization", "")
    if authorization.lower().startswith("bearer "):
        token = authorization[7:].strip() or None
    # Slack reads a token argument only from the query string or a form body, never from a JSON body.
    form_token = query.pop("token", None) or (None if is_json else body.pop("token", None))
    token = token or form_token
    if is_json and spec is not None and not spec.json_input_supported:
        body = {}  # this method does not read JSON bodies: the arguments are simply not seen
    return ApiRequest(token=token, args=_normalise({**query, **body}))


async def read_upload(request: web.Request) -> bytes:
    """The bytes posted to an upload URL (a multipart file part or the raw body)."""
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        part = await reader.next()
        if isinstance(part, BodyPartReader):
            return bytes(await part.read())
        return b""
    return await request.read()


async def read_response_url_payload(request: web.Request) -> tuple[Any, str]:
    """The JSON (or form ``payload``) posted to a ``response_url``, None when unreadable, and the raw text."""
    raw = await request.text()
    payload: Any
    try:
        if request.content_type == "application/x-www-form-urlencoded":
            form = dict(parse_qsl(raw, keep_blank_values=True))
            payload = json.loads(form["payload"]) if "payload" in form else form
        else:
            payload = json.loads(raw) if raw.strip() else {}
    except ValueError:
        payload = None
    return payload, raw


def fault_answer(fault: Fault) -> tuple[dict[str, Any], int, web.StreamResponse | None]:
    """What a fault answers: the recorded body, the HTTP status and the response (None: drop the connection)."""
    if isinstance(fault, SlackError):
        response: dict[str, Any] = {"ok": False, "error": fault.error}
        return response, 200, web.json_response(response)
    if isinstance(fault, RateLimited):
        response = {"ok": False, "error": "ratelimited"}
        headers = {"Retry-After": str(fault.retry_after)}
        return response, 429, web.json_response(response, status=429, headers=headers)
    if isinstance(fault, HttpError):
        return {}, fault.status, web.Response(status=fault.status, text=fault.body)
    return {}, 0, None
