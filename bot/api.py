"""The integration API: `POST /api/workflows/{name}/start` with a scoped bearer token, for other systems.

A token (API_TOKENS, or API_TOKEN as one token for everything) says which workflows it starts and as whom.
The requester is always a person of org.yaml who may start the workflow by its own `start.allowed`: naming
an admin or someone unknown gains nothing. Every refusal is a 4xx with one bounded log line.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.engine import FormValue, can_start
from bot.inbound import InboundLimits, Turned, read_body
from bot.service import FormInvalid, Refused, Started, WorkflowService
from bot.settings import ApiTokenScope

__all__ = ["StartApi", "StartBody", "read_start_body"]

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_MAX_BODY_BYTES = 64 * 1024
_SHOWN = 60  # characters of a caller's text quoted back in an error or a log line


@dataclass(frozen=True)
class StartBody:
    """A start request's body as read: the requester it names (if any), the form, and an error per bad part."""

    requester: str | None = None
    form: dict[str, FormValue] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    unreadable: bool = False  # not a JSON object at all: nothing else is worth checking


def read_start_body(raw: bytes, charset: str | None = None) -> StartBody:
    """Read `{"requester": "U…", "form": {...}}` from raw bytes; any input gives a body or errors, never raises."""
    try:
        text = raw.decode(charset or "utf-8")
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError, LookupError, RecursionError):  # bad charset, too deep, not JSON
        return StartBody(errors={"body": "not valid JSON"}, unreadable=True)
    if not isinstance(body, dict):
        return StartBody(errors={"body": "expected an object"}, unreadable=True)
    errors: dict[str, str] = {}
    requester = body.get("requester")
    if requester is not None and (not isinstance(requester, str) or not _USER_ID.fullmatch(requester)):
        errors["requester"] = "a Slack user ID such as U0123ABCD is required"
        requester = None
    raw_form = body.get("form", {})
    form: dict[str, FormValue] = {}
    if not isinstance(raw_form, dict):
        errors["form"] = "expected an object of field id to value"
    else:
        for name, value in raw_form.items():
            problem = _value_problem(value)
            if problem is None:
                form[name] = value
            else:
                errors[f"form.{_shown(name)}"] = problem
    unknown = sorted(set(body) - {"requester", "form"})
    if unknown:
        errors["body"] = f"unknown keys: {', '.join(_shown(key) for key in unknown)[:200]}"
    return StartBody(requester if isinstance(requester, str) else None, form, errors)


def _value_problem(value: object) -> str | None:
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, str):
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
            return "text may not contain control characters"
        return None
    return "values are text, numbers, true/false or null"


def _shown(text: str) -> str:
    """A caller's text, short enough to quote back."""
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


class StartApi:
    """Start a workflow for a person, with the same form checks and permissions as `/workflow start`."""

    def __init__(
        self,
        service: WorkflowService,
        scopes: Mapping[str, ApiTokenScope],
        *,
        observe: Callable[[str, int], None] = lambda _kind, _status: None,
        read_timeout_seconds: float = 10.0,
    ) -> None:
        self._service = service
        self._body_limits = InboundLimits(_MAX_BODY_BYTES, read_timeout_seconds)
        self._tokens = [(name, scope.token.get_secret_value().encode(), scope) for name, scope in scopes.items()]
        self._observe = observe

    async def start(self, request: web.Request) -> web.Response:
        response = await self._start(request)
        self._observe("api_start", response.status)
        return response

    async def _start(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not self._tokens:
            return _problem(request, 404, "the API is not configured: set API_TOKENS or API_TOKEN to use it")
        found = self._authorised(request.headers.get("Authorization", ""))
        if found is None:
            return _problem(request, 401, "a valid `Authorization: Bearer <token>` header is required")
        token_name, scope = found
        definition = self._service.definition(name)
        if definition is None or not scope.may_start(name):
            # A token that may not start a workflow learns nothing about it, not even that it exists.
            return _problem(request, 404, f"there is no workflow called {_shown(name)!r}", token=token_name)
        raw = await read_body(request, self._body_limits)  # bounded in size and time, like Slack's requests
        if isinstance(raw, Turned):
            reason = "the body is larger than 64 KiB" if raw.status == 413 else raw.reason
            return _problem(request, raw.status, reason, token=token_name)
        body = read_start_body(raw, request.charset)
        if body.unreadable:
            return _problem(request, 422, "the body must be a JSON object", token=token_name, errors=body.errors)
        errors = dict(body.errors)
        requester, refusal = self._requester(scope, body.requester)
        if refusal is not None:
            return _problem(request, 403, refusal, token=token_name)
        if requester is None:
            errors.setdefault("requester", "a Slack user ID such as U0123ABCD is required")
        elif requester not in self._service.directory.chart.people:
            errors["requester"] = f"{requester} is not a person in org.yaml"
        form = body.form
        for field_id in sorted(set(form) - {spec.id for spec in definition.form}):
            errors[f"form.{_shown(field_id)}"] = "the workflow's form has no such field"
        if "form" not in errors:  # every problem in one answer: the form's own checks too
            _clean, form_errors = definition.validate_form(form)
            errors.update({f"form.{field}": message for field, message in form_errors.items()})
        if errors:
            return _problem(request, 422, "the request body is not valid", token=token_name, errors=errors)
        assert requester is not None
        if not can_start(definition, self._service.directory, requester, admin_rights=False):
            return _problem(
                request, 403, f"{requester} is not among the people who may start {definition.name}", token=token_name
            )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
            return _problem(request, 422, "Idempotency-Key must be 1-100 letters, digits or . _ : -", token=token_name)
        result = await self._service.start(
            definition.name, requester, form, trigger="api", request_key=f"api:{name}:{key}" if key else None
        )
        if isinstance(result, FormInvalid):
            errors = {f"form.{k}": v for k, v in result.errors.items()}
            return _problem(request, 422, "the form is not valid", token=token_name, errors=errors)
        if isinstance(result, Refused):
            status = 409 if "already received" in result.reason else 403
            return _problem(request, status, _plain(result.reason), token=token_name)
        assert isinstance(result, Started)
        instance = result.instance
        log.info(
            "started through the api: workflow=%s instance=%s requester=%s token=%s",
            definition.name,
            instance.id,
            requester,
            token_name,
            extra={"workflow": definition.name, "instance": instance.id, "user": requester},
        )
        return web.json_response(
            {"instance": instance.id, "title": instance.title, "status": instance.status.value}, status=201
        )

    def _authorised(self, header: str) -> tuple[str, ApiTokenScope] | None:
        scheme, _, credentials = header.partition(" ")
        given = credentials.strip().encode()
        found = None
        for name, token, scope in self._tokens:  # compare with every token, so timing says nothing of which
            if hmac.compare_digest(given, token) and scheme.lower() == "bearer":
                found = (name, scope)
        return found

    def _requester(self, scope: ApiTokenScope, named: str | None) -> tuple[str | None, str | None]:
        """Who the request starts as, or why the token may not name that person."""
        if scope.name_requesters:
            return named or scope.requester, None
        if named is not None and named != scope.requester:
            return None, f"this token may not name requesters; it starts requests as {scope.requester}"
        return scope.requester, None


def _problem(
    request: web.Request, status: int, message: str, *, token: str | None = None, **details: Any
) -> web.Response:
    """A refusal: one bounded, escaped log line and a JSON answer."""
    log.warning(
        "api request refused: status=%s workflow=%r token=%s from=%s: %s",
        status,
        _shown(request.match_info.get("name", "")),
        token or "-",
        request.remote,
        message[:200].encode("unicode_escape").decode("ascii"),
    )
    return web.json_response({"error": message, **details}, status=status)


def _plain(text: str) -> str:
    """Slack's mrkdwn emphasis removed, for an API caller."""
    return text.replace("*", "").replace("`", "")
