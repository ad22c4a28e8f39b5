"""``agora-flow sla deadline``: the SLA deadline as ISO 8601 in the calendar's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from state_models.calendar import WorkingCalendar, add_working_hours


def format_deadline(from_iso: str, hours: float, calendar: WorkingCalendar) -> str:
    """The instant ``hours`` working hours after ``from_iso``, in the calendar's zone.

    ``from_iso`` must carry its offset (an ambiguous local time is refused).
    """
    start = datetime.fromisoformat(from_iso)
    if start.tzinfo is None:
        raise ValueError(f"--from needs an offset, e.g. 2026-12-24T18:30:00+01:00; got {from_iso!r}")
    deadline = add_working_hours(start, hours, calendar)
    return deadline.astimezone(ZoneInfo(calendar.time_zone)).isoformat()
