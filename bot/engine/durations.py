"""Durations written in workflow files: `30s`, `4h`, `2d`, `1h30m`, `2 business days`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "parse_duration", "format_duration"]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_COMPACT = re.compile(r"^\s*(?:(\d+)\s*w)?\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")
_WORDS = re.compile(r"^\s*(\d+)\s+(seconds?|minutes?|hours?|days?|weeks?)\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as `30s`, `4h`, `2d`, `1h30m` or `3 days`; raise ValueError otherwise."""
    if not text or not text.strip():
        raise ValueError("empty duration")
    words = _WORDS.match(text.lower())
    if words:
        if int(words.group(1)) <= 0:
            raise ValueError("a duration must be longer than zero")
        return timedelta(seconds=int(words.group(1)) * _UNIT_SECONDS[words.group(2)[0]])
    compact = _COMPACT.match(text.lower())
    if not compact or not any(compact.groups()):
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 15m, 4h, 2d, 1w or 1h30m")
    seconds = sum(
        int(amount) * _UNIT_SECONDS[unit] for amount, unit in zip(compact.groups(), "wdhms", strict=True) if amount
    )
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Render a duration compactly, largest units first (`1d4h`)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit in "wdhms":
        amount, seconds = divmod(seconds, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def _coerce(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a duration is text such as 30s, 4h or 2d")
    if isinstance(value, int):
        raise ValueError(f"{value} has no unit; write e.g. {value}s, {value}m, {value}h or {value}d")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration, return_type=str)]
