"""Timed steps: how long a `wait` step waits (a duration, a number of the form's, or until a form date), and
when it ends for one request. Pure: the clock is handed in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .expressions import FormValue
from .worktime import TimeSpan, WorkingCalendar, next_working_moment, parse_span, span_after

__all__ = ["WaitLength", "parse_wait_length", "wait_ends_at"]

_FROM_FIELD = re.compile(r"^form\.([a-z0-9][a-z0-9_-]*)\s+(business\s+)?(minute|hour|day|week)s?$")
_UNITS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


@dataclass(frozen=True)
class WaitLength:
    """A fixed span (`3 days`, `2 business days`), or a number form field in a unit (`form.days days`)."""

    span: TimeSpan | None = None
    field: str | None = None
    unit: str = "day"
    business: bool = False

    def for_form(self, form: Mapping[str, FormValue]) -> TimeSpan | None:
        """The span for one request; None when the field is empty or not a positive number."""
        if self.span is not None:
            return self.span
        value = form.get(self.field or "")
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return None
        amount = _UNITS[self.unit] * float(value)
        whole_days = self.unit in ("day", "week") and float(value).is_integer()
        return TimeSpan(amount=amount, business=self.business, in_days=self.business and whole_days)

    def extended(self, span: TimeSpan, days: int) -> TimeSpan:
        """`span` longer by `days` days, counted the way this wait counts (business days for a business wait)."""
        return TimeSpan(amount=timedelta(days=days), business=self.business and span.business, in_days=True)


def parse_wait_length(text: str) -> WaitLength:
    """`3 days`, `4h`, `2 business days`, or `form.<number field> [business] days|hours|weeks|minutes`."""
    cleaned = " ".join(str(text).strip().lower().split())
    match = _FROM_FIELD.match(cleaned)
    if match:
        return WaitLength(field=match.group(1), unit=match.group(3), business=bool(match.group(2)))
    try:
        return WaitLength(span=parse_span(cleaned))
    except ValueError as error:
        raise ValueError(f"{error}; or write form.<number field> days (or hours, weeks)") from None


def wait_ends_at(
    *,
    until: str | None,
    length: WaitLength | None,
    form: Mapping[str, FormValue],
    calendar: WorkingCalendar,
    zone: ZoneInfo,
    now: datetime,
) -> datetime | None:
    """When a wait entered `now` is over, in `zone` (the requester's); None when there is nothing to wait for
    (an empty field). Until a date: the start of that date's working day (its first working moment); until a
    date and time: that moment."""
    if until is not None:
        value = form.get(until.removeprefix("form."))
        if not isinstance(value, str) or not value:
            return None
        try:
            if "T" in value:  # a datetime field: stored in UTC, ISO 8601 with a Z
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            day = date.fromisoformat(value[:10])
        except ValueError:
            return None
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
        return next_working_moment(midnight, calendar, zone)
    span = length.for_form(form) if length is not None else None
    return span_after(now, span, calendar, zone) if span is not None else None
