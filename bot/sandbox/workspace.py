"""The sandbox's fake workspace: seeding people from org.yaml, reading what the page entered, time travel targets."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.emulator import SlackEmulator
from bot.emulator.payloads import (
    checkboxes_value,
    date_value,
    datetime_value,
    email_value,
    file_input_value,
    multi_static_select_value,
    multi_users_value,
    number_value,
    plain_text_value,
    radio_value,
    rich_text_value,
    static_select_value,
    url_value,
    user_value,
)
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

UTC_ZONE: Final = ZoneInfo("UTC")
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


Attach = Callable[[str], dict[str, Any]]
"""Make an upload of the acting person from a file name the page sent; return its Slack file object."""


def view_state(
    view: Mapping[str, Any], entered: Mapping[str, Any], *, tz: ZoneInfo = UTC_ZONE, attach: Attach | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """The ``state.values`` Slack would send for `view`, from what the page collected by block id: a string per
    field, or a list of strings where the field takes several (options, people, file names). A date and time is
    the acting person's wall time in `tz`."""
    state: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "input":
            continue
        element = block.get("element")
        if not isinstance(element, dict):
            continue
        block_id = str(block.get("block_id", ""))
        raw = entered.get(block_id)
        if isinstance(raw, list):
            chosen = [item for item in raw if isinstance(item, str) and item.strip()]
            state[block_id] = {str(element.get("action_id", "")): _list_state(element, chosen, attach)}
            continue
        value = raw if isinstance(raw, str) and raw.strip() else None
        state[block_id] = {str(element.get("action_id", "")): _element_state(element, value, tz)}
    return state


def _list_state(element: Mapping[str, Any], chosen: list[str], attach: Attach | None) -> dict[str, Any]:
    kind = str(element.get("type", ""))
    if kind == "multi_users_select":
        return multi_users_value(chosen)
    if kind == "checkboxes":
        return checkboxes_value((value, _option_label(element, value) or value) for value in chosen)
    if kind == "file_input":
        return file_input_value([attach(name) for name in chosen] if attach else [])
    return multi_static_select_value((value, _option_label(element, value) or value) for value in chosen)


def _element_state(element: Mapping[str, Any], value: str | None, tz: ZoneInfo) -> dict[str, Any]:
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
    if kind == "radio_buttons":
        return radio_value(value, _option_label(element, value))
    if kind == "datetimepicker":
        return datetime_value(_wall_time(value, tz))
    if kind == "email_text_input":
        return email_value(value)
    if kind == "url_text_input":
        return url_value(value)
    if kind == "rich_text_input":
        return rich_text_value(value)
    if kind in ("multi_static_select", "multi_users_select", "checkboxes", "file_input"):
        return _list_state(element, [value] if value else [], None)
    return {"type": kind, "value": value}


def _wall_time(value: str | None, tz: ZoneInfo) -> int | None:
    """`2026-12-24T15:00` (a browser's datetime-local) in `tz`, as the Unix time Slack's datetimepicker sends."""
    if value is None:
        return None
    try:
        return int(datetime.fromisoformat(value).replace(tzinfo=tz).timestamp())
    except ValueError:
        return None


def _option_label(element: Mapping[str, Any], value: str | None) -> str | None:
    for option in element.get("options") or []:
        if isinstance(option, dict) and option.get("value") == value:
            text = option.get("text")
            return str(text.get("text")) if isinstance(text, dict) else value
    return value
