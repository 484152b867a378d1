"""The composition root: settings -> store -> service -> outbox sender -> scheduler -> Bolt app -> HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.catalog import Catalog, load_catalog
from bot.channel_notices import ChannelNotices
from bot.clock import Clock, SystemClock
from bot.departures import Departures
from bot.http_surface import DRAIN_SECONDS, HttpSurface
from bot.metrics import (
    BatonMetrics,
)
from bot.outbox import OutboxSender
from bot.profiles import SlackProfiles
from bot.recurring import ScheduledStarts
from bot.retention import RetentionSweep
from bot.scheduler import Scheduler
from bot.service import WorkflowService
from bot.settings import Settings, slowest_slack_call
from bot.slack.app_lifecycle import AppLifecycle
from bot.slack.bolt_app import bolt_app
from bot.slack.channel_events import ChannelEvents
from bot.slack.client import CountingWebClient
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

__all__ = ["DRAIN_SECONDS", "Baton"]

log = logging.getLogger(__name__)

_OUTBOX_SAFETY_SWEEP_SECONDS = 5.0
_DIGEST_SWEEP_SECONDS = 300.0
_USERGROUP_REFRESH_SECONDS = 600.0
_REPORT_SWEEP_SECONDS = 60.0


@dataclass
class Baton:
    """One running Baton: its parts, built in order, started and stopped together."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    catalog: Catalog | None = None
    deliver_webhook: WebhookPost | None = None  # how queued webhooks go out (the sandbox keeps them instead)
    store: Store = field(init=False)
    service: WorkflowService = field(init=False)
    client: CountingWebClient = field(init=False)
    sender: OutboxSender = field(init=False)
    scheduler: Scheduler = field(init=False)
    bolt: AsyncApp = field(init=False)
    reports: ReportDesk = field(init=False)
    maps: MapDesk = field(init=False)
    scheduled_starts: ScheduledStarts = field(init=False)
    retention: RetentionSweep | None = field(init=False, default=None)  # with RETENTION_DAYS only
    metrics: BatonMetrics = field(default_factory=BatonMetrics)  # a registry per Baton, never the global one
    tracing: Tracing = field(default_factory=tracing_from_environment)  # off unless OTEL_* asks for traces
    profiles: SlackProfiles = field(init=False)
    usergroups: SlackUsergroups = field(init=False)
    followups: FollowUps = field(default_factory=FollowUps)
    http: HttpSurface = field(init=False)
    _sender_task: asyncio.Task[None] | None = field(init=False, default=None)
    _http: aiohttp.ClientSession | None = field(init=False, default=None)
    probed_store: Store = field(init=False)  # the store without tracing: health probes make no spans

    @property
    def sender_running(self) -> bool:
        return self._sender_task is not None and not self._sender_task.done()

    async def start(self) -> None:
        """Open the store and start sending; raise StoreError for an unusable database."""
        settings = self.settings
        loading = time.perf_counter()
        catalog = self.catalog or load_catalog(settings.workflows_dir, org_cache=settings.org_cache_path)
        log.info(
            "loaded %s workflows and an org of %s people in %.3fs",
            len(catalog.workflows),
            len(catalog.org.people),
            time.perf_counter() - loading,
        )
        for error in catalog.errors:
            log.error("workflow file problem: %s", error)
        self.probed_store = store_for(
            settings.database_url,
            auto_migrate=settings.auto_migrate,
            pool_size=settings.database_pool_size,
            outbox_lease_seconds=settings.outbox_lease_seconds,
        )
        self.store = self.tracing.store(self.probed_store)  # the probes' units of work make no spans
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
            on_group_commit=self.metrics.commands_per_commit.observe,
            on_decided=self.tracing.decided,
            on_batch=self.tracing.batched,
        )
        self.reports = ReportDesk(self.service, self.store, self.clock)
        self.maps = MapDesk(self.service, self.store, self.clock)
        self.scheduled_starts = ScheduledStarts(self.service, self.store)
        self.bolt = self._build_bolt()
        self.http = HttpSurface(self)
        self.scheduler = Scheduler()
        self.scheduler.every(_REPORT_SWEEP_SECONDS, self._send_weekly_reports, name="weekly-reports")
        self.scheduler.every(_OUTBOX_SAFETY_SWEEP_SECONDS, self._kick_outbox, name="outbox-sweep")
        self.scheduler.every(settings.scheduler_interval_seconds, self._fire_timers, name="timer-sweep")
        self.scheduler.every(_DIGEST_SWEEP_SECONDS, self._send_digests, name="daily-digest")
        self.scheduler.every(_USERGROUP_REFRESH_SECONDS, self.usergroups.refresh, name="usergroups")
        self.scheduler.every(settings.scheduler_interval_seconds, self._start_scheduled, name="scheduled-starts")
        if settings.retention_days is not None:
            self.retention = RetentionSweep(self.store, self.clock, days=settings.retention_days)
            self.scheduler.every(settings.retention_sweep_seconds, self._purge_expired, name="retention")
        # What fell due while Baton was down goes out once, now.
        await self._start_scheduled()
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
        app = bolt_app(self.client, self.metrics, self.followups, signing_secret=secret)
        seal = MetadataSeal(secret.get_secret_value() if secret else None)  # signs what Slack is to bring back
        notices = ChannelNotices(
            self.store,
            lambda: self.service.catalog,
            self.clock,
            admins=self.settings.baton_admins,
            on_commit=self.sender.kick,
        )
        register_listeners(
            app,
            self.service,
            self.followups,
            seal,
            reports=self.reports,
            maps=self.maps,
            lifecycle=AppLifecycle(self.sender.pause.pause),
            people=PeopleEvents(Departures(self.service), self.profiles.note_zone),
            channels=ChannelEvents(notices),
        )
        return app

    async def _render_home(self, user_id: str) -> dict[str, Any]:
        return home_view(await self.service.screens.home(user_id))

    async def _kick_outbox(self) -> None:
        self.sender.kick()

    async def _fire_timers(self) -> None:
        await self.service.timer_sweep.fire_due_timers()

    async def _send_digests(self) -> None:
        await self.service.digests.send_digests()

    async def _start_scheduled(self) -> None:
        await self.scheduled_starts.start_due()

    async def _purge_expired(self) -> None:
        if self.retention is not None:
            purged = await self.retention.purge_expired()
            if purged.requests:
                log.info("retention: %s", purged.summary())

    async def _send_weekly_reports(self) -> None:
        await self.reports.send_weekly_reports(self.client)

    async def tick(self) -> None:
        """Do all time-driven work that is due now (the sandbox calls this after moving its clock)."""
        await self._start_scheduled()
        await self._fire_timers()
        await self._send_digests()
        await self._send_weekly_reports()
        await self._kick_outbox()

    def web_app(self) -> web.Application:
        """The HTTP surface (bot/http_surface.py) as an aiohttp application, for a server of the caller's."""
        return self.http.web_app()

    async def serve(self, host: str, port: int) -> int:
        """Listen for Slack on host:port; return the bound port (useful with port 0)."""
        return await self.http.serve(host, port)

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
        clean = await self.http.close(notice_seconds=self.settings.stop_notice_seconds)
        if not await self.service.commands_settled(timeout=DRAIN_SECONDS / 2):  # clicks of requests cut short
            clean = False
            log.warning("stopping: clicks still being committed after %ss; they fail", DRAIN_SECONDS / 2)
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
