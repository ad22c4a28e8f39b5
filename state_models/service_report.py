"""The service report of the Convention de service (availability and SLA compliance), pure.

Per month of a year and for the year: AGORA's availability as the product saw it
(maintenance windows excluded from both the time and the outages), incidents by
priority and by origin, notification times against the 2-hour limit, resolution times
against the 11-working-hour deadline (met or missed, naming the incidents), cut-offs and
their durations, failed and retried calls.

Unavailability is the union of the link's cut-offs and of the incidents that made AGORA
unusable for every user (detected automatically, or of impact "all_users"), each from
its detection to its fix or workaround (or to the end of the period while open).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from state_models.calendar import MaintenanceWindow

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ReportIncident:
    ticket: str
    origin: str  # region, cdc, region_system
    priority: str  # P1…P4, or "" for incidents graded by severity only
    severity: str
    impact: str
    kind: str  # "manual" or the automatic kind (e.g. agora_unavailable)
    detected_at: datetime
    notification_due_at: datetime
    notified_at: datetime | None
    fixed_at: datetime | None  # workaround or resolution, the earlier
    deadline: datetime | None  # critical/major only


@dataclass(frozen=True)
class ReportCutOff:
    at: datetime
    reconnected_at: datetime | None
    reason: str


@dataclass(frozen=True)
class CallCounts:
    failed: int = 0
    retried: int = 0


@dataclass
class Compliance:
    met: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # still within their limit


@dataclass
class PeriodReport:
    label: str  # "2026-03" or "2026"
    starts: datetime
    ends: datetime
    availability: float | None  # None: the period has not started
    unavailable_seconds: float
    maintenance_seconds: float
    by_priority: dict[str, int]
    by_origin: dict[str, int]
    notification: Compliance
    notification_minutes: dict[str, float]
    resolution: Compliance
    cut_offs: list[tuple[str, float | None]]  # (start ISO, duration in minutes; None while cut)
    calls: CallCounts


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _intersection(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> float:
    return max((min(a[1], b[1]) - max(a[0], b[0])).total_seconds(), 0.0)


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def maintenance_spans(start: datetime, end: datetime,
                      windows: tuple[MaintenanceWindow, ...]) -> list[tuple[datetime, datetime]]:
    """The maintenance occurrences overlapping [start, end), clipped to it."""
    spans = []
    for window in windows:
        zone = ZoneInfo(window.time_zone)
        begins, ends = time.fromisoformat(window.starts), time.fromisoformat(window.ends)
        day = start.astimezone(zone).date() - _DAY
        while day <= end.astimezone(zone).date():
            if day.weekday() == window.weekday:
                opening = datetime.combine(day, begins, tzinfo=zone)
                closing = datetime.combine(day + _DAY if ends <= begins else day, ends, tzinfo=zone)
                spans.append((max(opening, start), min(closing, end)))
            day += _DAY
    return _union(spans)


def _downtime(incidents: list[ReportIncident], cut_offs: list[ReportCutOff],
              end: datetime) -> list[tuple[datetime, datetime]]:
    spans = [(c.at, c.reconnected_at or end) for c in cut_offs]
    spans += [(i.detected_at, i.fixed_at or end) for i in incidents
              if i.origin != "region_system" and (i.kind != "manual" or i.impact == "all_users")]
    return _union(spans)


def period_report(label: str, starts: datetime, ends: datetime, now: datetime,
                  incidents: list[ReportIncident], cut_offs: list[ReportCutOff],
                  calls: CallCounts, windows: tuple[MaintenanceWindow, ...]) -> PeriodReport:
    horizon = min(ends, now)
    in_period = [i for i in incidents if starts <= i.detected_at < ends]
    maintenance = maintenance_spans(starts, horizon, windows) if horizon > starts else []
    maintenance_seconds = sum((e - s).total_seconds() for s, e in maintenance)
    down = [(max(s, starts), min(e, horizon)) for s, e in _downtime(incidents, cut_offs, horizon)
            if e > starts and s < horizon]
    # Outage time inside a maintenance window is not unavailability: AGORA is closed then.
    unavailable = sum((e - s).total_seconds() - sum(_intersection((s, e), m) for m in maintenance)
                      for s, e in down)
    open_seconds = (horizon - starts).total_seconds() - maintenance_seconds
    availability = None if open_seconds <= 0 else round(1 - unavailable / open_seconds, 6)

    notification, minutes = Compliance(), {}
    for i in in_period:
        if i.origin == "cdc":
            continue  # the CDC told us: nothing to notify
        if i.notified_at is not None:
            minutes[i.ticket] = round((i.notified_at - i.detected_at).total_seconds() / 60, 1)
            (notification.met if i.notified_at <= i.notification_due_at
             else notification.missed).append(i.ticket)
        elif now > i.notification_due_at:
            notification.missed.append(i.ticket)
        else:
            notification.pending.append(i.ticket)

    resolution = Compliance()
    for i in in_period:
        if i.deadline is None:
            continue
        if i.fixed_at is not None:
            (resolution.met if i.fixed_at <= i.deadline else resolution.missed).append(i.ticket)
        elif now > i.deadline:
            resolution.missed.append(i.ticket)
        else:
            resolution.pending.append(i.ticket)

    by_priority: dict[str, int] = {}
    by_origin: dict[str, int] = {}
    for i in in_period:
        key = i.priority or i.severity
        by_priority[key] = by_priority.get(key, 0) + 1
        by_origin[i.origin] = by_origin.get(i.origin, 0) + 1
    cuts = [(c.at.isoformat(), round((c.reconnected_at - c.at).total_seconds() / 60, 1)
             if c.reconnected_at else None) for c in cut_offs if starts <= c.at < ends]
    return PeriodReport(label, starts, ends, availability, unavailable, maintenance_seconds,
                        dict(sorted(by_priority.items())), dict(sorted(by_origin.items())),
                        notification, minutes, resolution, cuts, calls)


def year_report(year: int, now: datetime, incidents: list[ReportIncident],
                cut_offs: list[ReportCutOff], calls: dict[str, CallCounts],
                windows: tuple[MaintenanceWindow, ...],
                month: int | None = None) -> list[PeriodReport]:
    """The months (or the one month asked) then, without a month, the whole year."""
    months = [month] if month else list(range(1, 13))
    reports = []
    for m in months:
        starts, ends = month_bounds(year, m)
        label = f"{year}-{m:02d}"
        reports.append(period_report(label, starts, ends, now, incidents, cut_offs,
                                     calls.get(label, CallCounts()), windows))
    if month is None:
        total = CallCounts(sum(c.failed for c in calls.values() if c),
                           sum(c.retried for c in calls.values() if c))
        reports.append(period_report(str(year), month_bounds(year, 1)[0],
                                     month_bounds(year, 12)[1], now, incidents, cut_offs,
                                     total, windows))
    return reports
