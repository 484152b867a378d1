"""A request's own callback: when a request started over the API ends, its signed outcome is POSTed to the URL
the caller gave, through the outbox like every webhook (same signature, same retries, same address guard)."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Sequence

from yarl import URL

from bot.engine import Event, Instance, WorkflowDefinition
from bot.request_view import request_view
from bot.store import ApiOrigin, OutboxMessage, UnitOfWork
from bot.webhooks import FINISH_EVENTS, WEBHOOK_METHOD, is_public_address

__all__ = ["callback_messages", "callback_url_problem", "ending_callbacks", "ending_callbacks_of"]

_LOOPBACK_NAMES = {"localhost"}


def callback_url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why a caller's callback URL is refused, or None: https to a public host; plain http and loopback, private
    or link-local addresses only where webhooks may reach them (WEBHOOK_ALLOW_PRIVATE_ADDRESSES, tests and the
    sandbox), and then http only to loopback. Names are checked again as they resolve, when sending."""
    if len(url) > 2000:
        return "a callback_url is at most 2000 characters"
    try:
        target = URL(url)
    except ValueError:
        return "callback_url is not a URL"
    if target.scheme not in ("http", "https") or not target.host or not target.is_absolute():
        return "callback_url must be an https:// URL"
    if target.user is not None or target.password is not None:
        return "callback_url may not carry a user name or password; callbacks are signed instead"
    host = target.host
    loopback = host in _LOOPBACK_NAMES or _is_loopback(host)
    if target.scheme == "http" and not (allow_private and loopback):
        return "callback_url must use https (plain http only to loopback, where private addresses are allowed)"
    if not allow_private and (loopback or (_is_address(host) and not is_public_address(host))):
        return f"callback_url points at {host}, which is not a public address"
    return None


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return _is_address(host) and ipaddress.ip_address(host).is_loopback


def callback_messages(
    origin: ApiOrigin | None, definition: WorkflowDefinition, instance: Instance, events: Iterable[Event]
) -> list[OutboxMessage]:
    """The callback delivery a transition that ends the request calls for (none without a callback_url)."""
    caller = origin.caller if origin is not None else None
    if caller is None or caller.callback_url is None or caller.callback_secret_env is None:
        return []
    ending = next((event for event in events if event.kind in FINISH_EVENTS), None)
    if ending is None:
        return []
    delivery = str(uuid.uuid4())
    payload = {
        "delivery": delivery,
        "event": "finished",
        "at": ending.at.isoformat(),
        "outcome": instance.status.value,
        "by": ending.actor or instance.finished_by or _last_to_act(instance),
        "request": request_view(definition, instance),
    }
    body = json.dumps(payload, separators=(",", ":"), default=str)
    args = {"url": caller.callback_url, "body": body, "secret_env": caller.callback_secret_env, "delivery": delivery}
    return [OutboxMessage(caller.callback_url, WEBHOOK_METHOD, args, instance_id=instance.id)]


async def ending_callbacks(
    work: UnitOfWork, definition: WorkflowDefinition, instance: Instance, events: Sequence[Event]
) -> list[OutboxMessage]:
    """`callback_messages` for a transition, looking the request's API origin up only when it ends."""
    if not any(event.kind in FINISH_EVENTS for event in events):
        return []
    return callback_messages(await work.api_origin(instance.id), definition, instance, events)


async def ending_callbacks_of(
    work: UnitOfWork, outcomes: Sequence[tuple[WorkflowDefinition, Instance, Sequence[Event]]]
) -> list[list[OutboxMessage]]:
    """`ending_callbacks` of each of several transitions, looking the API origins up in one query."""
    ending = [instance.id for _d, instance, events in outcomes if any(e.kind in FINISH_EVENTS for e in events)]
    origins = await work.api_origins(ending) if ending else {}
    return [
        callback_messages(origins.get(instance.id), definition, instance, events)
        if any(event.kind in FINISH_EVENTS for event in events)
        else []
        for definition, instance, events in outcomes
    ]


def _last_to_act(instance: Instance) -> str | None:
    """Whose decision ended a request that ended by completing its last step."""
    acted = [task for task in instance.tasks if task.acted_at is not None]
    return max(acted, key=lambda task: task.acted_at or instance.created_at).acted_by if acted else None
