"""The composition root: settings -> store -> service -> outbox sender -> scheduler -> Bolt app -> HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.api import StartApi
from bot.catalog import Catalog, load_catalog
from bot.channel_notices import ChannelNotices
from bot.clock import Clock, SystemClock
from bot.departures import Departures
from bot.inbound import InboundLimits, ServerLog, SlackInbound
from bot.metrics import (
    CONTENT_TYPE,
    BatonMetrics,
    health_for_anyone,
    metrics_for_operators,
    request_type,
    scheduler_health,
)
from bot.outbox import OutboxSender
from bot.outbox.pause import HOW_TO_RESUME
from bot.profiles import SlackProfiles
from bot.readiness import readiness
from bot.scheduler import Scheduler
from bot.service import WorkflowService
from bot.settings import Settings, slowest_slack_call
from bot.slack.app_lifecycle import AppLifecycle
from bot.slack.channel_events import ChannelEvents
from bot.slack.client import CountingWebClient
from bot.slack.collaboration import tell
from bot.slack.failures import FAILURE_NOTE, failure_answer, failure_note_target
from bot.slack.followups import FollowUps
from bot.slack.home import home_view
from bot.slack.listeners import register_listeners
from bot.slack.maps import MapDesk
from bot.slack.metadata import MetadataSeal
from bot.slack.outgoing import BlockKitRenderer
from bot.slack.people_events import PeopleEvents
from bot.slack.report_desk import ReportDesk
from bot.store import Store, store_for
from bot.store.postgres import redacted
from bot.tracing import Tracing, tracing_from_environment
from bot.usergroups import SlackUsergroups
from bot.webhooks import WebhookPost, webhook_sender
from bot.workspace import Workspace

__all__ = ["Baton"]

log = logging.getLogger(__name__)

_OUTBOX_SAFETY_SWEEP_SECONDS = 5.0
_DIGEST_SWEEP_SECONDS = 300.0
_USERGROUP_REFRESH_SECONDS = 600.0
_REPORT_SWEEP_SECONDS = 60.0
_LINGER_SECONDS = 1.0
DRAIN_SECONDS = 10.0  # on SIGTERM: how long requests in flight, follow-ups and the sender get to finish


@dataclass
class Baton:
    """One running Baton: its parts, built in order, started and stopped together."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    catalog: Catalog | None = None
    deliver_webhook: WebhookPost | None = None  # how queued webhooks go out (the sandbox keeps them instead)
    store: Store = field(init=False)
    service: WorkflowService = field(init=False)
    client: AsyncWebClient = field(init=False)
    sender: OutboxSender = field(init=False)
    scheduler: Scheduler = field(init=False)
    bolt: AsyncApp = field(init=False)
    reports: ReportDesk = field(init=False)
    maps: MapDesk = field(init=False)
    metrics: BatonMetrics = field(default_factory=BatonMetrics)  # a registry per Baton, never the global one
    tracing: Tracing = field(default_factory=tracing_from_environment)  # off unless OTEL_* asks for traces
    profiles: SlackProfiles = field(init=False)
    usergroups: SlackUsergroups = field(init=False)
    followups: FollowUps = field(default_factory=FollowUps)
    _sender_task: asyncio.Task[None] | None = field(init=False, default=None)
    _runner: web.AppRunner | None = field(init=False, default=None)
    _http: aiohttp.ClientSession | None = field(init=False, default=None)
    _probed_store: Store = field(init=False)
    draining: bool = field(init=False, default=False)
    stopping: bool = field(init=False, default=False)  # /readyz says 503 from the stop's first moment

    async def start(self) -> None:
        """Open the store and start sending; raise StoreError for an unusable database."""
        settings = self.settings
        loading = time.perf_counter()
        catalog = self.catalog or load_catalog(settings.workflows_dir)
        log.info(
            "loaded %s workflows and an org of %s people in %.3fs",
            len(catalog.workflows),
            len(catalog.org.people),
            time.perf_counter() - loading,
        )
        for error in catalog.errors:
            log.error("workflow file problem: %s", error)
        self._probed_store = store_for(
            settings.database_url,
            auto_migrate=settings.auto_migrate,
            pool_size=settings.database_pool_size,
            outbox_lease_seconds=settings.outbox_lease_seconds,
        )
        self.store = self.tracing.store(self._probed_store)  # the probes' units of work make no spans
        await self.store.open()
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
        # One HTTP session (and its keep-alive connections) for every Web API call: the outbox's and each
        # request's own client, which Bolt builds with this client's session.
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.slack_api_timeout_seconds))
        self.client = CountingWebClient(
            token=token,
            base_url=settings.slack_api_url,
            timeout=int(math.ceil(settings.slack_api_timeout_seconds)),
            session=self._http,
            on_call=self.metrics.slack_call,
        )
        self.sender = OutboxSender(
            self.store,
            self.client,
            self.clock,
            admins=settings.baton_admins,
            renderers={"home": self._render_home},
            on_call=self.metrics.slack_call,
            tier_pacing=settings.slack_tier_pacing,
            max_backoff=settings.slack_retry_max_seconds,
            slowest_call=slowest_slack_call(settings.slack_api_timeout_seconds),
            deliver_webhook=self.tracing.webhooks(
                self.deliver_webhook
                or webhook_sender(
                    allow_private=settings.webhook_allow_private_addresses, trace_headers=self.tracing.trace_headers
                )
            ),
            span_for=self.tracing.outbox_send,
        )
        self.profiles = SlackProfiles(self.client)
        self.usergroups = SlackUsergroups(self.client)
        await self.usergroups.refresh()
        workspace = Workspace(
            self.store,
            catalog,
            admins=settings.baton_admins,
            clock=self.clock,
            zones=self.profiles.zone,
            usergroups=self.usergroups,
        )
        self.service = WorkflowService(
            workspace,
            renderer=BlockKitRenderer(),
            on_commit=self.sender.kick,
            on_new_people=self.profiles.learn,
            usergroup_handle=self.usergroups.handle_of,
        )
        self.reports = ReportDesk(self.service, self.store, self.clock)
        self.maps = MapDesk(self.service, self.store, self.clock)
        self.bolt = self._build_bolt()
        self.scheduler = Scheduler()
        self.scheduler.every(_REPORT_SWEEP_SECONDS, self._send_weekly_reports, name="weekly-reports")
        self.scheduler.every(_OUTBOX_SAFETY_SWEEP_SECONDS, self._kick_outbox, name="outbox-sweep")
        self.scheduler.every(settings.scheduler_interval_seconds, self._fire_timers, name="timer-sweep")
        self.scheduler.every(_DIGEST_SWEEP_SECONDS, self._send_digests, name="daily-digest")
        self.scheduler.every(_USERGROUP_REFRESH_SECONDS, self.usergroups.refresh, name="usergroups")
        # What fell due while Baton was down goes out once, now.
        caught_up = await self.service.timer_sweep.fire_due_timers()
        if caught_up:
            log.info("caught up on %s reminders, escalations and deadlines that fell due while stopped", caught_up)
        self._sender_task = asyncio.create_task(self.sender.run(), name="outbox-sender")
        self.scheduler.start()
        gc.collect()
        gc.freeze()  # start-up's long-lived objects leave the collector's view: shorter full collections
        log.info(
            "baton started: workflows=%s slack_api=%s database=%s",
            ",".join(catalog.names()),
            settings.slack_api_url,
            redacted(settings.database_url),
        )

    def _build_bolt(self) -> AsyncApp:
        secret = self.settings.slack_signing_secret
        app = AsyncApp(
            client=self.client,
            signing_secret=secret.get_secret_value() if secret else None,
            # Slack's answer goes out when a listener returns, after what it changed is committed (an answer is
            # a promise); the Slack-only work that follows goes to self.followups.
            process_before_response=True,
            # The door (bot/inbound.py) has verified the signature and timestamp of every HTTP request over the
            # raw bytes before Bolt sees it; Socket Mode requests carry none.
            request_verification_enabled=False,
        )
        metrics, shared = self.metrics, self.client

        @app.middleware
        async def _count_slack_calls(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
            """Bolt gives each request a plain client of its own: swap in one that reports its calls to /metrics
            (Baton's own, shared, when the token is its bot token: one workspace, so nothing else differs)."""
            client = context.client
            same = client.token == shared.token
            context["client"] = shared if same else CountingWebClient.like(client, on_call=metrics.slack_call)
            await next()

        seal = MetadataSeal(secret.get_secret_value() if secret else None)  # signs what Slack is to bring back
        lifecycle = AppLifecycle(self.sender.pause.pause)
        people = PeopleEvents(Departures(self.service), self.profiles.note_zone)
        register_listeners(
            app,
            self.service,
            self.followups,
            seal,
            reports=self.reports,
            maps=self.maps,
            lifecycle=lifecycle,
            people=people,
            channels=ChannelEvents(
                ChannelNotices(
                    self.store,
                    lambda: self.service.catalog,
                    self.clock,
                    admins=self.settings.baton_admins,
                    on_commit=self.sender.kick,
                )
            ),
        )
        followups = self.followups

        @app.error
        async def _failed(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> BoltResponse:
            """Whatever failed, the person sees that it did (and an event is delivered again)."""
            log.error("listener failed: %s", error, exc_info=error)
            target = failure_note_target(body)
            if target is not None:
                user_id, channel_id = target
                followups.later(tell(client, channel_id, user_id, FAILURE_NOTE), what="failure note")
            return failure_answer(body)

        return app

    async def _render_home(self, user_id: str) -> dict[str, Any]:
        return home_view(await self.service.screens.home(user_id))

    async def _kick_outbox(self) -> None:
        self.sender.kick()

    async def _fire_timers(self) -> None:
        await self.service.timer_sweep.fire_due_timers()

    async def _send_digests(self) -> None:
        await self.service.digests.send_digests()

    async def _send_weekly_reports(self) -> None:
        await self.reports.send_weekly_reports(self.client)

    async def tick(self) -> None:
        """Do all time-driven work that is due now (the sandbox calls this after moving its clock)."""
        await self._fire_timers()
        await self._send_digests()
        await self._send_weekly_reports()
        await self._kick_outbox()

    def web_app(self) -> web.Application:
        """The HTTP surface: Slack's request URL and a health check."""
        settings = self.settings
        application = web.Application(
            client_max_size=settings.http_max_body_bytes, middlewares=[self._refuse_while_draining]
        )
        secret = settings.slack_signing_secret
        inbound = SlackInbound(
            signing_secret=secret.get_secret_value() if secret else None,
            limits=InboundLimits(settings.http_max_body_bytes, settings.http_read_timeout_seconds),
            dispatch=self._dispatch,
            on_turned=self._turned_away,
            on_app_rate_limited=self.metrics.app_rate_limited.inc,
        )
        application.router.add_post("/slack/events", inbound.handle)
        application.router.add_get("/healthz", health_for_anyone(self._health, self.settings.metrics_token))
        application.router.add_get("/readyz", self._ready)
        application.router.add_get("/metrics", metrics_for_operators(self._metrics, self.settings.metrics_token))
        api = StartApi(
            self.service,
            settings.api_scopes,
            observe=self.metrics.observe_request,
            read_timeout_seconds=settings.http_read_timeout_seconds,
        )
        application.router.add_post("/api/workflows/{name}/start", api.start)
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
        if delivery is not None and await self.service.seen(delivery):
            log.info("duplicate event ignored: %s", delivery)
            self.metrics.observe_request(kind, 200, time.perf_counter() - started)
            return BoltResponse(status=200, body="")
        with self.tracing.slack_request(kind) as span, self.sender.answering.request():  # sends give way meanwhile
            bolt_response = await self.bolt.async_dispatch(bolt_request)  # returns once the work is committed
            if span is not None:
                span.set_attribute("http.response.status_code", bolt_response.status)
        if delivery is not None and bolt_response.status == 200:
            await self.service.first_sighting(delivery)  # only once its work is committed and answered
        self.metrics.observe_request(kind, bolt_response.status, time.perf_counter() - started)
        return bolt_response

    def _turned_away(self, status: int) -> None:
        self.metrics.observe_request("refused", status)

    async def _health(self, _request: web.Request) -> web.Response:
        try:
            async with self._probed_store.transaction(read_only=True) as work:
                depth = await work.outbox_depth()
        except Exception as error:  # health must answer, whatever is broken
            return web.json_response({"ok": False, "store": str(error)}, status=503)
        running = self._sender_task is not None and not self._sender_task.done()
        scheduler = scheduler_health(self.scheduler.runs, running=self.scheduler.running, sweep="timer-sweep")
        ok = running and self.scheduler.running
        paused = self.sender.pause.paused
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
        reason = await readiness(self._probed_store, self.settings.database_url, stopping=self.stopping)
        if reason is None:
            return web.json_response({"ready": True})
        return web.json_response({"ready": False, "reason": reason}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await self.metrics.scrape(self.store, self.scheduler.runs, self.clock.now())
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def serve(self, host: str, port: int) -> int:
        """Listen for Slack on host:port; return the bound port (useful with port 0)."""
        self._runner = web.AppRunner(
            self.web_app(),
            access_log=None,
            shutdown_timeout=DRAIN_SECONDS,
            keepalive_timeout=self.settings.http_idle_timeout_seconds,  # also bounds a request's header time
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

    async def _stop_sender(self, sender: asyncio.Task[None]) -> bool:
        """Let the sender finish within DRAIN_SECONDS/2. Past that, the Slack calls already made still get their
        HTTP timeout to return and be marked sent (cancelling one would post its message again after restart);
        what is still queued stays pending, its claims handed back."""
        done, _ = await asyncio.wait({sender}, timeout=DRAIN_SECONDS / 2)
        if done:
            return not sender.cancelled() and sender.exception() is None
        log.warning("stopping: the outbox sender did not finish in time; waiting for the Slack calls under way")
        done, _ = await asyncio.wait({sender}, timeout=self.settings.slack_api_timeout_seconds + 1)
        if not done:
            sender.cancel()
            await asyncio.wait({sender})
        return False

    async def stop(self) -> bool:
        """Stop gracefully: stop taking requests, let those in flight finish (each is committed before it is
        answered), let follow-ups, sweeps and the sender finish their calls, then close the store. True when
        everything finished within its time; False when something had to be cut short (nothing committed is
        lost either way: unsent messages stay in the outbox, handed back for the next start).
        With STOP_NOTICE_SECONDS, /readyz answers 503 for that long first while requests are still served, so that
        a load balancer stops sending before the port closes."""
        self.stopping = True
        if self._runner is not None and self.settings.stop_notice_seconds > 0:
            log.info("stopping: not ready; still serving for %gs", self.settings.stop_notice_seconds)
            await asyncio.sleep(self.settings.stop_notice_seconds)
        self.draining = True
        clean = True
        if self._runner is not None:
            started = time.monotonic()
            await self._runner.cleanup()  # closes the port, waits up to DRAIN_SECONDS for requests in flight
            clean = time.monotonic() - started < DRAIN_SECONDS
        clean = await self.followups.drain(timeout=DRAIN_SECONDS / 2) and clean
        clean = await self.scheduler.stop(timeout=DRAIN_SECONDS / 2) and clean
        try:
            await asyncio.wait_for(self.profiles.wait(), timeout=DRAIN_SECONDS / 2)
        except TimeoutError:
            clean = False
            log.warning("stopping: profile look-ups did not finish in time; they are dropped")
        self.sender.stop()
        if self._sender_task is not None:
            clean = await self._stop_sender(self._sender_task) and clean
        await self.store.close()
        if self._http is not None:
            await self._http.close()
        self.tracing.shutdown()
        return clean


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
