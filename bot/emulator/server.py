"""The emulator's HTTP face: Web API calls, upload URLs and ``response_url`` posts, each one recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from bot.emulator.arguments import Handler, SlackApiFailure
from bot.emulator.faults import Delay, Fault, FaultInjector
from bot.emulator.http_io import fault_answer, read_api_request, read_response_url_payload, read_upload
from bot.emulator.methods import UNLISTED_TIERS
from bot.emulator.records import RecordedCall
from bot.emulator.reference import SlackReference
from bot.emulator.response_urls import ResponseUrls
from bot.emulator.workspace import Workspace

__all__ = ["WebApiServer"]


class WebApiServer:
    """Serves one workspace over aiohttp: answers faults first, then the method's handler, and records the call."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        bot_token: str,
        reference: SlackReference | None,
        handlers: Mapping[str, Handler],
        faults: FaultInjector,
        response_urls: ResponseUrls,
        record: Callable[[RecordedCall], Awaitable[None]],
        token_problem: Callable[[str], str] = lambda _token: "invalid_auth",
        bot_token_refusal: Callable[[], str] = lambda: "",
    ) -> None:
        self._workspace = workspace
        self._bot_token = bot_token
        self._token_problem = token_problem  # why a token other than the bot's is refused ("" when it is good)
        self._bot_token_refusal = bot_token_refusal  # why the bot's own token is refused (revoked, uninstalled)
        self._reference = reference
        self._handlers = handlers
        self._faults = faults
        self._response_urls = response_urls
        self._record = record
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_post("/response/{token}", self._handle_response_url)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        address = runner.addresses[0]
        self._port = int(address[1])

    async def stop(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        """``http://host:port/`` while serving."""
        if self._port is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._host}:{self._port}/"

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        try:
            call = await read_api_request(request, method, self._reference)
        except SlackApiFailure as failure:
            response = failure.as_response()
            await self._record(RecordedCall(method, {}, response, self._workspace.clock()))
            return web.json_response(response)
        fault, delay = await self._fault_after_delay(method, call.args)
        if fault is None and method in self._handlers:
            listed = self._reference.tier_of(method) if self._reference is not None else None
            fault = self._faults.rate_limit_fault(method, call.args, listed or UNLISTED_TIERS.get(method))
        if fault is not None:
            return await self._answer_fault(request, method, call.args, fault)
        response = self._dispatch(method, call.token, call.args)
        await self._record(RecordedCall(method, call.args, response, self._workspace.clock(), fault=delay))
        return web.json_response(response)

    async def _fault_after_delay(self, method: str, args: Mapping[str, Any]) -> tuple[Fault | None, Delay | None]:
        """The injected fault for this call, after sleeping out a ``Delay`` (which is not a failure)."""
        fault = self._faults.next_fault(method, args)
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
            return None, fault
        return fault, None

    def _dispatch(self, method: str, token: str | None, args: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        try:
            if not token:
                raise SlackApiFailure("not_authed")
            if token != self._bot_token and (problem := self._token_problem(token)):
                raise SlackApiFailure(problem)
            if token == self._bot_token and (refused := self._bot_token_refusal()):
                raise SlackApiFailure(refused)
            if self._reference is not None:
                self._reference.check_required(method, args)
            return handler(args)
        except SlackApiFailure as failure:
            return failure.as_response()

    async def _answer_fault(
        self, request: web.Request, method: str, args: dict[str, Any], fault: Fault
    ) -> web.StreamResponse:
        response, status, answer = fault_answer(fault)
        await self._record(RecordedCall(method, args, response, self._workspace.clock(), True, status, fault))
        if answer is not None:
            return answer
        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        content = await read_upload(request)
        args = {"file_id": file_id, "bytes": len(content)}
        fault, _delay = await self._fault_after_delay("upload", args)
        if fault is not None:
            return await self._answer_fault(request, "upload", args, fault)
        existing = self._workspace.uploads.get(file_id)
        if existing is None or existing.completed:
            await self._record(RecordedCall("upload", args, {"ok": False}, self._workspace.clock(), status=404))
            return web.Response(status=404, text="Not Found")
        self._workspace.uploads[file_id] = replace(existing, content=content)
        await self._record(RecordedCall("upload", args, {"ok": True}, self._workspace.clock()))
        return web.Response(status=200, text=f"OK - {len(content)}")

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        payload, raw = await read_response_url_payload(request)
        args: dict[str, Any] = payload if isinstance(payload, dict) else {"raw": raw}
        fault, _delay = await self._fault_after_delay("response_url", args)
        if fault is not None:
            return await self._answer_fault(request, "response_url", args, fault)
        status, body = self._response_urls.apply(token, payload)
        response = {"ok": status == 200} if status == 200 else {"ok": False, "error": body}
        await self._record(RecordedCall("response_url", args, response, self._workspace.clock(), status=status))
        if status == 200:
            return web.json_response({"ok": True})
        return web.Response(status=status, text=body)
