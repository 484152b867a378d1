"""Traces (the `otel` extra): a click that decides a step makes a Slack request span naming the workflow, request
and step, with its units of work inside; the outbox send and the webhook it causes have spans of their own, and
the webhook carries their traceparent. Without OTEL_* settings, or without the extra, there are no traces."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bot.app import Baton
from bot.emulator import SlackDriver, SlackEmulator
from bot.service import Started
from bot.tracing import Tracing, tracing_from_environment

from .conftest import SIGNING_SECRET, baton_settings
from .story import copy_workflows, task_message

ALICE, MARIA = "U0ALICE", "U0MARIA"  # Maria is Alice's manager in the shipped org.yaml
HOOK_SECRET_ENV = "BATON_TEST_TRACE_HOOK_SECRET"


@pytest.fixture
async def webhook_headers() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A receiver of webhooks on 127.0.0.1: its URL and the headers of each delivery."""
    received: list[dict[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(dict(request.headers))
        return web.Response(status=204)

    application = web.Application()
    application.router.add_post("/hook", receive)
    runner = web.AppRunner(application, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    finally:
        await runner.cleanup()


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_a_click_that_decides_a_step_is_one_request_span_with_its_units_of_work_sends_and_webhook(
    tmp_path: Path,
    slack: SlackEmulator,
    webhook_headers: tuple[str, list[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook_url, deliveries = webhook_headers
    monkeypatch.setenv(HOOK_SECRET_ENV, "a-webhook-secret-for-traces")
    workflows = copy_workflows(tmp_path / "workflows", traced=f"""
name: traced
title: Traced
form: [{{id: item, label: Item}}]
webhooks:
  - {{url: "{hook_url}", events: step_done, secret_env: {HOOK_SECRET_ENV}}}
steps:
  - {{id: manager_ok, type: approval, title: "Approve {{form.item}}", assignee: requester.manager}}
""")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = baton_settings(tmp_path, slack, workflows_dir=workflows).model_copy(
        update={"webhook_allow_private_addresses": True}
    )
    baton = Baton(settings, tracing=Tracing(provider))
    await baton.start()
    try:
        port = await baton.serve("127.0.0.1", 0)
        async with SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, slack) as driver:
            started = await baton.service.start("traced", ALICE, {"item": "a desk"})
            assert isinstance(started, Started)
            request_id = started.instance.id
            approval = await task_message(slack, MARIA, "task_approve")
            exporter.clear()
            response = await driver.click_button_in(approval, MARIA, "task_approve")
            assert response.status == 200
            await slack.wait_for(lambda: deliveries or None, 10, what="the step_done webhook")
            await slack.wait_for(lambda: _named(exporter.get_finished_spans(), "webhook.post") or None, 5)
    finally:
        await baton.stop()
    spans = exporter.get_finished_spans()

    (request,) = [span for span in _named(spans, "slack.request") if span.attributes.get("baton.step")]
    assert request.attributes == {
        "slack.request_type": "block_actions",
        "http.response.status_code": 200,
        "baton.workflow": "traced",
        "baton.request": request_id,
        "baton.step": "manager_ok",
    }
    assert request.context is not None
    # Clicks are committed together (bot/pipeline.py), so the unit of work that recorded this one is no single
    # click's child: a span of its own, naming the request and step it changed.
    units = _named(spans, "store.unit_of_work")
    deciding = [span for span in units if span.attributes.get("baton.step") == "manager_ok"]
    assert deciding and deciding[0].attributes["baton.request"] == request_id
    assert deciding[0].attributes["store.read_only"] is False
    assert deciding[0].parent is None
    assert request.context.span_id in {link.context.span_id for link in deciding[0].links}  # but it links to it

    sends = [span for span in _named(spans, "outbox.send") if span.attributes.get("baton.request") == request_id]
    assert {span.attributes["outbox.method"] for span in sends} >= {"chat.update", "webhook"}
    (webhook,) = _named(spans, "webhook.post")
    assert webhook.parent is not None and webhook.parent.span_id in {span.context.span_id for span in sends}
    assert webhook.attributes["webhook.outcome"] == "delivered"
    context = webhook.context
    assert deliveries[-1]["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


def test_traces_are_off_unless_the_otel_variables_ask_for_them() -> None:
    assert not tracing_from_environment({}).enabled
    assert not tracing_from_environment({"OTEL_SERVICE_NAME": "baton"}).enabled
    assert not tracing_from_environment({"OTEL_TRACES_EXPORTER": "none"}).enabled
    assert not tracing_from_environment({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}).enabled
    console = tracing_from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert console.enabled
    console.shutdown()


def test_without_the_extra_baton_starts_with_traces_off_and_says_why() -> None:
    """A process in which opentelemetry cannot be imported, asked for traces by OTEL_TRACES_EXPORTER."""
    script = (
        "import logging, sys; sys.modules['opentelemetry'] = None; logging.basicConfig(level=logging.INFO)\n"
        "import bot.app, bot.tracing\n"
        "assert not bot.tracing.tracing_from_environment({'OTEL_TRACES_EXPORTER': 'otlp'}).enabled\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "OpenTelemetry is not installed" in done.stderr
