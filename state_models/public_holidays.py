"""French public holidays as calendar data, computed OUTSIDE workflows.

The ``holidays`` library reads the clock (``time.localtime``), which the
Temporal workflow sandbox refuses: call this at worker start-up, in
configuration or in an activity, and pass the resulting WorkingCalendar into
workflows. Never import this module from a workflow module.
"""

from __future__ import annotations

from collections.abc import Iterable

import holidays

from state_models.calendar import WorkingCalendar


def french_public_holidays(years: Iterable[int], subdivision: str | None = None) -> tuple[str, ...]:
    """The French public holidays of ``years`` as sorted ISO dates.

    Without ``subdivision``, the metropolitan list (11 days a year, Whit
    Monday included), which is Corsica's. A subdivision code from
    ``holidays.France.subdivisions`` adds local days, e.g. "57" (Moselle:
    Good Friday, 26 December) or "974" (La Réunion: abolition of slavery).
    """
    calendar = holidays.country_holidays("FR", subdiv=subdivision, years=sorted(set(years)))
    return tuple(sorted(day.isoformat() for day in calendar))


def default_calendar(
    years: Iterable[int],
    extra_closed_days: Iterable[str] = (),
    subdivision: str | None = None,
) -> WorkingCalendar:
    """The SPEC §4 working calendar (07:00–19:00 Europe/Paris, Monday–Friday)
    closed on the public holidays of ``years`` and on ``extra_closed_days``
    (ISO dates, e.g. a regional closure decided by the Region)."""
    closed = set(french_public_holidays(years, subdivision)) | set(extra_closed_days)
    return WorkingCalendar(closed_days=tuple(sorted(closed)))
