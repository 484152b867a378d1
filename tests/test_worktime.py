"""Working hours and business time: zones across the date line, DST changes, weekends, holidays and spans."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.engine.durations import parse_duration
from bot.engine.worktime import (
    TimeSpan,
    Weekday,
    WorkingCalendar,
    add_business_days,
    add_business_hours,
    deliver_at,
    is_working_time,
    next_working_moment,
    parse_span,
    span_after,
    zone,
)

OFFICE = WorkingCalendar()
CHRISTMAS = WorkingCalendar(holidays=(date(2025, 12, 25), date(2025, 12, 26)))
WHIT_MONDAY = WorkingCalendar(holidays=(date(2026, 5, 25),))
ALWAYS_NIGHTS = WorkingCalendar(days=tuple(Weekday), start=time(0, 0), end=time(23, 0))
DAWN = WorkingCalendar(days=tuple(Weekday), start=time(2, 30), end=time(17, 0))
NY_DAWN = WorkingCalendar(days=tuple(Weekday), start=time(1, 30), end=time(17, 0))
NY_GAP = WorkingCalendar(days=tuple(Weekday), start=time(2, 15), end=time(17, 0))
FORMAT = "%a %Y-%m-%d %H:%M"


def at(zone_name: str, text: str) -> datetime:
    """An aware datetime at local wall-clock `text` ("2026-01-02 16:00") in `zone_name`, first occurrence."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone_name))


def local(moment: datetime, zone_name: str) -> str:
    """`moment` as the person in `zone_name` sees it, after checking it is returned in UTC."""
    assert moment.tzinfo is UTC
    return moment.astimezone(ZoneInfo(zone_name)).strftime(FORMAT)


# -- zones --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fallback", "expected"),
    [
        ("Europe/Berlin", "UTC", "Europe/Berlin"),
        (" Pacific/Auckland ", "UTC", "Pacific/Auckland"),
        ("Mars/Olympus_Mons", "UTC", "UTC"),
        (None, "America/New_York", "America/New_York"),
        ("", "America/New_York", "America/New_York"),
        ("Nope/Nope", "Also/Nope", "UTC"),
        ("../../etc/passwd", "UTC", "UTC"),
        ("America", "UTC", "UTC"),
        ("bad\x00name", "UTC", "UTC"),
    ],
)
def test_zone_never_raises(name: str | None, fallback: str, expected: str) -> None:
    assert zone(name, fallback).key == expected


def test_calendar_zone_for_falls_back_to_the_organisation_zone() -> None:
    calendar = WorkingCalendar(timezone="Europe/Berlin")
    assert calendar.zone_for("Pacific/Apia").key == "Pacific/Apia"
    assert calendar.zone_for(None).key == "Europe/Berlin"
    assert calendar.zone_for("Atlantis/Capital").key == "Europe/Berlin"
    assert OFFICE.zone_for(None).key == "UTC"


# -- calendar validation -------------------------------------------------------------------------------------------


def test_calendar_defaults() -> None:
    assert OFFICE.days == (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)
    assert (OFFICE.start, OFFICE.end, OFFICE.holidays, OFFICE.timezone) == (time(9), time(17), (), None)


def test_calendar_reads_yaml_including_unquoted_times() -> None:
    raw = yaml.safe_load(
        "days: [Sun, MON, tue, Wednesday, thu]\nstart: 8:30\nend: 17:00\nholidays: [2026-12-25, 2026-01-01]\n"
        "timezone: Asia/Jerusalem\n"
    )
    calendar = WorkingCalendar.model_validate(raw)
    assert calendar.days == (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.SUN)
    assert (calendar.start, calendar.end) == (time(8, 30), time(17, 0))
    assert calendar.holidays == (date(2026, 1, 1), date(2026, 12, 25))
    assert calendar.model_dump(mode="json")["days"] == ["mon", "tue", "wed", "thu", "sun"]
    assert WorkingCalendar.model_validate(calendar.model_dump(mode="json")) == calendar


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"days": []}, "at least one working day"),
        ({"days": ["mon", "funday"]}, "'funday' is not a weekday; use mon, tue"),
        ({"start": "17:00", "end": "09:00"}, "working hours must start before they end"),
        ({"start": "09:00", "end": "09:00"}, "working hours must start before they end"),
        ({"start": "09:00+02:00"}, "drop the UTC offset"),
        ({"start": 9}, "9 is not a time of day; write it as quoted text"),
        ({"end": "25:00"}, "end"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'; use an IANA name"),
        ({"timezone": ""}, "unknown time zone ''"),
        ({"holidays": ["Christmas"]}, "holidays"),
        ({"weekend": ["sat"]}, "Extra inputs are not permitted"),
    ],
)
def test_calendar_validation_errors(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        WorkingCalendar.model_validate(raw)
    assert isinstance(caught.value, ValidationError)


def test_calendar_is_frozen() -> None:
    with pytest.raises(ValidationError):
        OFFICE.start = time(8)  # type: ignore[misc]


# -- working time and the next opening ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "calendar", "moment", "working", "expected"),
    [
        # inside hours: the moment itself
        ("Europe/Berlin", OFFICE, "2026-01-05 09:00", True, "Mon 2026-01-05 09:00"),
        ("Europe/Berlin", OFFICE, "2026-01-05 16:59", True, "Mon 2026-01-05 16:59"),
        # 3 a.m. -> 9 a.m. the same day; the closing time itself is already outside
        ("America/Los_Angeles", OFFICE, "2026-01-06 03:00", False, "Tue 2026-01-06 09:00"),
        ("America/Los_Angeles", OFFICE, "2026-01-06 17:00", False, "Wed 2026-01-07 09:00"),
        # evening Friday and the weekend -> Monday 09:00
        ("Europe/Berlin", OFFICE, "2026-01-02 18:00", False, "Mon 2026-01-05 09:00"),
        ("Europe/Berlin", OFFICE, "2026-01-03 11:00", False, "Mon 2026-01-05 09:00"),
        ("Pacific/Auckland", OFFICE, "2026-01-04 23:59", False, "Mon 2026-01-05 09:00"),
        # a holiday on Monday pushes to Tuesday; Christmas and Boxing Day to the Monday after
        ("Europe/Berlin", WHIT_MONDAY, "2026-05-22 17:30", False, "Tue 2026-05-26 09:00"),
        ("Europe/London", CHRISTMAS, "2025-12-24 17:30", False, "Mon 2025-12-29 09:00"),
        ("Europe/London", CHRISTMAS, "2025-12-26 10:00", False, "Mon 2025-12-29 09:00"),
        # spring forward: 02:30 does not exist, the day opens at the first valid instant (03:00)
        ("Europe/Berlin", DAWN, "2026-03-29 00:00", False, "Sun 2026-03-29 03:00"),
        ("America/New_York", NY_GAP, "2026-03-08 01:00", False, "Sun 2026-03-08 03:00"),
        # fall back: an ambiguous opening is its first occurrence
        ("Europe/Berlin", DAWN, "2026-10-25 01:00", False, "Sun 2026-10-25 02:30"),
        ("America/New_York", NY_DAWN, "2026-11-01 00:00", False, "Sun 2026-11-01 01:30"),
        # Auckland: April ends daylight time, September starts it
        ("Pacific/Auckland", OFFICE, "2026-04-03 18:00", False, "Mon 2026-04-06 09:00"),
        ("Pacific/Auckland", OFFICE, "2026-09-25 18:00", False, "Mon 2026-09-28 09:00"),
    ],
)
def test_next_working_moment(zone_name: str, calendar: WorkingCalendar, moment: str, working: bool,
                             expected: str) -> None:
    tz = ZoneInfo(zone_name)
    assert is_working_time(at(zone_name, moment), calendar, tz) is working
    result = next_working_moment(at(zone_name, moment), calendar, tz)
    assert local(result, zone_name) == expected
    assert is_working_time(result, calendar, tz)
    assert deliver_at(at(zone_name, moment), calendar, tz) == result


def test_exact_instants_around_dst() -> None:
    berlin_gap = next_working_moment(at("Europe/Berlin", "2026-03-29 00:00"), DAWN, ZoneInfo("Europe/Berlin"))
    assert berlin_gap == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    berlin_overlap = next_working_moment(at("Europe/Berlin", "2026-10-25 01:00"), DAWN, ZoneInfo("Europe/Berlin"))
    assert berlin_overlap == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, not 02:30 CET
    ny_gap = next_working_moment(at("America/New_York", "2026-03-08 00:00"), NY_GAP, ZoneInfo("America/New_York"))
    assert ny_gap == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    ny_overlap = next_working_moment(at("America/New_York", "2026-11-01 00:00"), NY_DAWN, ZoneInfo("America/New_York"))
    assert ny_overlap == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


def test_second_pass_through_an_ambiguous_hour_is_working_time_after_a_first_occurrence_opening() -> None:
    tz = ZoneInfo("America/New_York")
    second_one_ten = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, after the 01:30 EDT opening
    assert second_one_ten.astimezone(tz).fold == 1
    assert is_working_time(second_one_ten, NY_DAWN, tz)
    assert next_working_moment(second_one_ten, NY_DAWN, tz) == second_one_ten


@pytest.mark.parametrize(
    ("zone_name", "working", "expected"),
    [
        # Friday 2026-01-02 20:00 UTC, on both sides of the date line
        ("Pacific/Kiritimati", False, "Mon 2026-01-05 09:00"),  # already Saturday 10:00 (+14)
        ("Pacific/Apia", False, "Mon 2026-01-05 09:00"),  # Saturday 09:00 (+13)
        ("Pacific/Auckland", False, "Mon 2026-01-05 09:00"),  # Saturday 09:00 (+13, daylight time)
        ("Pacific/Pago_Pago", True, "Fri 2026-01-02 09:00"),  # still Friday 09:00 (-11)
        ("America/Los_Angeles", True, "Fri 2026-01-02 12:00"),
        ("UTC", False, "Mon 2026-01-05 09:00"),
    ],
)
def test_same_instant_across_the_date_line(zone_name: str, working: bool, expected: str) -> None:
    moment = datetime(2026, 1, 2, 20, 0, tzinfo=UTC)
    tz = ZoneInfo(zone_name)
    assert is_working_time(moment, OFFICE, tz) is working
    assert local(next_working_moment(moment, OFFICE, tz), zone_name) == expected


def test_deliver_at_can_ignore_working_hours() -> None:
    due = at("Europe/Berlin", "2026-01-03 03:00")
    assert deliver_at(due, OFFICE, ZoneInfo("Europe/Berlin"), respect_hours=False) == due
    assert deliver_at(due, OFFICE, ZoneInfo("Europe/Berlin"), respect_hours=False).tzinfo is UTC


def test_one_working_day_a_week_with_a_year_of_holidays_still_terminates() -> None:
    wednesdays_2026 = tuple(date(2026, 1, 7) + timedelta(weeks=n) for n in range(52))
    calendar = WorkingCalendar(days=("wed",), holidays=wednesdays_2026)
    result = next_working_moment(datetime(2026, 1, 1, tzinfo=UTC), calendar, ZoneInfo("UTC"))
    assert local(result, "UTC") == "Wed 2027-01-06 09:00"


def test_no_working_day_within_the_search_limit_raises() -> None:
    wednesdays = tuple(date(2026, 1, 7) + timedelta(weeks=n) for n in range(52 * 4))
    calendar = WorkingCalendar(days=("wed",), holidays=wednesdays)
    with pytest.raises(ValueError, match="no working time within"):
        next_working_moment(datetime(2026, 1, 1, tzinfo=UTC), calendar, ZoneInfo("UTC"))
    with pytest.raises(ValueError, match="no working"):
        add_business_days(datetime(2025, 12, 31, 10, tzinfo=UTC), 1, calendar, ZoneInfo("UTC"))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        next_working_moment(datetime(2026, 1, 5, 10), OFFICE, ZoneInfo("UTC"))


# -- business hours and days --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "calendar", "start", "hours", "expected"),
    [
        ("Europe/Berlin", OFFICE, "2026-01-02 16:00", 2, "Mon 2026-01-05 10:00"),  # Friday -> Monday
        ("Europe/Berlin", OFFICE, "2026-01-02 16:00", 1, "Fri 2026-01-02 17:00"),  # ends exactly at closing
        ("Europe/Berlin", OFFICE, "2026-01-02 16:00", 9, "Mon 2026-01-05 17:00"),
        ("Europe/Berlin", OFFICE, "2026-01-06 15:00", 4, "Wed 2026-01-07 11:00"),  # crosses a night
        ("Europe/Berlin", OFFICE, "2026-01-06 20:00", 1, "Wed 2026-01-07 10:00"),  # starts outside hours
        ("Europe/Berlin", OFFICE, "2026-01-03 11:00", 0, "Mon 2026-01-05 09:00"),  # zero: just the opening
        ("Europe/Berlin", OFFICE, "2026-01-05 09:00", 40, "Fri 2026-01-09 17:00"),  # a full working week
        ("Europe/Berlin", WHIT_MONDAY, "2026-05-22 16:30", 1, "Tue 2026-05-26 09:30"),
        ("Europe/London", CHRISTMAS, "2025-12-24 16:00", 3, "Mon 2025-12-29 11:00"),
        ("Pacific/Kiritimati", OFFICE, "2026-01-02 16:00", 2, "Mon 2026-01-05 10:00"),
        ("Pacific/Pago_Pago", OFFICE, "2026-01-02 16:00", 2, "Mon 2026-01-05 10:00"),
        # Berlin and New York weekends with a DST change: local hours are counted, not UTC ones
        ("Europe/Berlin", OFFICE, "2026-03-27 16:00", 2, "Mon 2026-03-30 10:00"),
        ("Europe/Berlin", OFFICE, "2026-10-23 16:00", 2, "Mon 2026-10-26 10:00"),
        ("America/New_York", OFFICE, "2026-03-06 16:00", 2, "Mon 2026-03-09 10:00"),
        ("America/New_York", OFFICE, "2026-10-30 16:00", 2, "Mon 2026-11-02 10:00"),
        # inside working hours that span the change, elapsed time is counted (01:00 CET + 2h = 04:00 CEST)
        ("Europe/Berlin", ALWAYS_NIGHTS, "2026-03-29 01:00", 2, "Sun 2026-03-29 04:00"),
        ("Europe/Berlin", ALWAYS_NIGHTS, "2026-10-25 01:00", 2, "Sun 2026-10-25 02:00"),
    ],
)
def test_add_business_hours(zone_name: str, calendar: WorkingCalendar, start: str, hours: int, expected: str) -> None:
    result = add_business_hours(at(zone_name, start), timedelta(hours=hours), calendar, ZoneInfo(zone_name))
    assert local(result, zone_name) == expected


@pytest.mark.parametrize(
    ("zone_name", "calendar", "start", "days", "expected"),
    [
        ("Europe/Berlin", OFFICE, "2026-01-02 15:00", 2, "Tue 2026-01-06 15:00"),  # Friday -> Tuesday
        ("Europe/Berlin", OFFICE, "2026-01-03 11:00", 1, "Tue 2026-01-06 09:00"),  # Saturday: Monday 09:00 + 1
        ("Europe/Berlin", OFFICE, "2026-01-07 18:00", 1, "Fri 2026-01-09 09:00"),  # evening: Thursday 09:00 + 1
        ("Europe/Berlin", OFFICE, "2026-01-07 03:00", 1, "Thu 2026-01-08 09:00"),
        ("Europe/Berlin", OFFICE, "2026-01-05 10:00", 5, "Mon 2026-01-12 10:00"),
        ("Europe/Berlin", OFFICE, "2026-01-04 10:00", 0, "Mon 2026-01-05 09:00"),
        ("Europe/Berlin", WHIT_MONDAY, "2026-05-22 10:00", 1, "Tue 2026-05-26 10:00"),  # holiday Monday
        ("Europe/London", CHRISTMAS, "2025-12-24 14:00", 1, "Mon 2025-12-29 14:00"),
        # the same local time of day across DST weekends
        ("Europe/Berlin", OFFICE, "2026-03-27 10:00", 1, "Mon 2026-03-30 10:00"),
        ("Europe/Berlin", OFFICE, "2026-10-23 10:00", 1, "Mon 2026-10-26 10:00"),
        ("America/New_York", OFFICE, "2026-03-06 10:00", 1, "Mon 2026-03-09 10:00"),
        ("America/New_York", OFFICE, "2026-10-30 10:00", 1, "Mon 2026-11-02 10:00"),
        ("Pacific/Auckland", OFFICE, "2026-04-03 10:00", 1, "Mon 2026-04-06 10:00"),
        ("Pacific/Auckland", OFFICE, "2026-09-25 10:00", 1, "Mon 2026-09-28 10:00"),
        # the kept time of day may fall in the spring-forward gap: first valid instant
        ("Europe/Berlin", DAWN, "2026-03-28 02:45", 1, "Sun 2026-03-29 03:00"),
        ("America/New_York", NY_DAWN, "2026-10-31 01:45", 1, "Sun 2026-11-01 01:45"),
        # Samoa jumped the date line and skipped Friday 2011-12-30 entirely
        ("Pacific/Apia", OFFICE, "2011-12-29 10:00", 1, "Mon 2012-01-02 10:00"),
        ("Pacific/Apia", ALWAYS_NIGHTS, "2011-12-29 10:00", 1, "Sat 2011-12-31 10:00"),
    ],
)
def test_add_business_days(zone_name: str, calendar: WorkingCalendar, start: str, days: int, expected: str) -> None:
    result = add_business_days(at(zone_name, start), days, calendar, ZoneInfo(zone_name))
    assert local(result, zone_name) == expected


def test_business_days_keep_the_local_time_not_the_utc_time() -> None:
    tz = ZoneInfo("Europe/Berlin")
    before = at("Europe/Berlin", "2026-03-27 10:00")
    after = add_business_days(before, 1, OFFICE, tz)
    assert (before.astimezone(UTC).hour, after.hour) == (9, 8)
    overlap = add_business_days(at("America/New_York", "2026-10-31 01:45"), 1, NY_DAWN, ZoneInfo("America/New_York"))
    assert overlap == datetime(2026, 11, 1, 5, 45, tzinfo=UTC)  # 01:45 EDT, the first occurrence


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: add_business_hours(datetime(2026, 1, 5, tzinfo=UTC), timedelta(hours=-1), OFFICE, ZoneInfo("UTC")),
         "cannot be negative"),
        (lambda: add_business_days(datetime(2026, 1, 5, tzinfo=UTC), -1, OFFICE, ZoneInfo("UTC")),
         "cannot be negative"),
    ],
)
def test_negative_business_time_is_refused(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# -- spans -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span", "shown"),
    [
        ("30s", TimeSpan(amount=timedelta(seconds=30)), "30s"),
        ("4h", TimeSpan(amount=timedelta(hours=4)), "4h"),
        ("2d", TimeSpan(amount=timedelta(days=2)), "2d"),
        ("1h30m", TimeSpan(amount=timedelta(minutes=90)), "1h30m"),
        ("3 days", TimeSpan(amount=timedelta(days=3)), "3d"),
        ("1 week", TimeSpan(amount=timedelta(weeks=1)), "1w"),
        ("2 business days", TimeSpan(amount=timedelta(days=2), business=True, in_days=True), "2 business days"),
        ("1 business day", TimeSpan(amount=timedelta(days=1), business=True, in_days=True), "1 business day"),
        ("  2 Business Days ", TimeSpan(amount=timedelta(days=2), business=True, in_days=True), "2 business days"),
        ("1 working day", TimeSpan(amount=timedelta(days=1), business=True, in_days=True), "1 business day"),
        ("4 business hours", TimeSpan(amount=timedelta(hours=4), business=True), "4 business hours"),
        ("1 business hour", TimeSpan(amount=timedelta(hours=1), business=True), "1 business hour"),
        ("24 business hours", TimeSpan(amount=timedelta(hours=24), business=True), "24 business hours"),
        ("30 business minutes", TimeSpan(amount=timedelta(minutes=30), business=True), "30 business minutes"),
        ("90 business minutes", TimeSpan(amount=timedelta(minutes=90), business=True), "90 business minutes"),
    ],
)
def test_parse_span(text: str, span: TimeSpan, shown: str) -> None:
    assert parse_span(text) == span
    assert str(span) == shown
    if not span.business:
        assert span.amount == parse_duration(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty time span"),
        ("   ", "empty time span"),
        ("soon", "'soon' is not a duration.*or a business span such as 2 business days"),
        ("0s", "longer than zero"),
        ("1.5h", "is not a duration"),
        ("0 business days", "a business span must be longer than zero"),
        ("2 business weeks", "'2 business weeks' is not a business span; write e.g. 2 business days"),
        ("business days", "is not a business span"),
        ("-1 business days", "is not a business span"),
        ("1.5 business days", "is not a business span"),
        ("4 hours business", "is not a business span"),
        ("2 working", "is not a business span"),
    ],
)
def test_parse_span_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_span(text)


def test_business_days_and_hours_stay_distinct() -> None:
    assert parse_span("1 business day") != parse_span("24 business hours")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": timedelta(hours=-1)}, "cannot be negative"),
        ({"amount": timedelta(days=1), "in_days": True}, "only applies to business spans"),
        ({"amount": timedelta(hours=5), "business": True, "in_days": True}, "whole number of days"),
    ],
)
def test_time_span_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TimeSpan(**fields)


@pytest.mark.parametrize(
    ("text", "start", "expected"),
    [
        ("4h", "2026-01-02 16:00", "Fri 2026-01-02 20:00"),  # wall-clock spans ignore working hours
        ("2d", "2026-03-28 10:00", "Mon 2026-03-30 11:00"),  # and count elapsed time across DST
        ("2 business hours", "2026-01-02 16:00", "Mon 2026-01-05 10:00"),
        ("30 business minutes", "2026-01-02 16:45", "Mon 2026-01-05 09:15"),
        ("2 business days", "2026-01-02 15:00", "Tue 2026-01-06 15:00"),
        ("1 business day", "2026-01-03 11:00", "Tue 2026-01-06 09:00"),
    ],
)
def test_span_after(text: str, start: str, expected: str) -> None:
    result = span_after(at("Europe/Berlin", start), parse_span(text), OFFICE, ZoneInfo("Europe/Berlin"))
    assert local(result, "Europe/Berlin") == expected


# -- properties --------------------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Pacific/Auckland",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "Pacific/Pago_Pago",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Santiago",
]
CALENDARS = [OFFICE, CHRISTMAS, DAWN, NY_DAWN, WorkingCalendar(days=("sun", "thu"), start=time(0), end=time(0, 30))]
STARTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, database=None)
@given(start=STARTS, zone_name=st.sampled_from(ZONES), calendar=st.sampled_from(CALENDARS))
def test_next_working_moment_is_working_and_not_earlier(start: datetime, zone_name: str,
                                                        calendar: WorkingCalendar) -> None:
    tz = ZoneInfo(zone_name)
    result = next_working_moment(start, calendar, tz)
    assert result >= start
    assert is_working_time(result, calendar, tz)
    assert (result == start) is is_working_time(start, calendar, tz)
    assert next_working_moment(result, calendar, tz) == result


@settings(max_examples=200, deadline=None, database=None)
@given(
    start=STARTS,
    zone_name=st.sampled_from(ZONES),
    calendar=st.sampled_from(CALENDARS),
    hours=st.lists(st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=60)), min_size=2, max_size=2),
)
def test_add_business_hours_is_monotonic(start: datetime, zone_name: str, calendar: WorkingCalendar,
                                         hours: list[timedelta]) -> None:
    tz = ZoneInfo(zone_name)
    shorter, longer = sorted(hours)
    early = add_business_hours(start, shorter, calendar, tz)
    late = add_business_hours(start, longer, calendar, tz)
    assert start <= early <= late
    assert late - early >= longer - shorter
