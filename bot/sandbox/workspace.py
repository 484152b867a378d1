"""The sandbox's fake workspace: seeding people from org.yaml, reading what the page entered, time travel targets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.emulator import SlackEmulator
from bot.emulator.payloads import date_value, number_value, plain_text_value, static_select_value, user_value
from bot.engine import OrgChart

__all__ = [
    "SANDBOX_CHANNELS",
    "WORKING_MORNING_HOUR",
    "element_in",
    "next_working_morning",
    "seed_people",
    "view_state",
    "zone",
]

SANDBOX_CHANNELS: Final = (("C0GENERAL", "general"), ("C0FINANCE", "finance"))
WORKING_MORNING_HOUR: Final = 9


def zone(name: str | None) -> ZoneInfo:
    """The time zone called `name`, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def seed_people(emulator: SlackEmulator, org: OrgChart) -> list[str]:
    """Make every person of the org chart a workspace member, plus the sandbox's channels; return their ids."""
    for user_id, person in org.people.items():
        emulator.add_user(
            user_id,
            name=person.name.split()[0].lower(),
            real_name=person.name,
            tz=zone(person.tz).key,
            email=person.email,
        )
    for channel_id, name in SANDBOX_CHANNELS:
        if emulator.channel(channel_id) is None:
            emulator.add_channel(channel_id, name)
    return list(org.people)


def next_working_morning(now: datetime, tz: ZoneInfo) -> datetime:
    """The next 09:00 on a weekday (Mon–Fri) in `tz` strictly after `now`, in UTC."""
    local = now.astimezone(tz)
    morning = local.replace(hour=WORKING_MORNING_HOUR, minute=0, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    while morning.weekday() >= 5:
        morning += timedelta(days=1)
    return morning.astimezone(UTC)  # adding days kept the wall time; the zone gives that day's offset


def element_in(blocks: Iterable[Any], block_id: str, action_id: str) -> dict[str, Any] | None:
    """The interactive element `action_id` of the block `block_id` (action ids repeat across blocks)."""
    for block in blocks:
        if not isinstance(block, dict) or str(block.get("block_id", "")) != block_id:
            continue
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        elements += [block[key] for key in ("accessory", "element") if key in block]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def view_state(view: Mapping[str, Any], entered: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The ``state.values`` Slack would send for `view`, from the raw strings the page collected by block id."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element")
        if not isinstance(element, dict):
            continue
        block_id = str(block.get("block_id", ""))
        raw = entered.get(block_id)
        value = raw if isinstance(raw, str) and raw.strip() else None
        state[block_id] = {str(element.get("action_id", "")): _element_state(element, value)}
    return state


def _element_state(element: Mapping[str, Any], value: str | None) -> dict[str, Any]:
    kind = str(element.get("type", ""))
    if kind == "plain_text_input":
        return plain_text_value(value)
    if kind == "number_input":
        return number_value(value)
    if kind == "datepicker":
        return date_value(value)
    if kind == "users_select":
        return user_value(value)
    if kind == "static_select":
        return static_select_value(value, _option_label(element, value))
    return {"type": kind, "value": value}


def _option_label(element: Mapping[str, Any], value: str | None) -> str | None:
    for option in element.get("options") or []:
        if isinstance(option, dict) and option.get("value") == value:
            text = option.get("text")
            return str(text.get("text")) if isinstance(text, dict) else value
    return value
