"""Working hours and business-time arithmetic in each person's own time zone, so reminders arrive politely."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator, model_validator

from .durations import format_duration, parse_duration

__all__ = [
    "TimeSpan",
    "Weekday",
    "WorkingCalendar",
    "add_business_days",
    "add_business_hours",
    "deliver_at",
    "is_working_time",
    "known_zone",
    "next_working_moment",
    "parse_span",
    "span_after",
    "zone",
]

SEARCH_LIMIT = timedelta(days=3 * 366)
"""How far ahead the search for working time goes before giving up (guards against calendars with no working day)."""

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_BUSINESS = re.compile(r"^\s*(\d+)\s+(?:business|working)\s+(days?|hours?|minutes?)\s*$")
_BUSINESS_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


class Weekday(IntEnum):
    """A day of the week, numbered like `date.weekday()` (Monday is 0)."""

    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6

    @property
    def label(self) -> str:
        return _DAY_NAMES[self.value]


def _coerce_weekday(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    name = value.strip().lower()
    for names in (_DAY_NAMES, _FULL_DAY_NAMES):
        if name in names:
            return Weekday(names.index(name))
    raise ValueError(f"{value!r} is not a weekday; use mon, tue, wed, thu, fri, sat or sun")


def _coerce_clock(value: Any) -> Any:
    """Accept `"09:00"`; also undo YAML 1.1 reading an unquoted `17:00` as the number 1020 (or `17:00:00` as 61200)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if 60 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if 3600 <= value < 86400:
        return time(value // 3600, value % 3600 // 60, value % 60)
    raise ValueError(f'{value} is not a time of day; write it as quoted text such as "09:00"')


WeekdayName = Annotated[Weekday, BeforeValidator(_coerce_weekday), PlainSerializer(lambda d: d.label, return_type=str)]
ClockTime = Annotated[time, BeforeValidator(_coerce_clock)]


class WorkingCalendar(BaseModel):
    """Working days, daily hours and holidays; read from the `calendar:` key of `workflows/org.yaml`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: tuple[WeekdayName, ...] = (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)
    start: ClockTime = time(9, 0)
    end: ClockTime = time(17, 0)
    holidays: tuple[date, ...] = ()
    timezone: str | None = None

    @field_validator("days")
    @classmethod
    def _some_days(cls, days: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not days:
            raise ValueError("a working calendar needs at least one working day")
        return tuple(sorted(set(days)))

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError(f"working hours are local wall-clock times; drop the UTC offset from {value.isoformat()}")
        return value.replace(fold=0)

    @field_validator("holidays")
    @classmethod
    def _sorted_holidays(cls, holidays: tuple[date, ...]) -> tuple[date, ...]:
        return tuple(sorted(set(holidays)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None and _load_zone(name) is None:
            raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC")
        return name

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingCalendar:
        if self.start >= self.end:
            raise ValueError(f"working hours must start before they end (start {self.start}, end {self.end})")
        return self

    def is_working_day(self, day: date) -> bool:
        """Whether `day` is one of the working weekdays and not a holiday."""
        return day.weekday() in self.days and day not in self.holidays

    def zone_for(self, name: str | None) -> ZoneInfo:
        """A person's zone, falling back to the calendar's zone, then UTC."""
        return zone(name, self.timezone or "UTC")


def known_zone(name: str) -> bool:
    """Whether `name` is a time zone this machine knows (an IANA name such as Europe/Berlin)."""
    return _load_zone(name) is not None


def _load_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        return None


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone called `name`, else `fallback`, else UTC; never raises."""
    for candidate in (name, fallback, "UTC"):
        found = _load_zone(candidate) if candidate else None
        if found is not None:
            return found
    return ZoneInfo.from_file(_utc_tzif(), key="UTC")


def _utc_tzif() -> io.BytesIO:
    """A minimal TZif file for UTC, for systems without any time-zone database."""
    header = b"TZif" + b"\0" * 16 + (0).to_bytes(4, "big") * 4 + (1).to_bytes(4, "big") + (4).to_bytes(4, "big")
    return io.BytesIO(header + b"\0\0\0\0\0\0" + b"UTC\0")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


def _resolve(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of local `day` at `clock`: first occurrence if ambiguous, end of the gap if it does not exist."""
    wall = datetime.combine(day, clock.replace(fold=0))
    instant = wall.replace(tzinfo=tz).astimezone(UTC)
    if _wall(instant, tz) == wall:
        return instant
    return _gap_end(wall, tz)


def _gap_end(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first valid instant after a non-existent local time (the moment the clocks jumped)."""
    guesses = [wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    low, high = int(min(guesses).timestamp()), int(max(guesses).timestamp())
    while low < high:
        middle = (low + high) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), tz) > wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, UTC)


def _hours_on(day: date, calendar: WorkingCalendar, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The working interval [opening, closing) of local `day` as UTC instants, or None if there is none."""
    if not calendar.is_working_day(day):
        return None
    opening, closing = _resolve(day, calendar.start, tz), _resolve(day, calendar.end, tz)
    return (opening, closing) if opening < closing else None


def _next_hours(moment: datetime, calendar: WorkingCalendar, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The first working interval that ends after `moment` (it may contain `moment`)."""
    first = _wall(moment, tz).date() - timedelta(days=1)
    for offset in range(SEARCH_LIMIT.days + 2):
        hours = _hours_on(first + timedelta(days=offset), calendar, tz)
        if hours is not None and hours[1] > moment:
            return hours
    raise ValueError(f"no working time within {SEARCH_LIMIT.days} days after {moment.isoformat()}; check the calendar")


def is_working_time(moment: datetime, calendar: WorkingCalendar, tz: ZoneInfo) -> bool:
    """Whether `moment` falls inside working hours [start, end) of a working day in zone `tz`."""
    instant = _aware(moment)
    opening, _ = _next_hours(instant, calendar, tz)
    return opening <= instant


def next_working_moment(moment: datetime, calendar: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """`moment` (in UTC) if it is working time, else the next opening (a working day's `start` in zone `tz`)."""
    instant = _aware(moment)
    opening, _ = _next_hours(instant, calendar, tz)
    return max(opening, instant)


def add_business_hours(start: datetime, hours: timedelta, calendar: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """`start` plus `hours` of elapsed working time only; the result may be a closing time (e.g. 17:00)."""
    if hours < timedelta(0):
        raise ValueError("business hours cannot be negative")
    current, remaining = _aware(start), hours
    while True:
        opening, closing = _next_hours(current, calendar, tz)
        current = max(opening, current)
        if remaining <= closing - current:
            return current + remaining
        remaining -= closing - current
        current = closing


def _next_working_day(day: date, calendar: WorkingCalendar, tz: ZoneInfo) -> date:
    for offset in range(1, SEARCH_LIMIT.days + 1):
        candidate = day + timedelta(days=offset)
        if _hours_on(candidate, calendar, tz) is not None:
            return candidate
    raise ValueError(f"no working day within {SEARCH_LIMIT.days} days after {day.isoformat()}; check the calendar")


def add_business_days(start: datetime, days: int, calendar: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """Move `start` to the next working moment, then advance `days` working days keeping the local time of day.

    The local time of day is that of the working moment (so it lies in [start, end)); on the target day it is
    resolved like any wall-clock time (gap -> first valid instant, overlap -> first occurrence) and clamped
    into that day's working hours. `days == 0` returns the working moment itself.
    """
    if days < 0:
        raise ValueError("business days cannot be negative")
    moment = next_working_moment(start, calendar, tz)
    if days == 0:
        return moment
    wall = _wall(moment, tz)
    day = wall.date()
    for _ in range(days):
        day = _next_working_day(day, calendar, tz)
    hours = _hours_on(day, calendar, tz)
    if hours is None:  # pragma: no cover - _next_working_day only returns days with working hours
        raise ValueError(f"{day.isoformat()} has no working hours")
    return min(max(_resolve(day, wall.time(), tz), hours[0]), hours[1])


class TimeSpan(BaseModel):
    """A wall-clock duration (`4h`) or a business one (`2 business days`, `4 business hours`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: timedelta
    business: bool = False
    in_days: bool = False
    """For business spans: count whole working days (add_business_days) instead of working hours."""

    @model_validator(mode="after")
    def _consistent(self) -> TimeSpan:
        if self.amount < timedelta(0):
            raise ValueError("a time span cannot be negative")
        if self.in_days and not self.business:
            raise ValueError("in_days only applies to business spans")
        if self.in_days and self.amount % timedelta(days=1):
            raise ValueError("a span in business days must be a whole number of days")
        return self

    def __str__(self) -> str:
        if not self.business:
            return format_duration(self.amount)
        if self.in_days:
            count = self.amount.days
            return f"{count} business day{'s' if count != 1 else ''}"
        minutes = int(self.amount.total_seconds()) // 60
        if minutes % 60 == 0:
            return f"{minutes // 60} business hour{'s' if minutes != 60 else ''}"
        return f"{minutes} business minute{'s' if minutes != 1 else ''}"


def parse_span(text: str) -> TimeSpan:
    """Parse `4h`, `1h30m`, `3 days` (wall-clock) or `2 business days`, `4 business hours`, `30 business minutes`."""
    if not text or not text.strip():
        raise ValueError("empty time span; write e.g. 4h, 2d or 2 business days")
    lowered = text.lower()
    business = _BUSINESS.match(lowered)
    if business:
        count, unit = int(business.group(1)), business.group(2)[0]
        if count <= 0:
            raise ValueError(f"{text!r}: a business span must be longer than zero")
        return TimeSpan(amount=count * _BUSINESS_UNITS[unit], business=True, in_days=unit == "d")
    if "business" in lowered or "working" in lowered:
        raise ValueError(
            f"{text!r} is not a business span; write e.g. 2 business days, 4 business hours or 30 business minutes"
        )
    try:
        return TimeSpan(amount=parse_duration(text))
    except ValueError as error:
        raise ValueError(f"{error}; or a business span such as 2 business days") from None


def span_after(start: datetime, span: TimeSpan, calendar: WorkingCalendar, tz: ZoneInfo) -> datetime:
    """When `span` after `start` ends, in UTC: elapsed time for wall-clock spans, working time for business ones."""
    if not span.business:
        return _aware(start) + span.amount
    if span.in_days:
        return add_business_days(start, span.amount.days, calendar, tz)
    return add_business_hours(start, span.amount, calendar, tz)


def deliver_at(due: datetime, calendar: WorkingCalendar, tz: ZoneInfo, *, respect_hours: bool = True) -> datetime:
    """When a reminder due at `due` may reach someone in `tz`: the next working moment (unless hours are ignored)."""
    return next_working_moment(due, calendar, tz) if respect_hours else _aware(due)
