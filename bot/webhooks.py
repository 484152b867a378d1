"""Outgoing webhooks: signed JSON about a request's progress, queued as outbox rows and POSTed by the sender.

Each delivery carries `X-Baton-Timestamp` (Unix seconds) and `X-Baton-Signature: sha256=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>` keyed with the secret in the environment variable the workflow file
names (`secret_env`). The secret is read when sending, so it is never stored in the database. Receivers
should check the signature, refuse old timestamps, and use `X-Baton-Delivery` to drop repeated deliveries
(delivery is at least once).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.engine import Event, Instance, WorkflowDefinition
from bot.engine.integrations import WebhookEvent, is_batons_secret
from bot.store import OutboxMessage

__all__ = [
    "FINISH_EVENTS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WEBHOOK_METHOD",
    "WebhookOutcome",
    "WebhookPost",
    "is_public_address",
    "post_webhook",
    "sign",
    "webhook_messages",
    "webhook_sender",
]

log = logging.getLogger(__name__)

WEBHOOK_METHOD = "webhook"
SIGNATURE_HEADER = "X-Baton-Signature"
TIMESTAMP_HEADER = "X-Baton-Timestamp"
DELIVERY_HEADER = "X-Baton-Delivery"
_TIMEOUT = aiohttp.ClientTimeout(total=10)
_STEP_EVENTS = {"task_completed", "task_approved", "task_rejected", "changes_requested", "wait_over"}
FINISH_EVENTS = frozenset({"instance_completed", "instance_rejected", "instance_cancelled", "instance_failed"})
_RETRYABLE_STATUS = {408, 409, 425, 429}


def _webhook_event(kind: str) -> WebhookEvent | None:
    if kind == "instance_started":
        return WebhookEvent.STARTED
    if kind in _STEP_EVENTS:
        return WebhookEvent.STEP_DONE
    if kind in FINISH_EVENTS:
        return WebhookEvent.FINISHED
    return None


def _payload(event_name: WebhookEvent, event: Event, instance: Instance, delivery: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "delivery": delivery,
        "event": event_name.value,
        "at": event.at.isoformat(),
        "workflow": instance.workflow,
        "instance": {
            "id": instance.id,
            "title": instance.title,
            "status": instance.status.value,
            "requester": instance.requester,
            "created_at": instance.created_at.isoformat(),
            "form": instance.form,
        },
    }
    if event_name is WebhookEvent.STEP_DONE:
        task = instance.task(event.task_id) if event.task_id else None
        payload["step"] = {
            "id": task.step_id if task else event.data.get("step"),
            "task_id": event.task_id,
            "title": task.title if task else None,
            "outcome": "elapsed" if event.kind == "wait_over" else event.kind.removeprefix("task_"),
            "by": event.actor,
        }
        if event.kind == "wait_over":
            payload["step"]["waited_seconds"] = event.data.get("waited_seconds")
    if event_name is WebhookEvent.FINISHED:
        payload["outcome"] = instance.status.value
        payload["by"] = event.actor
    return payload


def webhook_messages(
    definition: WorkflowDefinition, instance: Instance, events: Iterable[Event]
) -> list[OutboxMessage]:
    """The webhook deliveries a transition's events call for, as outbox rows (one conversation per URL)."""
    if not definition.webhooks:
        return []
    messages = []
    for event in events:
        name = _webhook_event(event.kind)
        if name is None or _decides_an_extension(instance, event):
            continue
        for hook in definition.webhooks:
            if name not in hook.events:
                continue
            delivery = str(uuid.uuid4())
            body = json.dumps(_payload(name, event, instance, delivery), separators=(",", ":"), default=str)
            messages.append(
                OutboxMessage(
                    conversation=hook.url,
                    method=WEBHOOK_METHOD,
                    args={"url": hook.url, "body": body, "secret_env": hook.secret_env, "delivery": delivery},
                    instance_id=instance.id,
                )
            )
    return messages


def _decides_an_extension(instance: Instance, event: Event) -> bool:
    """A yes or no to more time on a wait is not a step done: the wait's own `wait_over` is, when it comes."""
    task = instance.task(event.task_id) if event.task_id else None
    return task is not None and task.extension is not None


def sign(secret: str, timestamp: str, body: str) -> str:
    """`sha256=<hex>`: the HMAC-SHA256 of `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class WebhookOutcome:
    """How one POST went: delivered, worth retrying, or refused for good (`permanent`)."""

    ok: bool
    error: str | None = None
    permanent: bool = False


def is_public_address(address: str) -> bool:
    """True for an internet address; False for loopback, private, link-local (cloud metadata), multicast, …"""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


class _CheckedResolver(AbstractResolver):
    """Resolve a webhook's host, and refuse it when an address is not public: the addresses checked are the
    ones connected to, so a name that resolves differently the second time (DNS rebinding) gains nothing."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self.refused: str | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        results: list[ResolveResult] = []
        for info_family, _type, proto, _name, address in infos:
            ip = str(address[0])
            if not self._allow_private and not is_public_address(ip):
                self.refused = ip
                raise OSError(f"{host} resolves to {ip}, which is not a public address")
            results.append(
                ResolveResult(
                    hostname=host, host=ip, port=int(address[1]), family=info_family, proto=proto, flags=0
                )
            )
        return results

    async def close(self) -> None:
        return None


WebhookPost = Callable[[dict[str, Any], datetime], Awaitable[WebhookOutcome]]
"""What the outbox calls to deliver one queued webhook: `webhook_sender()`, or the sandbox's recorder."""


def webhook_sender(
    *, allow_private: bool = False, trace_headers: Callable[[], dict[str, str]] = dict
) -> WebhookPost:
    """The POST the outbox uses; `allow_private` (WEBHOOK_ALLOW_PRIVATE_ADDRESSES) lets webhooks reach
    loopback, private and link-local addresses, which are refused by default; `trace_headers` adds the trace
    context (`traceparent`) of the span the POST is made in."""

    async def send(args: dict[str, Any], now: datetime) -> WebhookOutcome:
        return await post_webhook(args, now, allow_private=allow_private, extra_headers=trace_headers())

    return send


async def post_webhook(
    args: dict[str, Any],
    now: datetime,
    *,
    allow_private: bool = False,
    extra_headers: Mapping[str, str] | None = None,
) -> WebhookOutcome:
    """POST one queued delivery, signed now. 2xx is delivered; 3xx (never followed) and 4xx (but 408/409/425/
    429) fail for good, and so do a private destination and a secret that is one of Baton's own."""
    url, body, secret_name = str(args.get("url", "")), str(args.get("body", "")), str(args.get("secret_env", ""))
    if is_batons_secret(secret_name):  # queued before the workflow file was refused at load
        log.error("webhook to %r refused: its secret_env %s is one of Baton's own secrets", url[:200], secret_name)
        return WebhookOutcome(False, "secret_refused", permanent=True)
    try:
        target = URL(url)
    except ValueError:
        return WebhookOutcome(False, "bad_url", permanent=True)
    if target.scheme not in ("http", "https") or not target.host:
        return WebhookOutcome(False, "bad_url", permanent=True)
    secret = os.environ.get(secret_name)
    if not secret:
        log.error("webhook secret %s is not set; delivery to %s waits for it", secret_name, url)
        return WebhookOutcome(False, "secret_not_set")
    timestamp = str(int(now.timestamp()))
    headers = {
        **(extra_headers or {}),
        "Content-Type": "application/json",
        "User-Agent": "Baton-Webhooks/1",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: str(args.get("delivery", "")),
    }
    if not allow_private and _is_ip_literal(target.host) and not is_public_address(target.host):
        log.error("webhook to %r refused: %s is not a public address", url[:200], target.host)
        return WebhookOutcome(False, "private_address", permanent=True)
    resolver = _CheckedResolver(allow_private=allow_private)  # names: checked as resolved, for the connection
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT, connector=aiohttp.TCPConnector(resolver=resolver)) as session,
            session.post(target, data=body.encode(), headers=headers, allow_redirects=False) as response,
        ):
            status = response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        if resolver.refused is not None:
            log.error("webhook to %r refused: %s is not a public address", url[:200], resolver.refused)
            return WebhookOutcome(False, "private_address", permanent=True)
        return WebhookOutcome(False, f"network: {type(error).__name__}")
    if 200 <= status < 300:
        return WebhookOutcome(True)
    permanent = 300 <= status < 400 or (400 <= status < 500 and status not in _RETRYABLE_STATUS)
    return WebhookOutcome(False, f"http_{status}", permanent=permanent)
