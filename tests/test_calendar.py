from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.converter import DataConverter

from state_models.calendar import (
    MaintenanceWindow,
    WorkingCalendar,
    add_working_days,
    add_working_hours,
    is_working_time,
    maintenance_end,
    next_opening,
    parse_maintenance_window,
    working_time_between,
)
from state_models.public_holidays import default_calendar, french_public_holidays

PARIS = ZoneInfo("Europe/Paris")
CAL = default_calendar(range(2025, 2029))
PLAIN = WorkingCalendar()  # Monday–Friday 07:00–19:00, no holidays


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# --- public holidays ---------------------------------------------------------


def test_metropolitan_public_holidays_2026() -> None:
    assert french_public_holidays([2026]) == (
        "2026-01-01",  # New Year's Day
        "2026-04-06",  # Easter Monday
        "2026-05-01",  # Labour Day
        "2026-05-08",  # Victory in Europe Day
        "2026-05-14",  # Ascension
        "2026-05-25",  # Whit Monday
        "2026-07-14",  # Bastille Day
        "2026-08-15",  # Assumption
        "2026-11-01",  # All Saints' Day
        "2026-11-11",  # Armistice Day
        "2026-12-25",  # Christmas
    )


def test_subdivision_adds_local_holidays() -> None:
    moselle = french_public_holidays([2026], subdivision="57")
    assert {"2026-04-03", "2026-12-26"} <= set(moselle)  # Good Friday, St Stephen's Day
    assert set(french_public_holidays([2026])) < set(moselle)


def test_default_calendar_merges_extra_closed_days() -> None:
    cal = default_calendar([2026], extra_closed_days=["2026-05-15", "2026-05-14"])
    assert cal.closed_days == tuple(sorted(cal.closed_days))
    assert cal.closed_days.count("2026-05-14") == 1
    assert "2026-05-15" in cal.closed_days
    assert (cal.opens, cal.closes, cal.working_weekdays) == ("07:00", "19:00", (0, 1, 2, 3, 4))


# Each metropolitan holiday, in a year where it falls on a weekday, with the
# working days around it: 18:00 on the eve + 2 working hours = 08:00 after it.
HOLIDAYS = [
    (date(2026, 1, 1), date(2025, 12, 31), date(2026, 1, 2)),
    (date(2026, 4, 6), date(2026, 4, 3), date(2026, 4, 7)),  # Easter Monday
    (date(2026, 5, 1), date(2026, 4, 30), date(2026, 5, 4)),
    (date(2026, 5, 8), date(2026, 5, 7), date(2026, 5, 11)),
    (date(2026, 5, 14), date(2026, 5, 13), date(2026, 5, 15)),  # Ascension
    (date(2026, 5, 25), date(2026, 5, 22), date(2026, 5, 26)),  # Whit Monday
    (date(2026, 7, 14), date(2026, 7, 13), date(2026, 7, 15)),
    (date(2025, 8, 15), date(2025, 8, 14), date(2025, 8, 18)),
    (date(2027, 11, 1), date(2027, 10, 29), date(2027, 11, 2)),  # also across DST
    (date(2026, 11, 11), date(2026, 11, 10), date(2026, 11, 12)),
    (date(2026, 12, 25), date(2026, 12, 24), date(2026, 12, 28)),
]


@pytest.mark.parametrize(("holiday", "eve", "after"), HOLIDAYS, ids=[str(h[0]) for h in HOLIDAYS])
def test_each_public_holiday_is_skipped(holiday: date, eve: date, after: date) -> None:
    noon = datetime.combine(holiday, datetime.min.time(), PARIS).replace(hour=12)
    assert not is_working_time(noon, CAL)
    assert is_working_time(noon, PLAIN)
    start = paris(eve.year, eve.month, eve.day, 18)
    assert add_working_hours(start, 2, CAL) == paris(after.year, after.month, after.day, 8)
    assert next_opening(noon, CAL) == paris(after.year, after.month, after.day, 7)


def test_christmas_example_from_the_brief() -> None:
    # 0.5 h on the 24th; 25th closed; 26–27 weekend; 10.5 h from 28 Dec 07:00.
    due = add_working_hours(datetime.fromisoformat("2026-12-24T18:30+01:00"), 11, CAL)
    assert due == datetime.fromisoformat("2026-12-28T17:30+01:00")


# --- weekends and edges ------------------------------------------------------


def test_weekend_is_skipped() -> None:
    # Friday 2026-06-05 18:00 + 3 h = Monday 09:00.
    assert add_working_hours(paris(2026, 6, 5, 18), 3, PLAIN) == paris(2026, 6, 8, 9)
    assert not is_working_time(paris(2026, 6, 6, 12), PLAIN)
    assert not is_working_time(paris(2026, 6, 7, 12), PLAIN)
    assert working_time_between(paris(2026, 6, 5, 18), paris(2026, 6, 8, 8), PLAIN) == timedelta(
        hours=2
    )


def test_opening_edge_is_working_time() -> None:
    opening = paris(2026, 6, 8, 7)
    assert is_working_time(opening, PLAIN)
    assert not is_working_time(opening - timedelta(microseconds=1), PLAIN)
    assert next_opening(opening, PLAIN) == opening
    assert add_working_hours(opening, 12, PLAIN) == paris(2026, 6, 8, 19)


def test_closing_edge_is_not_working_time() -> None:
    closing = paris(2026, 6, 8, 19)
    assert not is_working_time(closing, PLAIN)
    assert is_working_time(closing - timedelta(microseconds=1), PLAIN)
    assert next_opening(closing, PLAIN) == paris(2026, 6, 9, 7)
    assert add_working_hours(closing, 1, PLAIN) == paris(2026, 6, 9, 8)


def test_deadline_landing_at_closing_is_that_closing_time() -> None:
    assert add_working_hours(paris(2026, 6, 8, 18), 1, PLAIN) == paris(2026, 6, 8, 19)
    assert add_working_hours(paris(2026, 6, 8, 7), 24, PLAIN) == paris(2026, 6, 9, 19)
    # On a Friday, the closing time, not Monday's opening.
    assert add_working_hours(paris(2026, 6, 12, 8), 11, PLAIN) == paris(2026, 6, 12, 19)


def test_start_before_opening_counts_from_opening() -> None:
    assert add_working_hours(paris(2026, 6, 8, 5), 1, PLAIN) == paris(2026, 6, 8, 8)
    assert next_opening(paris(2026, 6, 8, 5), PLAIN) == paris(2026, 6, 8, 7)


def test_start_after_closing_counts_from_next_opening() -> None:
    assert add_working_hours(paris(2026, 6, 8, 22), 1, PLAIN) == paris(2026, 6, 9, 8)
    assert add_working_hours(paris(2026, 6, 8, 23, 59), 11, CAL) == paris(2026, 6, 9, 18)


def test_zero_hours_is_the_start_itself() -> None:
    saturday = paris(2026, 6, 6, 12)
    assert add_working_hours(saturday, 0, PLAIN) == saturday


def test_fractional_hours() -> None:
    assert add_working_hours(paris(2026, 6, 8, 7), 0.25, PLAIN) == paris(2026, 6, 8, 7, 15)


def test_result_keeps_the_time_zone_of_the_start() -> None:
    start = paris(2026, 6, 8, 18).astimezone(UTC)
    due = add_working_hours(start, 2, PLAIN)
    assert due.tzinfo is UTC
    assert due == paris(2026, 6, 9, 8)
    assert add_working_days(start, 1, PLAIN).tzinfo is UTC
    assert next_opening(start.replace(hour=20), PLAIN).tzinfo is UTC


def test_working_time_between_is_signed() -> None:
    a, b = paris(2026, 6, 8, 10), paris(2026, 6, 9, 10)
    assert working_time_between(a, b, PLAIN) == timedelta(hours=12)
    assert working_time_between(b, a, PLAIN) == -timedelta(hours=12)
    assert working_time_between(a, a, PLAIN) == timedelta(0)
    assert working_time_between(paris(2026, 6, 6), paris(2026, 6, 7, 23), PLAIN) == timedelta(0)


def test_naive_instants_and_negative_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_hours(datetime(2026, 6, 8, 10), 1, PLAIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(datetime(2026, 6, 8, 10), PLAIN)
    with pytest.raises(ValueError, match="negative"):
        add_working_hours(paris(2026, 6, 8, 10), -1, PLAIN)


# --- daylight saving time ----------------------------------------------------


def test_deadline_across_spring_dst_change_keeps_local_hours() -> None:
    # Clocks go forward on Sunday 2026-03-29: Friday is +01:00, Monday +02:00.
    due = add_working_hours(paris(2026, 3, 27, 18), 3, CAL)
    assert due == paris(2026, 3, 30, 9)
    assert due.utcoffset() == timedelta(hours=2)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert working_time_between(paris(2026, 3, 27, 7), paris(2026, 3, 30, 19), CAL) == timedelta(
        hours=24
    )


def test_deadline_across_autumn_dst_change_keeps_local_hours() -> None:
    # Clocks go back on Sunday 2026-10-25: Friday is +02:00, Monday +01:00.
    due = add_working_hours(paris(2026, 10, 23, 18), 3, CAL)
    assert due == paris(2026, 10, 26, 9)
    assert due.utcoffset() == timedelta(hours=1)
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 8, tzinfo=UTC)


def test_a_window_spanning_a_dst_change_counts_real_elapsed_time() -> None:
    night = WorkingCalendar(opens="01:00", closes="04:00", working_weekdays=tuple(range(7)))
    spring = working_time_between(paris(2026, 3, 29), paris(2026, 3, 30), night)
    autumn = working_time_between(paris(2026, 10, 25), paris(2026, 10, 26), night)
    assert spring == timedelta(hours=2)  # 02:00–03:00 does not exist
    assert autumn == timedelta(hours=4)  # 02:00–03:00 happens twice
    assert add_working_hours(paris(2026, 3, 29, 1), 2, night) == paris(2026, 3, 29, 4)


# --- working days --------------------------------------------------------------


def test_add_working_days_ends_at_closing_of_the_nth_following_working_day() -> None:
    assert add_working_days(paris(2026, 6, 12, 10), 2, PLAIN) == paris(2026, 6, 16, 19)  # Fri
    assert add_working_days(paris(2026, 6, 13, 10), 2, PLAIN) == paris(2026, 6, 16, 19)  # Sat
    assert add_working_days(paris(2026, 6, 8, 5), 1, PLAIN) == paris(2026, 6, 9, 19)  # early Mon
    assert add_working_days(paris(2026, 12, 24, 10), 1, CAL) == paris(2026, 12, 28, 19)
    assert add_working_days(paris(2026, 5, 13, 10), 2, CAL) == paris(2026, 5, 18, 19)  # Ascension


def test_add_working_days_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError):
        add_working_days(paris(2026, 6, 8, 10), 0, PLAIN)


# --- calendar configuration ----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time_zone": "Europe/Nowhere"},
        {"opens": "19:00", "closes": "07:00"},
        {"opens": "7h"},
        {"opens": "07:00+01:00"},
        {"working_weekdays": ()},
        {"working_weekdays": (7,)},
        {"closed_days": ("20260101",)},
        {"closed_days": ("2026-02-30",)},
    ],
)
def test_invalid_calendars_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(**kwargs)  # type: ignore[arg-type]


def test_configurable_hours_and_weekdays() -> None:
    saturday_shop = WorkingCalendar(opens="09:30", closes="12:00", working_weekdays=(5,))
    assert add_working_hours(paris(2026, 6, 8, 10), 3, saturday_shop) == paris(2026, 6, 20, 10)


def test_calendar_travels_through_the_temporal_converter() -> None:
    converter = DataConverter.default.payload_converter
    payloads = converter.to_payloads([CAL])
    assert converter.from_payloads(payloads, [WorkingCalendar]) == [CAL]


# --- properties ----------------------------------------------------------------

# Paris instants too: a bug doing arithmetic on wall-clock values shows there.
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from([UTC, PARIS]),
)
HOURS = st.integers(0, 200 * 3600).map(lambda seconds: seconds / 3600)


@settings(max_examples=150, deadline=None)
@given(start=INSTANTS, hours=HOURS)
def test_working_time_to_the_deadline_is_the_hours_added(start: datetime, hours: float) -> None:
    due = add_working_hours(start, hours, CAL)
    assert working_time_between(start, due, CAL) == timedelta(hours=hours)
    if hours:
        # Never later than needed: just before the deadline is working time.
        assert is_working_time(due - timedelta(microseconds=1), CAL)


@settings(max_examples=100, deadline=None)
@given(start=INSTANTS, h1=HOURS, h2=HOURS, shift=st.integers(0, 14 * 24 * 3600))
def test_deadlines_are_monotonic(start: datetime, h1: float, h2: float, shift: int) -> None:
    low, high = sorted((h1, h2))
    assert add_working_hours(start, low, CAL) <= add_working_hours(start, high, CAL)
    later = start.astimezone(UTC) + timedelta(seconds=shift)  # Paris + timedelta is wall-clock
    assert add_working_hours(start, h1, CAL) <= add_working_hours(later, h1, CAL)


@settings(max_examples=100, deadline=None)
@given(a=INSTANTS, b=INSTANTS, c=INSTANTS)
def test_working_time_is_additive(a: datetime, b: datetime, c: datetime) -> None:
    assert working_time_between(a, b, CAL) + working_time_between(b, c, CAL) == (
        working_time_between(a, c, CAL)
    )


@settings(max_examples=100, deadline=None)
@given(instant=INSTANTS)
def test_next_opening_is_the_first_working_instant(instant: datetime) -> None:
    opening = next_opening(instant, CAL)
    assert opening >= instant
    assert is_working_time(opening, CAL)
    assert working_time_between(instant, opening, CAL) == timedelta(0)
    assert (opening == instant) == is_working_time(instant, CAL)


# --- maintenance windows -------------------------------------------------------

SUNDAY = (MaintenanceWindow(),)  # SPEC §4: Sunday 22:00–23:00 Europe/Paris


def test_inside_the_sunday_window() -> None:
    assert maintenance_end(paris(2026, 6, 7, 22), SUNDAY) == paris(2026, 6, 7, 23)
    assert maintenance_end(paris(2026, 6, 7, 22, 59), SUNDAY) == paris(2026, 6, 7, 23)


@pytest.mark.parametrize(
    "instant",
    [
        paris(2026, 6, 7, 21, 59),
        paris(2026, 6, 7, 23),  # the end is outside
        paris(2026, 6, 8, 22, 30),  # Monday
        paris(2026, 6, 6, 22, 30),  # Saturday
    ],
)
def test_outside_the_sunday_window(instant: datetime) -> None:
    assert maintenance_end(instant, SUNDAY) is None


def test_maintenance_in_local_time_across_dst() -> None:
    # 2026-03-29 is the spring change: 22:00 local is 20:00 UTC that evening.
    inside = datetime(2026, 3, 29, 20, 30, tzinfo=UTC)
    assert maintenance_end(inside, SUNDAY) == datetime(2026, 3, 29, 21, tzinfo=UTC)
    assert maintenance_end(inside, SUNDAY).tzinfo is UTC  # type: ignore[union-attr]
    assert maintenance_end(datetime(2026, 3, 22, 20, 30, tzinfo=UTC), SUNDAY) is None
    # 2026-10-25, the autumn change: 22:00 local is 21:00 UTC.
    assert maintenance_end(datetime(2026, 10, 25, 21, 30, tzinfo=UTC), SUNDAY) == datetime(
        2026, 10, 25, 22, tzinfo=UTC
    )


def test_window_past_midnight() -> None:
    saturday_night = (MaintenanceWindow(weekday=5, starts="23:30", ends="00:30"),)
    assert maintenance_end(paris(2026, 6, 6, 23, 45), saturday_night) == paris(2026, 6, 7, 0, 30)
    assert maintenance_end(paris(2026, 6, 7, 0, 10), saturday_night) == paris(2026, 6, 7, 0, 30)
    assert maintenance_end(paris(2026, 6, 7, 0, 30), saturday_night) is None
    assert maintenance_end(paris(2026, 6, 8, 0, 10), saturday_night) is None


def test_back_to_back_windows_are_chained() -> None:
    windows = (MaintenanceWindow(), MaintenanceWindow(starts="23:00", ends="23:30"))
    assert maintenance_end(paris(2026, 6, 7, 22, 15), windows) == paris(2026, 6, 7, 23, 30)
    assert maintenance_end(paris(2026, 6, 7, 22, 15), ()) is None


def test_windows_covering_every_instant_are_refused() -> None:
    always = tuple(
        MaintenanceWindow(weekday=day, starts=starts, ends=ends)
        for day in range(7)
        for starts, ends in (("00:00", "12:00"), ("12:00", "00:00"))
    )
    with pytest.raises(ValueError, match="whole week"):
        maintenance_end(paris(2026, 6, 7, 10), always)


@pytest.mark.parametrize(
    "kwargs", [{"weekday": 7}, {"starts": "22:00", "ends": "22:00"}, {"time_zone": "Mars/Base"}]
)
def test_invalid_maintenance_windows_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MaintenanceWindow(**kwargs)  # type: ignore[arg-type]


def test_maintenance_windows_are_read_from_configuration_text() -> None:
    assert parse_maintenance_window("sun 22:00-23:00") == MaintenanceWindow()
    assert parse_maintenance_window(" Saturday 23:30-00:30 ") == MaintenanceWindow(5, "23:30", "00:30")
    for bad in ("sunday", "dim 22:00-23:00", "sun 22:00", "sun 22:00-22:00"):
        with pytest.raises(ValueError):
            parse_maintenance_window(bad)
