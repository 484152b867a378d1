"""The integration API: `POST /api/workflows/{name}/start` with a scoped bearer token, for other systems.

A token (API_TOKENS, or API_TOKEN as one token for everything) says which workflows it starts and as whom.
The requester is always a person of org.yaml who may start the workflow by its own `start.allowed`: naming
an admin or someone unknown gains nothing. Every refusal is a 4xx with one bounded log line.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from dataclasses import dataclass, field

from aiohttp import web

from bot.api_access import IDEMPOTENCY_KEY, ApiEndpoint, callback_refusal, plain, problem, requester_for, shown
from bot.engine import FormValue, RefusalReason, can_start
from bot.inbound import Turned, read_body
from bot.service import FormInvalid, Refused, Started
from bot.slack.refusals import refusal_text
from bot.store import ApiStart

__all__ = ["StartApi", "StartBody", "read_start_body"]

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


@dataclass(frozen=True)
class StartBody:
    """A start request's body as read: the requester it names (if any), the form, and an error per bad part."""

    requester: str | None = None
    form: dict[str, FormValue] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    callback_url: str | None = None
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
            problem = _valueproblem(value)
            if problem is None:
                form[name] = value
            else:
                errors[f"form.{shown(name)}"] = problem
    callback_url = body.get("callback_url")
    if callback_url is not None and not isinstance(callback_url, str):
        errors["callback_url"] = "a URL such as https://erp.example.com/baton"
        callback_url = None
    unknown = sorted(set(body) - {"requester", "form", "callback_url"})
    if unknown:
        errors["body"] = f"unknown keys: {', '.join(shown(key) for key in unknown)[:200]}"
    return StartBody(requester if isinstance(requester, str) else None, form, errors, callback_url)


def _valueproblem(value: object) -> str | None:
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, str):
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
            return "text may not contain control characters"
        return None
    if isinstance(value, list):  # a multi_select, checkboxes or multi_user field: its values or user IDs
        if len(value) > 100 or not all(isinstance(item, str) and _valueproblem(item) is None for item in value):
            return "a list holds at most 100 texts (option values or user IDs)"
        return None
    return "values are text, numbers, true/false, null or a list of texts"


class StartApi(ApiEndpoint):
    """Start a workflow for a person, with the same form checks and permissions as `/workflow start`."""

    async def start(self, request: web.Request) -> web.Response:
        response = await self._start(request)
        self._observe("api_start", response.status)
        return response

    async def _start(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        token_name, scope = caller
        definition = self._service.definition(name)
        if definition is None or not scope.may_start(name):
            # A token that may not start a workflow learns nothing about it, not even that it exists.
            return problem(request, 404, f"there is no workflow called {shown(name)!r}", token=token_name)
        raw = await read_body(request, self._body_limits)  # bounded in size and time, like Slack's requests
        if isinstance(raw, Turned):
            reason = "the body is larger than 64 KiB" if raw.status == 413 else raw.reason
            return problem(request, raw.status, reason, token=token_name)
        body = read_start_body(raw, request.charset)
        if body.unreadable:
            return problem(request, 422, "the body must be a JSON object", token=token_name, errors=body.errors)
        errors = dict(body.errors)
        requester, refusal = requester_for(scope, body.requester)
        if refusal is not None:
            return problem(request, 403, refusal, token=token_name)
        if requester is None:
            errors.setdefault("requester", "a Slack user ID such as U0123ABCD is required")
        elif requester not in self._service.directory.chart.people:
            errors["requester"] = f"{requester} is not a person in org.yaml"
        form = body.form
        for field_id in sorted(set(form) - {spec.id for spec in definition.form}):
            errors[f"form.{shown(field_id)}"] = "the workflow's form has no such field"
        if "form" not in errors:  # every problem in one answer: the form's own checks too
            _clean, form_errors = definition.validate_form(form)
            errors.update({f"form.{field}": message for field, message in form_errors.items()})
        if body.callback_url is not None and (why := callback_refusal(scope, body.callback_url, self._allow_private)):
            errors["callback_url"] = why
        if errors:
            return problem(request, 422, "the request body is not valid", token=token_name, errors=errors)
        assert requester is not None
        if not can_start(definition, self._service.directory, requester, admin_rights=False):
            return problem(
                request, 403, f"{requester} is not among the people who may start {definition.name}", token=token_name
            )
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            return problem(request, 422, "Idempotency-Key must be 1-100 letters, digits or . _ : -", token=token_name)
        started_by = ApiStart(token_name, callback_url=body.callback_url, callback_secret_env=scope.callback_secret_env)
        request_key = f"api:{name}:{key}" if key else None
        result = await self._service.start(
            definition.name, requester, form, trigger="api", request_key=request_key, api=started_by
        )
        if isinstance(result, FormInvalid):
            errors = {f"form.{k}": v for k, v in result.errors.items()}
            return problem(request, 422, "the form is not valid", token=token_name, errors=errors)
        if isinstance(result, Refused):
            status = 409 if result.why.reason is RefusalReason.ALREADY_RECEIVED else 403
            return problem(request, status, plain(refusal_text(result.why)), token=token_name)
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
