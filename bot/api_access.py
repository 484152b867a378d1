"""What every endpoint of the integration API shares: bearer tokens and their scopes, and refusals that are a
4xx with one bounded log line."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from bot.callbacks import callback_url_problem
from bot.inbound import InboundLimits, Turned, read_body
from bot.service import WorkflowService
from bot.settings import ApiTokenScope

__all__ = [
    "IDEMPOTENCY_KEY",
    "MAX_BODY_BYTES",
    "ApiEndpoint",
    "ApiTokens",
    "callback_refusal",
    "plain",
    "problem",
    "read_json_object",
    "requester_for",
    "shown",
]

log = logging.getLogger("bot.api")

_SHOWN = 60  # characters of a caller's text quoted back in an error or a log line
MAX_BODY_BYTES = 64 * 1024
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def shown(text: str) -> str:
    """A caller's text, short enough to quote back."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class ApiTokens:
    """The API's named tokens; a bearer header is checked against every one, so timing says nothing of which."""

    def __init__(self, scopes: Mapping[str, ApiTokenScope]) -> None:
        self._tokens = [(name, scope.token.get_secret_value().encode(), scope) for name, scope in scopes.items()]

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    def authorised(self, header: str) -> tuple[str, ApiTokenScope] | None:
        scheme, _, credentials = header.partition(" ")
        given = credentials.strip().encode()
        found = None
        for name, token, scope in self._tokens:
            if hmac.compare_digest(given, token) and scheme.lower() == "bearer":
                found = (name, scope)
        return found


class ApiEndpoint:
    """What every endpoint of the API starts from: the service, the tokens, bounded bodies, where callbacks may
    go (where webhooks may: WEBHOOK_ALLOW_PRIVATE_ADDRESSES) and the metrics it reports its answers to."""

    def __init__(
        self,
        service: WorkflowService,
        scopes: Mapping[str, ApiTokenScope],
        *,
        observe: Callable[[str, int], None] = lambda _kind, _status: None,
        read_timeout_seconds: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self._service = service
        self._tokens = ApiTokens(scopes)
        self._body_limits = InboundLimits(MAX_BODY_BYTES, read_timeout_seconds)
        self._allow_private = allow_private
        self._observe = observe

    def _caller(self, request: web.Request) -> tuple[str, ApiTokenScope] | web.Response:
        """The token's name and scope, or the refusal: 404 with no tokens at all, 401 for a wrong one."""
        if not self._tokens.configured:
            return problem(request, 404, "the API is not configured: set API_TOKENS or API_TOKEN to use it")
        found = self._tokens.authorised(request.headers.get("Authorization", ""))
        if found is None:
            return problem(request, 401, "a valid `Authorization: Bearer <token>` header is required")
        return found


def problem(
    request: web.Request, status: int, message: str, *, token: str | None = None, **details: Any
) -> web.Response:
    """A refusal: one bounded, escaped log line and a JSON answer."""
    log.warning(
        "api request refused: status=%s %s %r token=%s from=%s: %s",
        status,
        request.method,
        shown(request.path),
        token or "-",
        request.remote,
        message[:200].encode("unicode_escape").decode("ascii"),
    )
    return web.json_response({"error": message, **details}, status=status)


async def read_json_object(request: web.Request, limits: InboundLimits) -> dict[str, Any] | tuple[int, str]:
    """The request's body as a JSON object (bounded in size and time), or the status and why it is refused."""
    raw = await read_body(request, limits)
    if isinstance(raw, Turned):
        return raw.status, "the body is larger than 64 KiB" if raw.status == 413 else raw.reason
    try:
        body = json.loads(raw.decode(request.charset or "utf-8"))
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):
        return 422, "the body must be a JSON object"
    if not isinstance(body, dict):
        return 422, "the body must be a JSON object"
    return body


def requester_for(scope: ApiTokenScope, named: str | None) -> tuple[str | None, str | None]:
    """Who a request starts as, or why the token may not name that person."""
    if scope.name_requesters:
        return named or scope.requester, None
    if named is not None and named != scope.requester:
        return None, f"this token may not name requesters; it starts requests as {scope.requester}"
    return scope.requester, None


def callback_refusal(scope: ApiTokenScope, url: str, allow_private: bool) -> str | None:
    """Why a request of this token may not have this callback, or None."""
    if scope.callback_secret_env is None:
        return "this token has no callback_secret_env to sign callbacks with; ask the operator to set one"
    return callback_url_problem(url, allow_private=allow_private)


def plain(text: str) -> str:
    """Text with Slack's mrkdwn emphasis removed, for an API caller."""
    return text.replace("*", "").replace("`", "")
