"""Incidents on the AGORA link and the cut-off switch: JSON API and French pages (SPEC §4).

Operators and administrators act (open an incident, record the CDC's acknowledgement,
a workaround, the resolution; cut the link off; record the crisis cell's approvals);
auditors read; every signed-in user sees the link's status.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, HTTPException, Path, Request, UploadFile, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, StringConstraints, field_validator
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import check_csrf, context, may, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.idempotency import request_identity
from api.pages import guarded, read_form, render, signed_in_user
from contracts.agora_link import CRISIS_DOMAINS, CrisisMeeting, LinkState
from contracts.incident import CdcReport, IncidentView, PhoneCall, Reclassification, RegionEvent
from state_models.attachments import MAX_BYTES, MAX_FILES
from store.incident_attachments import AttachmentStore
from store.models import User
from temporal_client import link as link_commands
from temporal_client.link import INCIDENT_ACTIONS, LinkRefused, NewIncident, new_ticket

PARIS = ZoneInfo("Europe/Paris")
api = APIRouter(prefix="/api", tags=["AGORA link and incidents"])
pages = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(context)]
LinkReader = Annotated[User, Depends(requires("link:read"))]
LinkWriter = Annotated[User, Depends(requires("link:write"))]
# A major disaster is declared by administrators only (the authorised users).
LinkDisaster = Annotated[User, Depends(requires("link:disaster"))]
IncidentReader = Annotated[User, Depends(requires("incidents:read"))]
IncidentWriter = Annotated[User, Depends(requires("incidents:write"))]

Ticket = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,40}$", description="N° de ticket de la Région")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
ActionName = Literal[tuple(INCIDENT_ACTIONS)]  # type: ignore[valid-type]
ERRORS = {
    401: {"model": ErrorOut, "description": "Non authentifié"},
    403: {"model": ErrorOut, "description": "Rôle insuffisant"},
}
REFUSALS = {
    404: {"model": ErrorOut, "description": "Incident ou liaison introuvable"},
    409: {"model": ErrorOut, "description": "Refusé dans l'état actuel (le message dit pourquoi)"},
}


Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CdcReportIn(BaseModel):
    """An anomaly the CDC detected and reported to the Region."""

    reference: Short = Field(description="Référence de la CDC")
    reported_at: datetime = Field(description="Quand la CDC l'a signalée (avec fuseau)")
    reported_by: Short = Field(description="Qui, à la CDC, l'a signalée")
    channel: Literal["mail", "phone"] = Field(description="Par courriel ou par téléphone")


class RegionEventIn(BaseModel):
    """An outage or a planned intervention on the Region's own system."""

    kind: Literal["outage", "planned_intervention"]
    starts_at: datetime = Field(description="Début (avec fuseau)")
    ends_at: datetime | None = Field(None, description="Fin prévue (avec fuseau)")


class FileIn(BaseModel):
    """A file sent with the opening (the JSON API's way to attach one to the notification)."""

    filename: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content_base64: str = Field(description="Contenu encodé en base64 (requête de 1 Mo au plus)")

    @field_validator("content_base64")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError as refused:
            raise ValueError("contenu base64 invalide") from refused
        return value


class IncidentCreate(BaseModel):
    impact: str = Field("", description="all_users, fifty_users_or_more, non_essential_functions, "
                                        "few_users, one_user (matrice configurée)")
    urgency: str = Field("", description="high, medium, low (matrice configurée)")
    severity: Literal["critical_major", "minor", ""] = Field(
        "", description="À défaut d'impact et d'urgence : critical_major (SLA 11 heures ouvrées) "
                        "ou minor")
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    ticket: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{0,40}$",
                                 description="N° de ticket de la Région (généré si absent)")] = ""
    attachments: list[Annotated[str, StringConstraints(max_length=255)]] = Field(
        default_factory=list, max_length=20, description="Noms ou liens des pièces jointes")
    files: list[FileIn] = Field(
        default_factory=list, max_length=MAX_FILES,
        description="Fichiers joints à la notification (captures, journaux), vérifiés par contenu")
    cdc_report: CdcReportIn | None = Field(
        None, description="Anomalie signalée par la CDC : aucune notification ne lui est "
                          "envoyée, ses engagements sont suivis")
    region_event: RegionEventIn | None = Field(
        None, description="Incident ou intervention programmée sur le système de la Région : "
                          "la CDC en est informée dans un délai d'un jour (rappel sinon)")


class ReclassificationIn(BaseModel):
    impact: Short
    urgency: Short
    note: Note = ""


class PhoneCallIn(BaseModel):
    caller: Short = Field(description="Qui a appelé")
    callee: Short = Field(description="Qui a été appelé")
    called_at: datetime = Field(description="Heure de l'appel (avec fuseau)")
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class IncidentActionIn(BaseModel):
    note: Note = ""


class CutOffIn(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    domain: Literal[CRISIS_DOMAINS] = Field(  # type: ignore[valid-type]
        "production", description="Domaine dont la cellule de crise est convoquée")


class DisasterIn(BaseModel):
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=2000)]
    domain: Literal[CRISIS_DOMAINS] = "production"  # type: ignore[valid-type]


class CrisisMeetingIn(BaseModel):
    held_at: datetime = Field(description="Date et heure de la réunion (avec fuseau)")
    attendees: list[Short] = Field(min_length=1, max_length=30, description="Participants")
    minutes: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
    decision: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    reconnection_agreed: bool = Field(description="La cellule décide expressément de reconnecter")


class ApprovalIn(BaseModel):
    approver: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = Field(
        "", description="Code utilisateur du membre de la cellule de crise qui donne son accord "
                        "(par défaut : l'utilisateur connecté)")
    note: Note = Field("", description="Référence de l'accord écrit (obligatoire s'il est "
                                       "enregistré pour le compte d'un autre)")


def _http_error(refused: LinkRefused, field: str = "") -> HTTPException:
    if refused.kind == "Invalid":
        return HTTPException(422, [{"loc": ["body", field or refused.field], "msg": refused.message,
                                    "type": "value_error"}])
    code = status.HTTP_404_NOT_FOUND if refused.kind == "Unknown" else status.HTTP_409_CONFLICT
    return HTTPException(code, {"code": refused.kind, "message": refused.message})


async def _read_upload(upload: UploadFile) -> bytes:
    # One byte over the limit is enough to refuse: never read a huge body whole.
    return await upload.read(MAX_BYTES + 1)


async def _attach(ctx: AppContext, user: User, ticket: str, upload: UploadFile) -> IncidentView:
    store = AttachmentStore(ctx.settings, ctx.cipher)
    try:
        kept = store.save(ticket, upload.filename or "", await _read_upload(upload), user.username)
    except ValueError as refused:
        raise LinkRefused("Invalid", str(refused), "file") from refused
    return await link_commands.add_attachment(await ctx.temporal(), ticket, kept)


async def _open(ctx: AppContext, user: User, incident: IncidentCreate, identity: str,
                uploads: list[UploadFile] | None = None) -> IncidentView:
    contents = [(u.filename or "", await _read_upload(u)) for u in uploads or []]
    contents += [(f.filename, base64.b64decode(f.content_base64)) for f in incident.files]
    files = []
    if contents:
        # The files are kept under the ticket before the incident starts: its first email
        # (the notification) carries them.
        ticket = incident.ticket or new_ticket(ctx.settings.incident_ticket_prefix,
                                               datetime.now(PARIS), identity)
        incident = incident.model_copy(update={"ticket": ticket})
        store = AttachmentStore(ctx.settings, ctx.cipher)
        try:
            files = [store.save(ticket, name, content, user.username) for name, content in contents]
        except ValueError as refused:
            raise LinkRefused("Invalid", str(refused), "files") from refused
    return await link_commands.open_incident(
        await ctx.temporal(), ctx.settings.task_queue,
        NewIncident(severity=incident.severity, impact=incident.impact, urgency=incident.urgency,
                    description=incident.description,
                    opened_by=user.username, ticket=incident.ticket,
                    attachments=tuple(incident.attachments), request_id=identity,
                    cdc_report=_report(incident.cdc_report),
                    region_event=_event(incident.region_event), files=tuple(files)),
        contacts=ctx.contacts, calendar=ctx.calendar,
        ticket_prefix=ctx.settings.incident_ticket_prefix, timings=ctx.incident_timings,
        matrix=ctx.priority_matrix)


def _event(event: RegionEventIn | None) -> RegionEvent | None:
    if event is None:
        return None
    return RegionEvent(event.kind, event.starts_at.isoformat(),
                       event.ends_at.isoformat() if event.ends_at else None)


def _report(report: CdcReportIn | None) -> CdcReport | None:
    if report is None:
        return None
    return CdcReport(report.reference, report.reported_at.isoformat(), report.reported_by,
                     report.channel)


async def _reclassify(ctx: AppContext, user: User, ticket: str,
                      change: ReclassificationIn) -> IncidentView:
    for name, value, known in (("impact", change.impact, ctx.priority_matrix.impacts()),
                               ("urgency", change.urgency, ctx.priority_matrix.urgencies())):
        if value not in known:
            raise LinkRefused("Invalid", f"valeur inconnue : {value!r} (attendu : "
                              f"{', '.join(known)})", name)
    return await link_commands.reclassify_incident(await ctx.temporal(), ticket, Reclassification(
        change.impact, change.urgency, user.username, change.note))


async def _phone_call(ctx: AppContext, user: User, ticket: str, call: PhoneCallIn) -> IncidentView:
    return await link_commands.record_phone_call(await ctx.temporal(), ticket, PhoneCall(
        call.caller, call.callee, call.called_at.isoformat(), call.summary, user.username))


async def _record_meeting(ctx: AppContext, user: User, meeting: CrisisMeetingIn) -> LinkState:
    return await ctx.remember_link(await link_commands.record_crisis_meeting(
        await ctx.temporal(), ctx.settings.link_workflow_id, CrisisMeeting(
            held_at=meeting.held_at.isoformat(), attendees=list(meeting.attendees),
            minutes=meeting.minutes, decision=meeting.decision,
            reconnection_agreed=meeting.reconnection_agreed, recorded_by=user.username)))


async def _approve(ctx: AppContext, user: User, approval: ApprovalIn) -> LinkState:
    return await ctx.remember_link(await link_commands.approve_reconnection(
        await ctx.temporal(), ctx.settings.link_workflow_id,
        approver=approval.approver or user.username, recorded_by=user.username,
        note=approval.note))


# --- JSON API ---------------------------------------------------------------------------


@api.get("/agora-link", response_model=LinkState, responses={**ERRORS, 404: REFUSALS[404]})
async def read_link(user: LinkReader, ctx: Ctx) -> LinkState:
    """The AGORA link: connected or cut off, cut-offs and approvals, held calls, open incidents."""
    try:
        return await link_commands.link_state(await ctx.temporal(), ctx.settings.link_workflow_id)
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/agora-link/cut-off", response_model=LinkState, responses={**ERRORS, **REFUSALS})
async def cut_off(body: CutOffIn, user: LinkWriter, ctx: Ctx) -> LinkState:
    """Disconnect the AGORA link at once: calls wait (no retry spent), the CDC is warned and
    the crisis cell convened (meeting within 2 working days)."""
    try:
        return await ctx.remember_link(await link_commands.cut_off(
            await ctx.temporal(), ctx.settings.link_workflow_id, user.username, body.reason,
            body.domain))
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/agora-link/major-disaster", response_model=LinkState,
          responses={**ERRORS, **REFUSALS})
async def major_disaster(body: DisasterIn, user: LinkDisaster, ctx: Ctx) -> LinkState:
    """Declare a major disaster ("sinistre majeur"): both parties' escalation contacts are
    told at once, the link is suspended and the domain's crisis cell convened."""
    try:
        return await ctx.remember_link(await link_commands.cut_off(
            await ctx.temporal(), ctx.settings.link_workflow_id, user.username, body.description,
            body.domain, major_disaster=True))
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/agora-link/crisis-meetings", response_model=LinkState,
          responses={**ERRORS, **REFUSALS})
async def crisis_meeting(body: CrisisMeetingIn, user: LinkWriter, ctx: Ctx) -> LinkState:
    """Record the crisis cell's meeting: date, attendees, minutes, decision."""
    try:
        return await _record_meeting(ctx, user, body)
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/agora-link/approvals", response_model=LinkState, responses={**ERRORS, **REFUSALS})
async def approve(body: ApprovalIn, user: LinkWriter, ctx: Ctx) -> LinkState:
    """Record a crisis-cell approver's express agreement; with enough approvals the link
    reconnects and the held calls resume in order."""
    try:
        return await _approve(ctx, user, body)
    except LinkRefused as refused:
        raise _http_error(refused, "note") from refused


@api.get("/incidents", response_model=list[IncidentView], responses=ERRORS)
async def incidents(user: IncidentReader, ctx: Ctx) -> list[IncidentView]:
    """Incidents, newest first, with their deadlines and the emails they sent."""
    return await link_commands.list_incidents(await ctx.temporal(), ctx.settings.task_queue)


@api.post("/incidents", status_code=status.HTTP_201_CREATED, response_model=IncidentView,
          responses={**ERRORS, 409: REFUSALS[409]})
async def open_incident(request: Request, body: IncidentCreate, user: IncidentWriter,
                        ctx: Ctx) -> IncidentView:
    """Open an incident: the CDC is notified at once; a critical/major one has an SLA of
    11 working hours, with reminder and escalation emails."""
    try:
        return await _open(ctx, user, body, request_identity(request))
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.get("/incidents/{ticket}", response_model=IncidentView, responses={**ERRORS, 404: REFUSALS[404]})
async def incident(ticket: Ticket, user: IncidentReader, ctx: Ctx) -> IncidentView:
    try:
        return await link_commands.incident_view(await ctx.temporal(), ticket)
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/incidents/{ticket}/reclassification", response_model=IncidentView,
          responses={**ERRORS, **REFUSALS})
async def reclassify(ticket: Ticket, body: ReclassificationIn, user: IncidentWriter,
                     ctx: Ctx) -> IncidentView:
    """A new impact and urgency: the priority follows from the matrix, the deadline is
    recomputed from the original detection, and the change is recorded."""
    try:
        return await _reclassify(ctx, user, ticket, body)
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/incidents/{ticket}/phone-calls", response_model=IncidentView,
          responses={**ERRORS, **REFUSALS})
async def phone_call(ticket: Ticket, body: PhoneCallIn, user: IncidentWriter,
                     ctx: Ctx) -> IncidentView:
    """Record a notification made by phone; its confirmation email goes out at once, and
    the call counts as the notification time once confirmed."""
    try:
        return await _phone_call(ctx, user, ticket, body)
    except LinkRefused as refused:
        raise _http_error(refused, "called_at" if refused.kind == "Invalid" else "") from refused


@api.post("/incidents/{ticket}/attachments", response_model=IncidentView,
          responses={**ERRORS, **REFUSALS})
async def attach(ticket: Ticket, user: IncidentWriter, ctx: Ctx,
                 file: Annotated[UploadFile, File(description="Capture PNG/JPEG/GIF, PDF, ou "
                                                  "journal .txt/.log/.csv (5 Mo au plus)")]
                 ) -> IncidentView:
    """Attach a file to an open incident: kept with it (sealed), and sent as a MIME
    attachment named after the ticket with every later email."""
    try:
        return await _attach(ctx, user, ticket, file)
    except LinkRefused as refused:
        raise _http_error(refused) from refused


@api.post("/incidents/{ticket}/{action}", response_model=IncidentView,
          responses={**ERRORS, **REFUSALS})
async def act(ticket: Ticket, action: ActionName, user: IncidentWriter, ctx: Ctx,
              body: IncidentActionIn | None = None) -> IncidentView:
    """Record the CDC's acknowledgement, a workaround, or the resolution (who and when)."""
    try:
        return await link_commands.act_on_incident(await ctx.temporal(), ticket, action,
                                                   user.username, body.note if body else "")
    except LinkRefused as refused:
        raise _http_error(refused) from refused


# --- pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    error: str = ""
    status_code: int = 200

    @classmethod
    def refused(cls, refused: LinkRefused) -> _Outcome:
        """A refusal shown on the page: 422 for bad input, 409 for a step refused now."""
        return cls(refused.message, 422 if refused.kind == "Invalid" else 409)


_OK = _Outcome()


async def _link_page(request: Request, user: User, outcome: _Outcome = _OK,
                     **values: Any) -> Response:
    ctx = context(request)
    try:
        state = await link_commands.link_state(await ctx.temporal(), ctx.settings.link_workflow_id)
    except LinkRefused as refused:
        state, outcome = None, _Outcome(refused.message, 503)
    return render(request, "link.html", outcome.status_code, user=user, state=state,
                   error=outcome.error, contacts=ctx.contacts,
                   can_write=may(user, "link:write"), can_read_incidents=may(user, "incidents:read"),
                   can_declare_disaster=may(user, "link:disaster"),
                   done=request.query_params.get("fait"), **values)


@pages.get("/liaison")
@guarded
async def link_page(request: Request) -> Response:
    return await _link_page(request, signed_in_user(request, "link:read"))


@pages.post("/liaison/coupure")
@guarded
async def cut_off_page(request: Request) -> Response:
    user = signed_in_user(request, "link:write")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await _link_page(request, user, _Outcome("Formulaire expiré.", 400))
    reason = form.get("reason", "").strip()
    if not reason:
        return await _link_page(request, user, _Outcome("Indiquez le motif de la coupure.", 422),
                                field_errors={"reason": "Champ obligatoire."})
    ctx = context(request)
    domain = form.get("domain", "production")
    if domain not in CRISIS_DOMAINS:
        return await _link_page(request, user, _Outcome("Choisissez le domaine.", 422),
                                field_errors={"domain": "Études ou production."})
    disaster = form.get("major_disaster") == "oui"
    if disaster and not may(user, "link:disaster"):
        return await _link_page(request, user, _Outcome(
            "Seul un administrateur peut déclarer un sinistre majeur.", 403))
    try:
        await ctx.remember_link(await link_commands.cut_off(
            await ctx.temporal(), ctx.settings.link_workflow_id, user.username, reason, domain,
            major_disaster=disaster))
    except LinkRefused as refused:
        return await _link_page(request, user, _Outcome(refused.message, 409))
    return RedirectResponse(f"/liaison?fait={'sinistre' if disaster else 'coupure'}", status_code=303)


@pages.post("/liaison/reunion")
@guarded
async def crisis_meeting_page(request: Request) -> Response:
    user = signed_in_user(request, "link:write")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await _link_page(request, user, _Outcome("Formulaire expiré.", 400))
    try:
        held = datetime.fromisoformat(form.get("held_at", "").strip())
        meeting = CrisisMeetingIn(
            held_at=held if held.tzinfo else held.replace(tzinfo=PARIS),
            attendees=[a.strip() for a in form.get("attendees", "").splitlines() if a.strip()],
            minutes=form.get("minutes", ""), decision=form.get("decision", ""),
            reconnection_agreed=form.get("reconnection_agreed") == "oui")
        await _record_meeting(context(request), user, meeting)
    except ValueError:
        return await _link_page(request, user, _Outcome(
            "Indiquez la date (AAAA-MM-JJTHH:MM), les participants (un par ligne), le compte "
            "rendu et la décision.", 422), values=form)
    except LinkRefused as refused:
        return await _link_page(request, user, _Outcome(refused.message, 409), values=form)
    return RedirectResponse("/liaison?fait=reunion", status_code=303)


@pages.post("/liaison/accords")
@guarded
async def approve_page(request: Request) -> Response:
    user = signed_in_user(request, "link:write")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await _link_page(request, user, _Outcome("Formulaire expiré.", 400))
    approval = ApprovalIn(approver=form.get("approver", "").strip()[:64],
                          note=form.get("note", "").strip()[:2000])
    try:
        await _approve(context(request), user, approval)
    except LinkRefused as refused:
        return await _link_page(request, user, _Outcome(refused.message, 409), values=form)
    return RedirectResponse("/liaison?fait=accord", status_code=303)


async def _incidents_page(request: Request, user: User, outcome: _Outcome = _OK,
                          **values: Any) -> Response:
    ctx = context(request)
    views = await link_commands.list_incidents(await ctx.temporal(), ctx.settings.task_queue)
    return render(request, "incidents.html", outcome.status_code, user=user, incidents=views,
                   error=outcome.error, can_write=may(user, "incidents:write"), **values)


@pages.get("/incidents")
@guarded
async def incidents_page(request: Request) -> Response:
    return await _incidents_page(request, signed_in_user(request, "incidents:read"), values={})


@pages.post("/incidents")
@guarded
async def open_incident_page(request: Request) -> Response:
    user = signed_in_user(request, "incidents:write")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await _incidents_page(request, user, _Outcome("Formulaire expiré.", 400), values=form)
    matrix = context(request).priority_matrix
    errors: dict[str, str] = {}
    if form.get("impact") not in matrix.impacts():
        errors["impact"] = "Choisissez l'impact."
    if form.get("urgency") not in matrix.urgencies():
        errors["urgency"] = "Choisissez l'urgence."
    if not form.get("description", "").strip():
        errors["description"] = "Décrivez précisément l'anomalie."
    report, report_errors = _form_report(form)
    errors.update(report_errors)
    event, event_errors = _form_event(form)
    errors.update(event_errors)
    if errors:
        return await _incidents_page(request, user, _Outcome("Le formulaire contient des erreurs.", 422),
                                     values=form, field_errors=errors)
    attachments = [line.strip() for line in form.get("attachments", "").splitlines() if line.strip()]
    uploads = [f for f in (await request.form()).getlist("files")
               if isinstance(f, StarletteUpload) and f.filename]
    if len(uploads) > MAX_FILES:
        return await _incidents_page(request, user, _Outcome("Le formulaire contient des erreurs.", 422),
                                     values=form, field_errors={"files": f"{MAX_FILES} fichiers au plus."})
    try:
        body = IncidentCreate(impact=form["impact"], urgency=form["urgency"],
                              description=form["description"], cdc_report=report,
                              region_event=event,
                              ticket=form.get("ticket", "").strip(), attachments=attachments)
        view = await _open(context(request), user, body, request_identity(request), uploads)
    except ValueError:
        return await _incidents_page(
            request, user, _Outcome("Le formulaire contient des erreurs.", 422), values=form,
            field_errors={"ticket": "Lettres, chiffres, « . », « _ » ou « - » (40 au plus)."})
    except LinkRefused as refused:
        return await _incidents_page(request, user, _Outcome.refused(refused), values=form,
                                     field_errors={refused.field: refused.message})
    return RedirectResponse(f"/incidents/{quote(view.ticket)}?fait=ouverture", status_code=303)


def _form_event(form: dict[str, str]) -> tuple[RegionEventIn | None, dict[str, str]]:
    """The Region-side outage or intervention from the opening form: none unless chosen."""
    kind = form.get("region_event_kind", "")
    if kind not in ("outage", "planned_intervention"):
        return None, {}
    instants: dict[str, datetime | None] = {}
    for name in ("region_event_starts_at", "region_event_ends_at"):
        text = form.get(name, "").strip()
        try:
            value = datetime.fromisoformat(text) if text else None
        except ValueError:
            return None, {name: "Date et heure attendues (ex. 2026-12-09T08:00)."}
        instants[name] = value if value is None or value.tzinfo else value.replace(tzinfo=PARIS)
    starts = instants["region_event_starts_at"]
    if starts is None:
        return None, {"region_event_starts_at": "Indiquez le début."}
    return RegionEventIn(kind=kind, starts_at=starts,
                         ends_at=instants["region_event_ends_at"]), {}


def _form_report(form: dict[str, str]) -> tuple[CdcReportIn | None, dict[str, str]]:
    """The CDC's report from the opening form: none when its reference is empty."""
    reference = form.get("cdc_reference", "").strip()
    if not reference:
        return None, {}
    errors: dict[str, str] = {}
    if not form.get("cdc_reported_by", "").strip():
        errors["cdc_reported_by"] = "Indiquez qui, à la CDC, l'a signalée."
    try:
        reported = datetime.fromisoformat(form.get("cdc_reported_at", "").strip())
    except ValueError:
        reported = None
    if reported is None:
        errors["cdc_reported_at"] = "Date et heure attendues (ex. 2026-12-07T09:12)."
    if errors:
        return None, errors
    assert reported is not None
    if reported.tzinfo is None:  # typed in the form: Paris time
        reported = reported.replace(tzinfo=PARIS)
    channel = form.get("cdc_channel", "mail")
    return CdcReportIn(reference=reference[:200], reported_at=reported,
                       reported_by=form["cdc_reported_by"].strip()[:200],
                       channel=channel if channel in ("mail", "phone") else "mail"), {}


async def _incident_page(request: Request, user: User, ticket: str,
                         outcome: _Outcome = _OK) -> Response:
    try:
        view = await link_commands.incident_view(await context(request).temporal(), ticket)
    except LinkRefused as refused:
        return render(request, "error.html", 404, user=user, title="Incident introuvable",
                       message=refused.message)
    return render(request, "incident.html", outcome.status_code, user=user, i=view,
                   error=outcome.error, can_write=may(user, "incidents:write"),
                   done=request.query_params.get("fait"))


async def _on_incident(request: Request, ticket: str, done: str,
                       act: Callable[[User, FormData], Awaitable[object]],
                       invalid: str | None = None) -> Response:
    """An incident page's form: its user may write incidents and the form is the page's own
    (CSRF); ``act`` runs, then back to the page saying what was done (``?fait=done``) — or the
    page with why not: ``invalid`` (422) when ``act`` raises ValueError, or the refusal."""
    user = signed_in_user(request, "incidents:write")
    form = await request.form()
    if not check_csrf(request, str(form.get("csrf", ""))):
        return await _incident_page(request, user, ticket, _Outcome("Formulaire expiré.", 400))
    try:
        await act(user, form)
    except ValueError:
        if invalid is None:
            raise
        return await _incident_page(request, user, ticket, _Outcome(invalid, 422))
    except LinkRefused as refused:
        return await _incident_page(request, user, ticket, _Outcome.refused(refused))
    return RedirectResponse(f"/incidents/{quote(ticket)}?fait={quote(done)}", status_code=303)


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, ""))


@pages.post("/incidents/{ticket}/requalification")
@guarded
async def reclassify_page(request: Request, ticket: str) -> Response:
    async def reclassify(user: User, form: FormData) -> None:
        change = ReclassificationIn(impact=_text(form, "impact"), urgency=_text(form, "urgency"),
                                    note=_text(form, "note").strip()[:2000])
        await _reclassify(context(request), user, ticket, change)

    return await _on_incident(request, ticket, "requalification", reclassify,
                              invalid="Choisissez l'impact et l'urgence.")


@pages.post("/incidents/{ticket}/pieces-jointes")
@guarded
async def attach_page(request: Request, ticket: str) -> Response:
    async def attach(user: User, form: FormData) -> None:
        upload = form.get("file")
        if not isinstance(upload, StarletteUpload) or not upload.filename:
            raise ValueError("no file")
        await _attach(context(request), user, ticket, upload)

    return await _on_incident(request, ticket, "piece", attach, invalid="Choisissez un fichier.")


@pages.post("/incidents/{ticket}/appel")
@guarded
async def phone_call_page(request: Request, ticket: str) -> Response:
    async def phone_call(user: User, form: FormData) -> None:
        called = datetime.fromisoformat(_text(form, "called_at").strip())
        call = PhoneCallIn(caller=_text(form, "caller"), callee=_text(form, "callee"),
                           called_at=called if called.tzinfo else called.replace(tzinfo=PARIS),
                           summary=_text(form, "summary"))
        await _phone_call(context(request), user, ticket, call)

    return await _on_incident(
        request, ticket, "appel", phone_call,
        invalid="Indiquez qui a appelé qui, quand (AAAA-MM-JJTHH:MM) et ce qui a été dit.")


@pages.get("/incidents/{ticket}")
@guarded
async def incident_page(request: Request, ticket: str) -> Response:
    return await _incident_page(request, signed_in_user(request, "incidents:read"), ticket)


@pages.post("/incidents/{ticket}/{action}")
@guarded
async def act_page(request: Request, ticket: str, action: str) -> Response:
    async def act(user: User, form: FormData) -> None:
        await link_commands.act_on_incident(await context(request).temporal(), ticket, action,
                                            user.username, _text(form, "note").strip()[:2000])

    return await _on_incident(request, ticket, action, act)
