"""`GET /api/requests/<id>` and `POST /api/approvals`: other systems read requests back and ask one-off questions.

A token reads the requests it started and, for the workflows it may start, every request of those workflows
(a one-off approval only by the token that asked it); any other request is a 404, as if it were not there.
An approval with an `Idempotency-Key` is asked once: the same key with the same body answers 200 with that
request as it stands; the same key with another body is a 409.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.api_access import (
    IDEMPOTENCY_KEY,
    ApiEndpoint,
    callback_refusal,
    plain,
    problem,
    read_json_object,
    requester_for,
    shown,
)
from bot.approvals import APPROVAL_WORKFLOW, ApprovalAsk, approval_definition, read_approval_body
from bot.engine import RefusalReason
from bot.request_view import request_view
from bot.service import FormInvalid, Refused
from bot.settings import ApiTokenScope
from bot.slack.refusals import refusal_text
from bot.store import ApiOrigin, ApiStart

__all__ = ["RequestsApi"]

log = logging.getLogger("bot.api")


class RequestsApi(ApiEndpoint):
    """Read requests back, and ask a person a one-off question that becomes a request with buttons."""

    async def read(self, request: web.Request) -> web.Response:
        response = await self._read(request)
        self._observe("api_read", response.status)
        return response

    async def ask(self, request: web.Request) -> web.Response:
        response = await self._ask(request)
        self._observe("api_approval", response.status)
        return response

    async def _read(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        token, scope = caller
        number = request.match_info["id"]
        not_there = f"there is no request {shown(number)!r}"
        if not number.isdigit() or len(number) > 18:
            return problem(request, 404, not_there, token=token)
        found = await self._service.request_for_api(int(number))
        if found is None or not _may_read(token, scope, found[1].workflow, found[2]):
            return problem(request, 404, not_there, token=token)  # another's request is not there, to this token
        definition, instance, _origin = found
        return web.json_response(request_view(definition, instance))

    async def _ask(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        token, scope = caller
        if not scope.approvals:
            return problem(request, 403, "this token may not ask for approvals (approvals: true)", token=token)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
            return problem(request, 422, "Idempotency-Key must be 1-100 letters, digits or . _ : -", token=token)
        body = await read_json_object(request, self._body_limits)
        if isinstance(body, tuple):
            return problem(request, body[0], body[1], token=token)
        ask = read_approval_body(body, self._service.now())
        requester, refusal = requester_for(scope, ask.requester)
        if refusal is not None:
            return problem(request, 403, refusal, token=token)
        errors = {**ask.errors, **self._people_problems(ask, requester)}
        if ask.callback_url is not None and (why := callback_refusal(scope, ask.callback_url, self._allow_private)):
            errors["callback_url"] = why
        if errors:
            return problem(request, 422, "the request body is not valid", token=token, errors=errors)
        assert requester is not None
        if key is not None and (earlier := await self._service.api_request_by_key(token, key)) is not None:
            return await self._answered_before(request, token, earlier, ask)
        return await self._ask_once(request, (token, scope), ask, requester, key)

    async def _ask_once(
        self, request: web.Request, caller: tuple[str, ApiTokenScope], ask: ApprovalAsk, requester: str, key: str | None
    ) -> web.Response:
        """Start the request a checked question becomes; one claimed with its key if it has one."""
        token, scope = caller
        definition = approval_definition(ask)
        if isinstance(definition, str):
            return problem(request, 422, definition, token=token)
        caller_info = ApiStart(token, key, ask.digest, ask.callback_url, scope.callback_secret_env)
        request_key = f"approval:{token}:{key}" if key else None
        result = await self._service.start(
            definition, requester, ask.form, trigger="api", request_key=request_key, api=caller_info
        )
        if isinstance(result, Refused) and result.why.reason is RefusalReason.ALREADY_RECEIVED and key is not None:
            earlier = await self._service.api_request_by_key(token, key)  # asked at the same moment elsewhere
            if earlier is not None:
                return await self._answered_before(request, token, earlier, ask)
        if isinstance(result, FormInvalid):
            return problem(request, 422, "the request body is not valid", token=token, errors=result.errors)
        if isinstance(result, Refused):
            status = 409 if result.why.reason is RefusalReason.ALREADY_RECEIVED else 403
            return problem(request, status, plain(refusal_text(result.why)), token=token)
        log.info(
            "approval asked through the api: instance=%s requester=%s token=%s",
            result.instance.id,
            requester,
            token,
            extra={"workflow": APPROVAL_WORKFLOW, "instance": result.instance.id, "user": requester},
        )
        return web.json_response(request_view(definition, result.instance), status=201)

    def _people_problems(self, ask: ApprovalAsk, requester: str | None) -> dict[str, str]:
        """Approvers and escalation must be people and groups of org.yaml, and never the requester alone."""
        chart = self._service.directory.chart
        errors: dict[str, str] = {}
        if requester is None:
            errors["requester"] = "a Slack user ID such as U0123ABCD is required"
        elif requester not in chart.people:
            errors["requester"] = f"{requester} is not a person in org.yaml"
        for key, refs in (("approvers", ask.approvers), ("escalate_to", ask.escalate_to)):
            for ref in refs:
                if ref.startswith("group:") and ref[6:] not in chart.groups:
                    errors[key] = f"{ref} is not a group in org.yaml"
                elif not ref.startswith("group:") and ref != "assignee.manager" and ref not in chart.people:
                    errors[key] = f"{ref} is not a person in org.yaml"
        if requester is not None and requester in ask.approvers:
            errors["approvers"] = f"{requester} asks this question and may not approve it"
        return errors

    async def _answered_before(
        self, request: web.Request, token: str, earlier: ApiOrigin, ask: ApprovalAsk
    ) -> web.Response:
        """A retried approval: the same body gets the same request (200); another body under the key, 409."""
        if earlier.caller.body_digest != ask.digest:
            message = "this Idempotency-Key was used with another body; use a new key for a new question"
            return problem(request, 409, message, token=token, instance=earlier.instance_id)
        found = await self._service.request_for_api(earlier.instance_id)
        assert found is not None  # the origin row refers to the request
        definition, instance, _origin = found
        return web.json_response(request_view(definition, instance), status=200)


def _may_read(token: str, scope: ApiTokenScope, workflow: str, origin: ApiOrigin | None) -> bool:
    """A token reads what it started, and the requests of the workflows it may start (not others' questions)."""
    if origin is not None and origin.caller.token == token:
        return True
    return workflow != APPROVAL_WORKFLOW and scope.may_start(workflow)
