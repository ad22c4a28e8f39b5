"""Working-hour calendar and AGORA maintenance windows (SPEC §4), pure.

Working hours ("heures ouvrées") are, by our configurable interpretation,
07:00–19:00 Europe/Paris on working weekdays, minus closed days (French public
holidays). The closed days are data — computed outside workflows by
``state_models.public_holidays`` — so this module can run inside a Temporal
workflow and the calendar a deadline used is recorded in its history. Never
read the clock here: pass instants in (``workflow.now()``).

Conventions:
- instants are timezone-aware datetimes (a naive one raises ValueError);
- every returned instant is expressed in the time zone of the instant passed
  in (so ``workflow.now()``, in UTC, gives UTC back);
- opening and closing times are local wall-clock times in the calendar's zone,
  converted to absolute instants day by day, so DST changes are handled: all
  arithmetic is done in UTC, never on local wall-clock values;
- a working window is half-open, [opens, closes): the opening instant is
  working time, the closing instant is not.
"""


from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY = timedelta(days=1)
# Maintenance windows recur weekly; chaining back-to-back windows for more
# than a week means they cover all time.
_MAX_MAINTENANCE_CHAIN = timedelta(days=8)


@cache
def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {key!r}") from None


# Load the default zone's tzdata at import: a workflow sandbox may refuse the
# file read later, while a passed-through module's import-time state is fine.
_zone("Europe/Paris")


def _parse_clock(value: str, name: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a HH:MM local time, got {value!r}") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{name} must be a local time without offset, got {value!r}")
    return parsed


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, got {instant!r}")


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (first occurrence if repeated)."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class WorkingCalendar:
    """Working hours; JSON-friendly so it can travel in a workflow input.

    ``working_weekdays`` uses Python's numbering (Monday = 0); ``closed_days``
    are ISO dates (YYYY-MM-DD), typically the public holidays of the years
    a deadline may span.
    """

    time_zone: str = "Europe/Paris"
    opens: str = "07:00"
    closes: str = "19:00"
    working_weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    closed_days: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _zone(self.time_zone)  # raises ValueError on an unknown zone
        if _parse_clock(self.opens, "opens") >= _parse_clock(self.closes, "closes"):
            raise ValueError("a working day must open before it closes")
        if not self.working_weekdays:
            raise ValueError("at least one weekday must be a working day")
        if any(not 0 <= weekday <= 6 for weekday in self.working_weekdays):
            raise ValueError("working_weekdays must be in 0 (Monday) … 6 (Sunday)")
        for day in self.closed_days:
            # Membership is tested on the ISO string, so require its canonical form.
            if date.fromisoformat(day).isoformat() != day:
                raise ValueError(f"closed day must be written YYYY-MM-DD, got {day!r}")

    def is_working_day(self, day: date) -> bool:
        """True when ``day`` (a local date) has working hours."""
        return day.weekday() in self.working_weekdays and day.isoformat() not in self.closed_days

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The working window of a local date as UTC instants, None if closed."""
        if not self.is_working_day(day):
            return None
        zone = _zone(self.time_zone)
        return (
            _at(day, _parse_clock(self.opens, "opens"), zone),
            _at(day, _parse_clock(self.closes, "closes"), zone),
        )

    def local_date(self, instant: datetime) -> date:
        """The calendar-local date of an aware instant."""
        _require_aware(instant)
        return instant.astimezone(_zone(self.time_zone)).date()


def _windows_from(day: date, cal: WorkingCalendar) -> Iterator[tuple[datetime, datetime]]:
    """Working windows from the local date ``day`` onwards, endlessly."""
    while True:
        window = cal.window(day)
        if window is not None:
            yield window
        day += _DAY


def is_working_time(instant: datetime, cal: WorkingCalendar) -> bool:
    """True when ``instant`` lies inside a working window (opening included)."""
    window = cal.window(cal.local_date(instant))
    return window is not None and window[0] <= instant < window[1]


def next_opening(instant: datetime, cal: WorkingCalendar) -> datetime:
    """The earliest working instant at or after ``instant``.

    An instant already in working time is returned unchanged; otherwise the
    next opening (the next working day's, after closing or on a closed day).
    """
    opens, _ = next(w for w in _windows_from(cal.local_date(instant), cal) if instant < w[1])
    return max(instant, opens).astimezone(instant.tzinfo)


def add_working_hours(start: datetime, hours: float, cal: WorkingCalendar) -> datetime:
    """The instant at which ``hours`` working hours have elapsed since ``start``.

    It is the earliest such instant: a deadline that uses up a day's last
    working minute is that day's closing time, not the next opening; a start
    outside working hours counts from the next opening; zero hours is
    ``start`` itself.
    """
    if hours < 0:
        raise ValueError(f"hours must not be negative, got {hours}")
    _require_aware(start)
    remaining = timedelta(hours=hours)
    if not remaining:
        return start
    origin = start.astimezone(UTC)  # same-zone arithmetic would be wall-clock
    windows = _windows_from(cal.local_date(start), cal)
    while True:
        opens, closes = next(windows)
        begin = max(origin, opens)
        if begin >= closes:
            continue
        if remaining <= closes - begin:
            return (begin + remaining).astimezone(start.tzinfo)
        remaining -= closes - begin


def working_time_between(a: datetime, b: datetime, cal: WorkingCalendar) -> timedelta:
    """Working time elapsed from ``a`` to ``b``; negative when ``b`` precedes ``a``.

    The sign lets a caller read the working time left before a deadline and,
    once past it, how late it is.
    """
    _require_aware(a)
    _require_aware(b)
    if b < a:
        return -working_time_between(b, a, cal)
    a, b = a.astimezone(UTC), b.astimezone(UTC)  # same-zone subtraction is wall-clock
    total = timedelta(0)
    last_day = cal.local_date(b)
    for opens, closes in _windows_from(cal.local_date(a), cal):
        if cal.local_date(opens) > last_day:
            break
        overlap = min(b, closes) - max(a, opens)
        if overlap > timedelta(0):
            total += overlap
    return total


def add_working_days(start: datetime, days: int, cal: WorkingCalendar) -> datetime:
    """The closing instant of the ``days``-th working day after ``start``'s date.

    The day of ``start`` never counts, whatever the hour (as in French legal
    deadlines, the day of the triggering event is not counted): a crisis
    cell convened on Friday 10:00 "within 2 working days" is due on Tuesday
    at closing time, and one convened on a Saturday is due on Tuesday too.
    ``days`` must be at least 1.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    windows = _windows_from(cal.local_date(start) + _DAY, cal)
    for _ in range(days - 1):
        next(windows)
    _, closes = next(windows)
    return closes.astimezone(start.tzinfo)


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly window during which AGORA is closed (SPEC §4: Sunday 22–23 h).

    ``weekday`` (Monday = 0) is the local day the window starts; a window
    whose end is not after its start runs past midnight into the next day.
    """

    weekday: int = 6
    starts: str = "22:00"
    ends: str = "23:00"
    time_zone: str = "Europe/Paris"

    def __post_init__(self) -> None:
        _zone(self.time_zone)
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be in 0 (Monday) … 6 (Sunday)")
        if _parse_clock(self.starts, "starts") == _parse_clock(self.ends, "ends"):
            raise ValueError("a maintenance window cannot be empty")

    def occurrence_containing(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The [start, end) occurrence, in UTC, that contains ``instant``, if any."""
        _require_aware(instant)
        zone = _zone(self.time_zone)
        starts = _parse_clock(self.starts, "starts")
        ends = _parse_clock(self.ends, "ends")
        today = instant.astimezone(zone).date()
        # An occurrence that crosses midnight may have started the day before.
        for day in (today - _DAY, today):
            if day.weekday() != self.weekday:
                continue
            begin = _at(day, starts, zone)
            end = _at(day + _DAY if ends <= starts else day, ends, zone)
            if begin <= instant < end:
                return begin, end
        return None


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_maintenance_window(text: str, time_zone: str = "Europe/Paris") -> MaintenanceWindow:
    """``"sun 22:00-23:00"`` → a window (configuration format; day names in English)."""
    try:
        day, hours = text.strip().lower().split()
        starts, ends = hours.split("-")
        weekday = _WEEKDAYS.index(day[:3])
    except ValueError:
        raise ValueError(f"a maintenance window is written 'sun 22:00-23:00', got {text!r}") from None
    return MaintenanceWindow(weekday, starts, ends, time_zone)


def maintenance_end(instant: datetime, windows: tuple[MaintenanceWindow, ...]) -> datetime | None:
    """When the maintenance ``instant`` falls in ends; None outside maintenance.

    Overlapping or back-to-back windows are chained: the result is the first
    instant outside all of them. The window's start is inside, its end is not.
    """
    _require_aware(instant)
    current = instant
    while True:
        ends = [
            occurrence[1]
            for window in windows
            if (occurrence := window.occurrence_containing(current)) is not None
        ]
        if not ends:
            break
        current = max(ends)
        if current - instant > _MAX_MAINTENANCE_CHAIN:
            raise ValueError("maintenance windows cover the whole week")
    return None if current == instant else current.astimezone(instant.tzinfo)
