"""Baton's HTTP side: Slack's request URL, the start API, /healthz, /readyz and /metrics, and how it stops."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.api import StartApi
from bot.api_requests import RequestsApi
from bot.inbound import InboundLimits, ServerLog, SlackInbound
from bot.metrics import CONTENT_TYPE, health_for_anyone, metrics_for_operators, request_type, scheduler_health
from bot.outbox.pause import HOW_TO_RESUME
from bot.readiness import readiness

if TYPE_CHECKING:
    from bot.app import Baton

__all__ = ["DRAIN_SECONDS", "HttpSurface", "event_delivery"]

log = logging.getLogger(__name__)

_LINGER_SECONDS = 1.0
DRAIN_SECONDS = 10.0  # on SIGTERM: how long requests in flight, follow-ups and the sender get to finish


class HttpSurface:
    """What Baton serves over HTTP, for one running Baton; `close` is the first part of its graceful stop."""

    def __init__(self, baton: Baton) -> None:
        self._baton = baton
        self._runner: web.AppRunner | None = None
        self.stopping = False  # /readyz says 503 from the stop's first moment
        self.draining = False  # then requests that slip in are refused

    @property
    def port(self) -> int:
        """The port it listens on (after `serve`)."""
        if self._runner is None:
            raise RuntimeError("not serving")
        return int(self._runner.addresses[0][1])

    def web_app(self) -> web.Application:
        """Slack's request URL, the start API, /healthz, /readyz and /metrics, behind the draining guard."""
        settings = self._baton.settings
        application = web.Application(
            client_max_size=settings.http_max_body_bytes, middlewares=[self._refuse_while_draining]
        )
        secret = settings.slack_signing_secret
        inbound = SlackInbound(
            signing_secret=secret.get_secret_value() if secret else None,
            limits=InboundLimits(settings.http_max_body_bytes, settings.http_read_timeout_seconds),
            dispatch=self._dispatch,
            on_turned=self._turned_away,
            on_app_rate_limited=self._baton.metrics.app_rate_limited.inc,
        )
        application.router.add_post("/slack/events", inbound.handle)
        application.router.add_get("/healthz", health_for_anyone(self._health, self._baton.settings.metrics_token))
        application.router.add_get("/readyz", self._ready)
        application.router.add_get("/metrics", metrics_for_operators(self._metrics, self._baton.settings.metrics_token))
        observe, read_timeout = self._baton.metrics.observe_request, settings.http_read_timeout_seconds
        private = settings.webhook_allow_private_addresses  # callbacks reach what webhooks may reach
        scopes, service = settings.api_scopes, self._baton.service
        api = StartApi(service, scopes, observe=observe, read_timeout_seconds=read_timeout, allow_private=private)
        requests = RequestsApi(
            service, scopes, observe=observe, read_timeout_seconds=read_timeout, allow_private=private
        )
        application.router.add_post("/api/workflows/{name}/start", api.start)
        application.router.add_get("/api/requests/{id}", requests.read)
        application.router.add_post("/api/approvals", requests.ask)
        return application

    @web.middleware
    async def _refuse_while_draining(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Once stopping, a request that slipped in is refused (Slack retries it elsewhere), never half-done."""
        if self.draining and request.path not in ("/healthz", "/readyz"):
            return web.Response(status=503, text="Baton is stopping", headers={"Connection": "close"})
        return await handler(request)

    async def _dispatch(self, bolt_request: AsyncBoltRequest) -> BoltResponse:
        """Hand an admitted request to Bolt; it returns once the work is committed."""
        started = time.perf_counter()
        kind = request_type(bolt_request.body)
        delivery = event_delivery(bolt_request.body)
        if delivery is not None and await self._baton.service.sightings.seen(delivery):
            log.info("duplicate event ignored: %s", delivery)
            self._baton.metrics.observe_request(kind, 200, time.perf_counter() - started)
            return BoltResponse(status=200, body="")
        baton = self._baton
        with baton.tracing.slack_request(kind) as span, baton.sender.answering.request():  # sends give way meanwhile
            bolt_response = await baton.bolt.async_dispatch(bolt_request)  # returns once the work is committed
            if span is not None:
                span.set_attribute("http.response.status_code", bolt_response.status)
        if delivery is not None and bolt_response.status == 200:
            await self._baton.service.sightings.first_sighting(delivery)  # only once its work is committed and answered
        self._baton.metrics.observe_request(kind, bolt_response.status, time.perf_counter() - started)
        return bolt_response

    def _turned_away(self, status: int) -> None:
        self._baton.metrics.observe_request("refused", status)

    async def _health(self, _request: web.Request) -> web.Response:
        try:
            async with self._baton.probed_store.transaction(read_only=True) as work:
                depth = await work.outbox_depth()
        except Exception as error:  # health must answer, whatever is broken
            return web.json_response({"ok": False, "store": str(error)}, status=503)
        running = self._baton.sender_running
        runs, scheduling = self._baton.scheduler.runs, self._baton.scheduler.running
        scheduler = scheduler_health(runs, running=scheduling, sweep="timer-sweep")
        ok = running and scheduling
        paused = self._baton.sender.pause.paused
        sending: dict[str, object] = {"paused": paused is not None}
        if paused is not None:  # the process is fine; Slack refuses its token (nothing a restart would cure)
            sending.update(reason=paused.reason, since=paused.since.isoformat(), resume=HOW_TO_RESUME)
        return web.json_response(
            {
                "ok": ok,
                "store": "ok",
                "outbox_pending": depth,
                "sending": sending,
                "sender": "running" if running else "stopped",
                "scheduler": scheduler,
            },
            status=200 if ok else 503,
        )

    async def _ready(self, _request: web.Request) -> web.Response:
        """/readyz: whether to send this process requests (store reachable, schema current, not stopping); the
        same short answer for anyone, naming no host, database or error."""
        reason = await readiness(self._baton.probed_store, self._baton.settings.database_url, stopping=self.stopping)
        if reason is None:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": reason}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await self._baton.metrics.scrape(self._baton.store, self._baton.scheduler.runs, self._baton.clock.now())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def serve(self, host: str, port: int) -> int:
        """Listen for Slack on host:port; return the bound port (useful with port 0)."""
        self._runner = web.AppRunner(
            self.web_app(),
            access_log=None,
            shutdown_timeout=DRAIN_SECONDS,
            keepalive_timeout=self._baton.settings.http_idle_timeout_seconds,  # also bounds a request's header time
            lingering_time=_LINGER_SECONDS,  # after an early 408/413, how long the unread rest is drained
            logger=ServerLog(),  # a request that is not HTTP is one log line, not a traceback
            auto_decompress=False,  # Slack never compresses; a compressed body is refused unread (bot/inbound.py)
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        log.info("listening on http://%s:%s/slack/events", host, bound)
        return int(bound)

    async def close(self, *, notice_seconds: float) -> bool:
        """Say not-ready for `notice_seconds` while still serving (a load balancer stops sending), then close the
        port and let requests in flight finish, each committed before it is answered; True if they all did
        within DRAIN_SECONDS."""
        self.stopping = True
        if self._runner is not None and notice_seconds > 0:
            log.info("stopping: not ready; still serving for %gs", notice_seconds)
            await asyncio.sleep(notice_seconds)
        self.draining = True
        if self._runner is None:
            return True
        started = time.monotonic()
        await self._runner.cleanup()  # closes the port, waits up to DRAIN_SECONDS for requests in flight
        return time.monotonic() - started < DRAIN_SECONDS


def event_delivery(body: Mapping[str, Any]) -> str | None:
    """The key of an Events API delivery (Slack retries an event it thinks was lost, with the same event_id;
    Bolt does not deduplicate them over HTTP), or None for anything else.

    An event counts as seen only once its work is committed and answered: one that died half-way is retried
    by Slack and done then. Two deliveries racing each other both run; event work is idempotent (a start on
    team_join has its own request key), so that only costs a duplicate courtesy message."""
    event_id = body.get("event_id")
    if body.get("type") != "event_callback" or not isinstance(event_id, str) or not event_id:
        return None
    return f"event:{event_id[:100]}"
