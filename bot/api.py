"""The integration API: `POST /api/workflows/{name}/start` with a bearer token, for other systems to start requests."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.engine import FormValue
from bot.service import FormInvalid, Refused, Started, WorkflowService

__all__ = ["StartApi"]

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def _problem(status: int, message: str, **details: Any) -> web.Response:
    return web.json_response({"error": message, **details}, status=status)


class StartApi:
    """Start a workflow for a person, with the same form checks and permissions as `/workflow start`."""

    def __init__(
        self,
        service: WorkflowService,
        token: SecretStr | None,
        *,
        observe: Callable[[str, int], None] = lambda _kind, _status: None,
    ) -> None:
        self._service = service
        self._token = token.get_secret_value().encode() if token is not None else None
        self._observe = observe

    async def start(self, request: web.Request) -> web.Response:
        response = await self._start(request)
        self._observe("api_start", response.status)
        return response

    async def _start(self, request: web.Request) -> web.Response:
        if self._token is None:
            return _problem(404, "the API is not configured: set API_TOKEN to use it")
        if not self._authorised(request.headers.get("Authorization", "")):
            log.warning("api request refused: bad or missing bearer token from %s", request.remote)
            return _problem(401, "a valid `Authorization: Bearer <API_TOKEN>` header is required")
        name = request.match_info["name"]
        definition = self._service.definition(name)
        if definition is None:
            return _problem(404, f"there is no workflow called {name[:40]!r}")
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        requester, form, errors = _read_start(body)
        for field in sorted(set(form) - {field.id for field in definition.form}):
            errors[f"form.{field}"] = "the workflow's form has no such field"
        if "form" not in errors:  # every problem in one answer: the form's own checks too
            _clean, form_errors = definition.validate_form(form)
            errors.update({f"form.{field}": message for field, message in form_errors.items()})
        if errors:
            return _problem(422, "the request body is not valid", errors=errors)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            return _problem(422, "Idempotency-Key must be 1-100 letters, digits or . _ : -")
        result = await self._service.start(
            definition.name, requester, form, trigger="api", request_key=f"api:{name}:{key}" if key else None
        )
        if isinstance(result, FormInvalid):
            return _problem(422, "the form is not valid", errors={f"form.{k}": v for k, v in result.errors.items()})
        if isinstance(result, Refused):
            status = 409 if "already received" in result.reason else 403
            return _problem(status, _plain(result.reason))
        assert isinstance(result, Started)
        instance = result.instance
        log.info(
            "started through the api: workflow=%s instance=%s requester=%s",
            definition.name,
            instance.id,
            requester,
            extra={"workflow": definition.name, "instance": instance.id, "user": requester},
        )
        return web.json_response(
            {"instance": instance.id, "title": instance.title, "status": instance.status.value}, status=201
        )

    def _authorised(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        assert self._token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self._token)

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.text())
        except (ValueError, UnicodeDecodeError):
            return _problem(422, "the body must be JSON", errors={"body": "not valid JSON"})
        if not isinstance(body, dict):
            return _problem(422, "the body must be a JSON object", errors={"body": "expected an object"})
        return body


def _read_start(body: dict[str, Any]) -> tuple[str, dict[str, FormValue], dict[str, str]]:
    """The requester and form of a start request, with an error per bad field."""
    errors: dict[str, str] = {}
    requester = body.get("requester")
    if not isinstance(requester, str) or not _USER_ID.match(requester):
        errors["requester"] = "a Slack user ID such as U0123ABCD is required"
        requester = ""
    raw_form = body.get("form", {})
    form: dict[str, FormValue] = {}
    if not isinstance(raw_form, dict):
        errors["form"] = "expected an object of field id to value"
    else:
        for field, value in raw_form.items():
            if value is None or isinstance(value, str | int | float):
                form[str(field)] = value
            else:
                errors[f"form.{field}"] = "values are text, numbers, true/false or null"
    unknown = sorted(set(body) - {"requester", "form"})
    if unknown:
        errors["body"] = f"unknown keys: {', '.join(unknown)[:200]}"
    return requester, form, errors


def _plain(text: str) -> str:
    """Slack's mrkdwn emphasis removed, for an API caller."""
    return text.replace("*", "").replace("`", "")
