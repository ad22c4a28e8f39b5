"""The service report's figures (state_models/service_report.py), on known answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from state_models.calendar import MaintenanceWindow
from state_models.service_report import (
    CallCounts,
    ReportCutOff,
    ReportIncident,
    maintenance_spans,
    year_report,
)

SUNDAY_22_23 = (MaintenanceWindow(),)
T = datetime.fromisoformat


def incident(ticket: str, detected: str, *, origin: str = "region", priority: str = "P1",
             kind: str = "agora_unavailable", impact: str = "all_users",
             notified_after: float | None = 30, fixed: str | None = None,
             deadline: str | None = None) -> ReportIncident:
    at = T(detected)
    return ReportIncident(
        ticket=ticket, origin=origin, priority=priority,
        severity="critical_major" if priority in ("P1", "P2") else "minor", impact=impact,
        kind=kind, detected_at=at, notification_due_at=at + timedelta(hours=2),
        notified_at=at + timedelta(minutes=notified_after) if notified_after is not None else None,
        fixed_at=T(fixed) if fixed else None, deadline=T(deadline) if deadline else None)


def test_march_2026_availability_counts_outages_and_cut_offs_outside_maintenance() -> None:
    # March 2026: 31 days; Sundays 1, 8, 15, 22, 29 → 5 maintenance hours (Paris 22–23 h,
    # 21–22 UTC before the 29th's change of time, 20–21 UTC on the 29th).
    start, end = T("2026-03-01T00:00:00+00:00"), T("2026-04-01T00:00:00+00:00")
    assert sum((e - s).total_seconds() for s, e in maintenance_spans(start, end, SUNDAY_22_23)) == 5 * 3600
    incidents = [
        # 3 h outage, half an hour of it inside Sunday 8th's window (21:00–22:00 UTC).
        incident("A", "2026-03-08T19:30:00+00:00", fixed="2026-03-08T22:30:00+00:00",
                 deadline="2026-03-09T17:00:00+00:00"),
        # Manual, one user: not unavailability; notified late (3 h), fixed after its deadline.
        incident("B", "2026-03-10T08:00:00+00:00", kind="manual", impact="one_user",
                 priority="P2", notified_after=180, fixed="2026-03-12T08:00:00+00:00",
                 deadline="2026-03-11T08:00:00+00:00"),
        # Reported by the CDC: no notification expected.
        incident("C", "2026-03-20T10:00:00+00:00", origin="cdc", kind="manual", impact="few_users",
                 priority="P3", notified_after=None),
        incident("D", "2026-04-02T10:00:00+00:00", fixed="2026-04-02T11:00:00+00:00"),
    ]
    # A cut-off of 2 h overlapping outage A by 30 min (so 1 h 30 more downtime).
    cut_offs = [ReportCutOff(T("2026-03-08T22:00:00+00:00"), T("2026-03-09T00:00:00+00:00"), "x")]
    now = T("2026-12-31T00:00:00+00:00")
    [march] = year_report(2026, now, incidents, cut_offs, {"2026-03": CallCounts(7, 3)},
                          SUNDAY_22_23, month=3)
    # Down 19:30 → 00:00 = 4 h 30, minus 1 h inside the window = 3 h 30.
    assert march.unavailable_seconds == 3.5 * 3600
    open_seconds = 31 * 86400 - 5 * 3600
    assert march.availability == round(1 - 3.5 * 3600 / open_seconds, 6)
    assert march.by_priority == {"P1": 1, "P2": 1, "P3": 1}
    assert march.by_origin == {"cdc": 1, "region": 2}
    assert (march.notification.met, march.notification.missed) == (["A"], ["B"])
    assert march.notification_minutes == {"A": 30.0, "B": 180.0}
    assert (march.resolution.met, march.resolution.missed) == (["A"], ["B"])
    assert march.cut_offs == [("2026-03-08T22:00:00+00:00", 120.0)]
    assert march.calls == CallCounts(7, 3)


def test_the_year_adds_the_months_and_an_open_incident_is_pending_then_missed() -> None:
    open_one = incident("E", "2026-05-04T08:00:00+00:00", deadline="2026-05-04T19:00:00+00:00")
    before = year_report(2026, T("2026-05-04T12:00:00+00:00"), [open_one], [],
                         {"2026-05": CallCounts(2, 1), "2026-06": CallCounts(1, 0)}, SUNDAY_22_23)
    assert len(before) == 13 and before[-1].label == "2026"
    assert before[4].resolution.pending == ["E"] and before[-1].calls == CallCounts(3, 1)
    assert before[6].availability is None  # July has not started
    after = year_report(2026, T("2026-05-05T12:00:00+00:00"), [open_one], [], {}, SUNDAY_22_23)
    assert after[4].resolution.missed == ["E"]
    # Open since Monday 08:00 UTC: 28 h down by Tuesday 12:00, no maintenance in between.
    assert after[4].unavailable_seconds == 28 * 3600
    assert after[-1].unavailable_seconds == 28 * 3600
