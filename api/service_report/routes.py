"""The service report (Convention de service; SPEC §4): availability and SLA compliance per
month and for the year, as JSON, CSV, PDF and the page *Rapport de service* with its
charts drawn on the server (SVG, no script, nothing fetched from elsewhere).

Figures come from ``state_models.service_report``; the incidents from Temporal, the
cut-offs from the link, the failed and retried calls from the trace log's counts.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import pygal
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pygal.style import Style

from api.auth import context, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.pages import guarded, render, signed_in_user
from contracts.incident import IncidentView
from state_models.calendar import parse_maintenance_window
from state_models.service_report import (
    CallCounts,
    PeriodReport,
    ReportCutOff,
    ReportIncident,
    year_report,
)
from store.models import User
from store.pdf import Line, document
from store.traces import TraceStore
from temporal_client import link as link_commands

api = APIRouter(prefix="/api", tags=["Service report"])
pages = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[User, Depends(requires("incidents:read"))]
Year = Annotated[int, Query(ge=2019, le=2100, description="Année (AAAA)")]
Month = Annotated[int | None, Query(ge=1, le=12, description="Mois (1 à 12), sinon l'année")]
ERRORS = {401: {"model": ErrorOut, "description": "Non authentifié"},
          403: {"model": ErrorOut, "description": "Rôle insuffisant"}}
ORIGINS = {"region": "Région", "cdc": "CDC", "region_system": "Système Région"}


@dataclass
class ServiceReport:
    year: int
    month: int | None
    generated_at: str
    periods: list[PeriodReport]


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def report_incident(view: IncidentView) -> ReportIncident:
    fixes = [a.at for a in (view.worked_around, view.resolved) if a is not None]
    return ReportIncident(
        ticket=view.ticket, origin=view.origin, priority=view.priority, severity=view.severity,
        impact=view.impact, kind=view.kind, detected_at=datetime.fromisoformat(view.detected_at),
        notification_due_at=datetime.fromisoformat(view.notification_due_at),
        notified_at=_instant(view.notified_at), fixed_at=_instant(min(fixes) if fixes else None),
        deadline=_instant(view.deadline))


async def build(ctx: AppContext, year: int, month: int | None) -> ServiceReport:
    client = await ctx.temporal()
    views = await link_commands.incidents_of_year(client, ctx.settings.task_queue, year)
    try:
        state = await link_commands.link_state(client, ctx.settings.link_workflow_id)
        cut_offs = [ReportCutOff(datetime.fromisoformat(c.at), _instant(c.reconnected_at), c.reason)
                    for c in state.cut_offs]
    except link_commands.LinkRefused:
        cut_offs = []  # no link yet: never cut off
    counts = TraceStore(ctx.settings, database=ctx.db).call_counts(year)
    calls = {m: CallCounts(*c) for m, c in counts.items()}
    windows = tuple(parse_maintenance_window(w) for w in ctx.settings.maintenance_windows)
    now = datetime.now(UTC)
    return ServiceReport(year, month, now.isoformat(), year_report(
        year, now, [report_incident(v) for v in views], cut_offs, calls, windows, month))


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.3f} %".replace(".", ",")


def csv_text(report: ServiceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["période", "disponibilité", "indisponibilité (min)", "maintenance (min)",
                     "incidents par priorité", "incidents par origine",
                     "notifications dans les 2 h", "notifications hors délai",
                     "délais de notification (min)",
                     "résolutions dans les 11 h ouvrées", "résolutions hors délai",
                     "coupures (début, durée min)", "appels en échec", "appels rejoués"])
    for p in report.periods:
        writer.writerow([
            p.label, _percent(p.availability), round(p.unavailable_seconds / 60, 1),
            round(p.maintenance_seconds / 60, 1),
            " ".join(f"{k}={v}" for k, v in p.by_priority.items()),
            " ".join(f"{ORIGINS.get(k, k)}={v}" for k, v in p.by_origin.items()),
            " ".join(p.notification.met), " ".join(p.notification.missed),
            " ".join(f"{t}={m:g}" for t, m in p.notification_minutes.items()),
            " ".join(p.resolution.met), " ".join(p.resolution.missed),
            " ".join(f"{at} ({'en cours' if d is None else d})" for at, d in p.cut_offs),
            p.calls.failed, p.calls.retried])
    return out.getvalue()


def pdf_bytes(report: ServiceReport) -> bytes:
    title = f"Rapport de service AGORA {report.year}" + (f"-{report.month:02d}" if report.month else "")
    lines = [Line(title, heading=True), Line(f"Établi le {report.generated_at}")]
    for p in report.periods:
        lines += [
            Line(f"Période {p.label}", heading=True),
            Line(f"Disponibilité d'AGORA (hors maintenance) : {_percent(p.availability)}; "
                 f"indisponibilité {p.unavailable_seconds / 60:.0f} min"),
            Line("Incidents par priorité : " + (", ".join(f"{k} {v}" for k, v in p.by_priority.items()) or "aucun")),
            Line("Incidents par origine : " + (", ".join(f"{ORIGINS.get(k, k)} {v}" for k, v in p.by_origin.items()) or "aucun")),
            Line(f"Notification sous 2 h : tenue {', '.join(p.notification.met) or '—'}; "
                 f"manquée {', '.join(p.notification.missed) or '—'}; délais "
                 + (", ".join(f"{t} {m:g} min" for t, m in p.notification_minutes.items()) or "—")),
            Line(f"Résolution sous 11 heures ouvrées : tenue {', '.join(p.resolution.met) or '—'}; "
                 f"manquée {', '.join(p.resolution.missed) or '—'}"),
            Line("Coupures : " + (", ".join(f"{at} ({'en cours' if d is None else f'{d:.0f} min'})"
                                            for at, d in p.cut_offs) or "aucune")),
            Line(f"Appels en échec : {p.calls.failed}; appels rejoués : {p.calls.retried}"),
        ]
    return document(title, lines)


_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)
_STYLE = Style(background="white", plot_background="white", font_family="sans-serif",
               colors=("#2b6cb0", "#c53030", "#718096", "#2f855a"))


def charts(report: ServiceReport) -> dict[str, str]:
    """Three SVG charts, drawn here: availability per month, SLA compliance, incidents
    per priority. Inline SVG: pygal's tooltips script is left out (no CDN, no script)."""
    months = [p for p in report.periods if len(p.label) == 7]
    options = {"style": _STYLE, "js": [], "disable_xml_declaration": True, "width": 640,
               "height": 300, "x_labels": [p.label[5:] for p in months]}
    availability = pygal.Bar(title="Disponibilité d'AGORA par mois (%)", range=(0, 100),
                             show_legend=False, **options)
    availability.add("disponibilité", [None if p.availability is None
                                       else round(p.availability * 100, 3) for p in months])
    compliance = pygal.StackedBar(title="Délais de la convention : tenus / manqués", **options)
    compliance.add("notification tenue", [len(p.notification.met) for p in months])
    compliance.add("notification manquée", [len(p.notification.missed) for p in months])
    compliance.add("résolution tenue", [len(p.resolution.met) for p in months])
    compliance.add("résolution manquée", [len(p.resolution.missed) for p in months])
    priorities = sorted({k for p in months for k in p.by_priority})
    by_priority = pygal.StackedBar(title="Incidents par priorité", **options)
    for priority in priorities:
        by_priority.add(priority, [p.by_priority.get(priority, 0) for p in months])
    # pygal embeds its interactive configuration as an inline script even with js=[]:
    # dropped, the pages run no script (their content security stays script-free).
    return {name: _SCRIPT.sub("", chart.render(is_unicode=True)) for name, chart in
            (("availability", availability), ("compliance", compliance), ("priorities", by_priority))}


@api.get("/service-report", response_model=ServiceReport, responses=ERRORS)
async def service_report(year: Year, user: Reader, ctx: Ctx, month: Month = None) -> ServiceReport:
    """Availability (maintenance windows excluded), incidents by priority and origin,
    notification and resolution times against the convention's limits (incidents named),
    cut-offs and their durations, failed and retried calls: per month, and for the year."""
    return await build(ctx, year, month)


@api.get("/service-report.csv", responses=ERRORS, response_class=Response)
async def service_report_csv(year: Year, user: Reader, ctx: Ctx, month: Month = None) -> Response:
    report = await build(ctx, year, month)
    name = f"rapport-de-service-{year}{f'-{month:02d}' if month else ''}.csv"
    return Response(csv_text(report).encode("utf-8-sig"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@api.get("/service-report.pdf", responses=ERRORS, response_class=Response)
async def service_report_pdf(year: Year, user: Reader, ctx: Ctx, month: Month = None) -> Response:
    report = await build(ctx, year, month)
    name = f"rapport-de-service-{year}{f'-{month:02d}' if month else ''}.pdf"
    return Response(pdf_bytes(report), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@pages.get("/rapport-de-service")
@guarded
async def service_report_page(request: Request) -> Response:
    user = signed_in_user(request, "incidents:read")
    ctx = context(request)
    try:
        year = int(request.query_params.get("annee") or datetime.now(UTC).year)
        month = int(request.query_params["mois"]) if request.query_params.get("mois") else None
        if not 2019 <= year <= 2100 or (month is not None and not 1 <= month <= 12):
            raise ValueError
    except ValueError:
        return render(request, "error.html", 422, user=user, title="Période invalide",
                      message="Année sur quatre chiffres (2019 à 2100), mois de 1 à 12.")
    report = await build(ctx, year, month)
    return render(request, "service_report.html", 200, user=user, report=report,
                  charts=charts(report) if month is None else {}, percent=_percent,
                  origins=ORIGINS)
