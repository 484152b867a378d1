"""Operations metrics in Prometheus' text format, on a registry of each Baton's own (never the global one)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import SecretStr

from bot.scheduler import JobRun
from bot.store import Store
from bot.store.reporting import OpsSnapshot

__all__ = [
    "CONTENT_TYPE",
    "BatonMetrics",
    "health_for_anyone",
    "metrics_for_operators",
    "outcome_of",
    "request_type",
    "scheduler_health",
    "shows_operations",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
_REQUEST_TYPES = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion"}
)


def request_type(body: Mapping[str, Any] | None) -> str:
    """A bounded label for a Slack request: command, event, block_actions, view_submission, … or other."""
    if not isinstance(body, Mapping):
        return "other"
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind == "event_callback":
        return "event"
    if kind == "url_verification":
        return "url_verification"
    return str(kind) if kind in _REQUEST_TYPES else "other"


def outcome_of(status: int) -> str:
    if status < 300:
        return "ok"
    if status in (401, 403):
        return "refused"
    return "client_error" if status < 500 else "error"


class BatonMetrics:
    """Counters Baton updates as it works, and gauges read from the store at each scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "baton_requests", "HTTP requests received, by type and outcome", ["type", "outcome"], registry=r
        )
        self.ack_seconds = Histogram(
            "baton_ack_seconds",
            "Seconds from receiving a Slack request to answering it",
            ["type"],
            buckets=_ACK_BUCKETS,
            registry=r,
        )
        self.slack_calls = Counter(
            "baton_slack_api_calls", "Slack Web API calls made, by method", ["method"], registry=r
        )
        self.slack_errors = Counter(
            "baton_slack_api_errors",
            "Slack Web API calls that failed, by method and error",
            ["method", "error"],
            registry=r,
        )
        self.webhooks = Counter(
            "baton_webhook_deliveries", "Outgoing webhook attempts, by outcome", ["outcome"], registry=r
        )
        self.outbox_pending = Gauge("baton_outbox_pending", "Outbox messages waiting to be sent", registry=r)
        self.outbox_oldest = Gauge(
            "baton_outbox_oldest_pending_age_seconds",
            "Age of the oldest unsent outbox message (0 when none)",
            registry=r,
        )
        self.open_tasks = Gauge("baton_open_tasks", "Open tasks, by workflow", ["workflow"], registry=r)
        self.scheduler_lag = Gauge(
            "baton_scheduler_lag_seconds", "How late the last run of each scheduled sweep started", ["job"], registry=r
        )
        self.scheduler_last_run = Gauge(
            "baton_scheduler_last_run_timestamp_seconds", "When each scheduled sweep last started", ["job"], registry=r
        )
        self.scrape_errors = Counter("baton_metrics_store_errors", "Scrapes that could not read the store", registry=r)
        self.sending_paused = Gauge(
            "baton_sending_paused", "1 while Slack refuses Baton's token and sending waits (0 otherwise)", registry=r
        )
        self.commands_per_commit = Histogram(
            "baton_commands_per_commit",
            "Commands on tasks (clicks) committed together in one transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.app_rate_limited = Counter(
            "baton_app_rate_limited", "Minutes in which Slack dropped Baton's events (app_rate_limited)", registry=r
        )

    def slack_call(self, method: str, ok: bool, error: str | None) -> None:
        """One call to Slack (from the client) or one webhook POST (from the outbox), and how it went."""
        if method == "webhook":
            self.webhooks.labels("delivered" if ok else (error or "failed")[:40]).inc()
            return
        self.slack_calls.labels(method).inc()
        if not ok:
            self.slack_errors.labels(method, (error or "unknown")[:60]).inc()

    def observe_request(self, kind: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(kind, outcome_of(status)).inc()
        if seconds is not None:
            self.ack_seconds.labels(kind).observe(seconds)

    def update(self, snapshot: OpsSnapshot | None, runs: Mapping[str, JobRun], now: datetime) -> None:
        """Set the gauges from a fresh look at the store and the scheduler."""
        if snapshot is None:
            self.scrape_errors.inc()
        else:
            self.outbox_pending.set(snapshot.outbox_pending)
            oldest = snapshot.oldest_pending_at
            self.outbox_oldest.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
            self.open_tasks.clear()
            for workflow, count in snapshot.open_tasks.items():
                self.open_tasks.labels(workflow).set(count)
        for job, run in runs.items():
            self.scheduler_lag.labels(job).set(run.lag)
            self.scheduler_last_run.labels(job).set(run.at.timestamp())

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def scrape(self, store: Store, runs: Mapping[str, JobRun], now: datetime) -> bytes:
        """Read the store's backlog and open work, then render every metric."""
        try:
            async with store.transaction(read_only=True) as work:
                snapshot: OpsSnapshot | None = await work.ops_snapshot()
                self.sending_paused.set(0 if await work.sending_pause() is None else 1)
        except Exception:  # metrics must answer, whatever is broken; the error counter says so
            log.exception("metrics could not read the store")
            snapshot = None
        self.update(snapshot, runs, now)
        return self.render()


def scheduler_health(runs: Mapping[str, JobRun], *, running: bool, sweep: str) -> dict[str, object]:
    """For /healthz: is the scheduler running, and when did its main sweep last start (and how late)."""
    last = runs.get(sweep)
    return {
        "running": running,
        "last_sweep": last.at.isoformat() if last is not None else None,
        "lag_seconds": round(last.lag, 3) if last is not None else None,
    }


def shows_operations(request: web.Request, token: SecretStr | None) -> bool:
    """May this request see operations detail? Anyone when METRICS_TOKEN is not set, else `Bearer <token>`."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    return hmac.compare_digest(given.strip().encode(), expected) and scheme.lower() == "bearer"


def metrics_for_operators(handler: Handler, token: SecretStr | None) -> Handler:
    """/metrics: with METRICS_TOKEN set, only for `Authorization: Bearer <token>` (401 otherwise)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        if shows_operations(request, token):
            return await handler(request)
        log.warning("metrics refused: no or wrong bearer token from %s", request.remote)
        text = "/metrics needs `Authorization: Bearer <METRICS_TOKEN>`\n"
        return web.Response(status=401, text=text, headers={"WWW-Authenticate": "Bearer"})

    return answer


def health_for_anyone(handler: Handler, token: SecretStr | None) -> Handler:
    """/healthz: the detail (outbox, sender, scheduler, store error) only with METRICS_TOKEN when it is set;
    anyone else learns whether Baton is healthy (`{"ok": true}`, 200) or not (`{"ok": false}`, 503)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        response = await handler(request)
        if shows_operations(request, token):
            return response
        return web.json_response({"ok": response.status == 200}, status=response.status)

    return answer
