"""Optional OpenTelemetry traces: a span per Slack request, store unit of work, outbox send and webhook.

Off unless the `otel` extra is installed and the standard OTEL_* variables ask for traces
(OTEL_TRACES_EXPORTER, or an OTLP endpoint); when off, nothing here wraps anything and Baton runs unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from contextvars import Context, ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from bot.engine.events import Event, Transition
from bot.engine.instance import Instance
from bot.store import Store, UnitOfWork
from bot.store.records import PendingMessage
from bot.webhooks import WebhookOutcome, WebhookPost

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = ["Tracing", "tracing_from_environment"]

log = logging.getLogger(__name__)

WORKFLOW, REQUEST, STEP = "baton.workflow", "baton.request", "baton.step"
_request_span: ContextVar[Span | None] = ContextVar("baton_request_span", default=None)


class Tracing:
    """Where Baton's spans go: a tracer provider's tracer, or nowhere (`Tracing(None)`)."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self._provider = provider
        self._tracer: Tracer | None = provider.get_tracer("baton") if provider is not None else None

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, str | int | bool] | None = None) -> Iterator[Span | None]:
        """A span around the block (None when tracing is off); an exception out of the block marks it failed."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(name, attributes=dict(attributes or {})) as span:
            yield span

    @contextmanager
    def slack_request(self, request_type: str) -> Iterator[Span | None]:
        """The span of one Slack request, from receipt to answer: what its units of work learn lands on it."""
        with self.span("slack.request", {"slack.request_type": request_type}) as span:
            token = _request_span.set(span)
            try:
                yield span
            finally:
                _request_span.reset(token)

    def decided(self, task_id: str, transition: Transition) -> None:
        """Name, on the Slack request being answered, the request and step that its command on a task changed
        (the unit of work that recorded it may have recorded others' too: clicks are committed together)."""
        request = _request_span.get()
        if request is None:  # tracing is off, or this command came from no Slack request
            return
        instance = transition.instance
        task = instance.task(task_id)
        attributes: dict[str, str | int] = {WORKFLOW: instance.workflow, REQUEST: instance.id}
        if task is not None:
            attributes[STEP] = task.step_id
        _note(request, attributes)

    def batched(self, callers: Sequence[Context]) -> None:
        """Link the unit of work committing several callers' commands together to each caller's Slack request,
        so a trace leads from a click to the transaction that recorded it (that span has no single parent)."""
        if self._tracer is None:
            return
        from opentelemetry.trace import get_current_span

        unit = get_current_span()
        if not unit.is_recording():
            return
        for caller in callers:
            request = caller.get(_request_span)
            if request is not None:
                unit.add_link(request.get_span_context())

    def outbox_send(self, pending: PendingMessage) -> AbstractContextManager[Span | None]:
        """The span of one outbox send (a Slack call or a webhook), with the request it belongs to."""
        attributes: dict[str, str | int | bool] = {"outbox.method": pending.message.method, "outbox.id": pending.id}
        if pending.message.instance_id is not None:
            attributes[REQUEST] = pending.message.instance_id
        return self.span("outbox.send", attributes)

    def trace_headers(self) -> dict[str, str]:
        """W3C trace context (`traceparent`) for an outgoing call made inside the current span; {} when off."""
        if self._tracer is None:
            return {}
        from opentelemetry.propagate import inject

        carrier: dict[str, str] = {}
        inject(carrier)
        return carrier

    def store(self, store: Store) -> Store:
        """The store, with a span per unit of work when tracing is on; the store itself when it is off."""
        return store if self._tracer is None else TracedStore(store, self)

    def webhooks(self, post: WebhookPost) -> WebhookPost:
        """The webhook POST, in a span of its own when tracing is on (its traceparent names that span)."""
        if self._tracer is None:
            return post

        async def traced(args: dict[str, Any], now: Any) -> WebhookOutcome:
            with self.span("webhook.post", {"webhook.delivery": str(args.get("delivery", ""))}) as span:
                outcome = await post(args, now)
                if span is not None:
                    span.set_attribute("webhook.outcome", outcome.error or "delivered")
                return outcome

        return traced

    def shutdown(self) -> None:
        """Send what is still buffered, then stop."""
        if self._provider is not None:
            self._provider.shutdown()


def _note(span: Span | None, attributes: Mapping[str, str | int]) -> None:
    if span is not None and span.is_recording():
        span.set_attributes(dict(attributes))


class TracedStore:
    """A store whose every unit of work is a span, naming the workflow, request and step it touched."""

    def __init__(self, store: Store, tracing: Tracing) -> None:
        self._store = store
        self._tracing = tracing

    @property
    def outbox_lease(self) -> timedelta | None:
        return self._store.outbox_lease

    @property
    def writers_at_once(self) -> int:
        return self._store.writers_at_once

    async def open(self) -> None:
        await self._store.open()

    async def close(self) -> None:
        await self._store.close()

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._traced_transaction(read_only=read_only)

    @asynccontextmanager
    async def _traced_transaction(self, *, read_only: bool) -> AsyncIterator[UnitOfWork]:
        with self._tracing.span("store.unit_of_work", {"store.read_only": read_only}) as span:
            async with self._store.transaction(read_only=read_only) as work:
                yield cast(UnitOfWork, _TracedUnitOfWork(work, span))

    def reading(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._store.reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _TracedUnitOfWork:
    """A unit of work that tells its span (and the Slack request's) which request and step it changed."""

    def __init__(self, work: UnitOfWork, span: Span | None) -> None:
        self._work = work
        self._span = span
        self._saved: dict[int, Instance] = {}

    async def save_instance(self, instance: Instance) -> None:
        self._learn(instance)
        await self._work.save_instance(instance)

    async def save_instances(self, instances: Sequence[Instance]) -> None:
        for instance in instances:
            self._learn(instance)
        await self._work.save_instances(instances)

    async def append_events(self, instance_id: int, events: Sequence[Event]) -> None:
        for event in events:
            self._learn_step(instance_id, event)
        await self._work.append_events(instance_id, events)

    async def append_history(self, lines: Sequence[tuple[int, Event]]) -> None:
        for instance_id, event in lines:
            self._learn_step(instance_id, event)
        await self._work.append_history(lines)

    def _learn_step(self, instance_id: int, event: Event) -> None:
        instance = self._saved.get(instance_id)
        task = instance.task(event.task_id) if instance is not None and event.task_id else None
        if task is not None:
            self._tell({STEP: task.step_id})

    def _learn(self, instance: Instance) -> None:
        self._saved[instance.id] = instance
        self._tell({WORKFLOW: instance.workflow, REQUEST: instance.id})

    def _tell(self, attributes: Mapping[str, str | int]) -> None:
        _note(self._span, attributes)
        _note(_request_span.get(), attributes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._work, name)


def _wants_traces(environment: Mapping[str, str]) -> bool:
    if environment.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environment.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(environment.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environment.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def tracing_from_environment(environment: Mapping[str, str] | None = None) -> Tracing:
    """Tracing as the OTEL_* variables say: OTEL_TRACES_EXPORTER (otlp, console; default otlp when an
    OTEL_EXPORTER_OTLP_*ENDPOINT is set), OTEL_SERVICE_NAME (default baton), OTEL_TRACES_SAMPLER and the rest as
    the SDK reads them. Off when none asks for traces, or when the `otel` extra is not installed (said once)."""
    environment = os.environ if environment is None else environment
    if not _wants_traces(environment):
        return Tracing(None)
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
    except ImportError:
        log.warning("OTEL_* asks for traces but OpenTelemetry is not installed (pip install 'baton[otel]'); no traces")
        return Tracing(None)
    resource = Resource.create({} if environment.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "baton"})
    provider = TracerProvider(resource=resource)
    names = [name.strip() for name in environment.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")]
    for name in names:
        exporter: SpanExporter
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                log.warning("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http; no traces")
                continue
            exporter = OTLPSpanExporter()
        else:
            log.warning("OTEL_TRACES_EXPORTER=%s is not one Baton knows (otlp, console); ignored", name[:40])
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("traces: on (%s)", ",".join(names))
    return Tracing(provider)
