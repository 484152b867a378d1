"""When a recurring start falls due: `first monday of the month 09:00`, `every weekday 08:30`, or cron.

The words a process owner writes:
- `first|second|third|fourth|last <weekday> of the month HH:MM`
- `every <weekday> HH:MM`, `every day HH:MM`, `every weekday HH:MM` (Monday to Friday)
- `day <1-31> of the month HH:MM` (months without that day are skipped)
- or a five-field cron expression `minute hour day-of-month month day-of-week` (`*`, `1-5`, `1,15`, `*/10`;
  day of week 0-7 with 0 and 7 Sunday; as in cron, a day matches either restricted day field).
Times are wall-clock times in the calendar's time zone.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .suggestions import did_you_mean

__all__ = ["Recurrence", "parse_recurrence"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ORDINALS = ("first", "second", "third", "fourth", "last")
_TIME = r"([01]?\d|2[0-3]):([0-5]\d)"
_NTH = re.compile(rf"^(\w+) (\w+) of the month {_TIME}$")
_EVERY = re.compile(rf"^every (\w+) {_TIME}$")
_DAY_OF_MONTH = re.compile(rf"^day (\d{{1,2}}) of the month {_TIME}$")
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_FORMS = (
    "write e.g. 'first monday of the month 09:00', 'every weekday 08:30', 'day 1 of the month 07:00' "
    "or a cron expression such as '0 9 * * 1'"
)
_HORIZON_DAYS = 400  # how far back to look for the latest occurrence: every form recurs within a year


@dataclass(frozen=True)
class Recurrence:
    """Which days and which times of day a schedule starts on."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None = None  # None: any day
    months: frozenset[int] | None = None
    weekdays: frozenset[int] | None = None  # 0 Monday … 6 Sunday
    nth_weekday: tuple[int, int] | None = None  # (weekday, 1-4 or -1 for the last)

    def on(self, day: date) -> bool:
        """Whether the schedule starts anything on this day."""
        if self.months is not None and day.month not in self.months:
            return False
        if self.nth_weekday is not None:
            weekday, nth = self.nth_weekday
            if day.weekday() != weekday:
                return False
            if nth == -1:
                return day.day + 7 > monthrange(day.year, day.month)[1]
            return (day.day - 1) // 7 + 1 == nth
        by_date = self.days_of_month is None or day.day in self.days_of_month
        by_weekday = self.weekdays is None or day.weekday() in self.weekdays
        if self.days_of_month is not None and self.weekdays is not None:
            return by_date or by_weekday  # cron: either restricted day field
        return by_date and by_weekday

    def latest(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The latest occurrence at or before `now` (aware, in `tz`), or None within the last 400 days."""
        local = now.astimezone(tz)
        times = sorted((time(hour, minute) for hour in self.hours for minute in self.minutes), reverse=True)
        for back in range(_HORIZON_DAYS + 1):
            day = local.date() - timedelta(days=back)
            if not self.on(day):
                continue
            for moment in times:
                candidate = datetime.combine(day, moment, tzinfo=tz)
                if candidate <= local:
                    return candidate
        return None


def parse_recurrence(text: str) -> Recurrence:
    """Read a schedule; raise ValueError that says what is wrong and how to write it."""
    words = " ".join(text.strip().lower().split())
    if match := _DAY_OF_MONTH.match(words):
        day = int(match.group(1))
        if not 1 <= day <= 31:
            raise ValueError(f"day {day} of the month does not exist; use 1 to 31")
        return Recurrence(*_at(match), days_of_month=frozenset({day}))
    if match := _NTH.match(words):
        ordinal, weekday = match.group(1), match.group(2)
        if ordinal not in _ORDINALS:
            hint = did_you_mean(ordinal, _ORDINALS)
            raise ValueError(f"{ordinal!r} is not first, second, third, fourth or last{hint}")
        nth = -1 if ordinal == "last" else _ORDINALS.index(ordinal) + 1
        return Recurrence(*_at(match), nth_weekday=(_weekday(weekday), nth))
    if match := _EVERY.match(words):
        what = match.group(1)
        if what == "day":
            return Recurrence(*_at(match))
        if what == "weekday":
            return Recurrence(*_at(match), weekdays=frozenset(range(5)))
        return Recurrence(*_at(match), weekdays=frozenset({_weekday(what)}))
    fields = words.split(" ")
    if len(fields) == 5 and all(re.fullmatch(r"[\d*/,-]+", part) for part in fields):
        return _cron(fields)
    raise ValueError(f"{text.strip()[:80]!r} is not a schedule; {_FORMS}")


def _at(match: re.Match[str]) -> tuple[frozenset[int], frozenset[int]]:
    """The minutes and hours of a worded schedule: its last two groups are the hour and the minute."""
    last = len(match.groups())
    return frozenset({int(match.group(last))}), frozenset({int(match.group(last - 1))})


def _weekday(name: str) -> int:
    for index, full in enumerate(_WEEKDAYS):
        if name in (full, full[:3]):
            return index
    raise ValueError(f"{name!r} is not a day of the week{did_you_mean(name, _WEEKDAYS)}")


def _cron(fields: list[str]) -> Recurrence:
    sets = [_cron_field(part, name, low, high) for part, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = sets
    restricted = [part != "*" for part in fields]
    return Recurrence(
        minutes=minutes,
        hours=hours,
        days_of_month=days if restricted[2] else None,
        months=months if restricted[3] else None,
        weekdays=frozenset((day - 1) % 7 for day in weekdays) if restricted[4] else None,  # cron 0/7 is Sunday
    )


def _cron_field(part: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else 1 if not step_text else 0
        if step <= 0:
            raise ValueError(f"cron {name}: {item!r} has a bad step")
        if base == "*":
            start, end = low, high
        elif re.fullmatch(r"\d+-\d+", base):
            start, end = (int(value) for value in base.split("-"))
        elif base.isdigit():
            start = end = int(base)
            end = high if step_text else end
        else:
            raise ValueError(f"cron {name}: {item!r} is not a number, a range or *")
        if not low <= start <= end <= high:
            raise ValueError(f"cron {name}: {item!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)
