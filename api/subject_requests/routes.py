"""Data-subject requests (SPEC §8, GDPR art. 12 and 15–18), for the DPO's team: record a
request about a person (found by NIR, or by birth name and birth date), which starts its
durable workflow (one calendar month); extend it; carry it out; lift a restriction; and
download the access answer (a French document and JSON, built in memory from the store
when the DPO asks for it: never written to disk). Every consultation of a person's data
here is appended to the audit journal."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from pydantic import ValidationError as SchemaError

from api.auth import check_csrf, context, requires
from api.context import AppContext
from api.errors import InvalidFields, Refused
from api.pages import french, guarded, read_form, render, signed_in_user, templates
from api.traces.routes import ERRORS, _source, trace_store
from contracts.subject_request import (
    CORRECTIONS,
    INVALID,
    NOT_NOW,
    DpoAction,
    Extension,
    SubjectRequest,
    SubjectRequestView,
    workflow_id_for,
)
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased
from notifications.sent_log import SentLog
from state_models import subject_requests as rules
from state_models.validators import ValidationError, validate_nir
from store.models import User
from store.subject_requests import dossiers_of, find_persons, gather, masked_nir
from temporal_client import EventRefused
from temporal_client import subject_requests as commands

api = APIRouter(prefix="/api", tags=["Data-subject requests"])
pages = APIRouter(include_in_schema=False)

PERMISSION = "subject_requests:write"
Ctx = Annotated[AppContext, Depends(context)]
Dpo = Annotated[User, Depends(requires(PERMISSION))]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
KIND_LABELS = {rules.ACCESS: "Accès", rules.RECTIFICATION: "Rectification",
               rules.RESTRICTION: "Limitation", rules.ERASURE: "Effacement"}
STATE_LABELS = {rules.RECEIVED: "reçue", rules.IN_PROGRESS: "en cours",
                rules.ANSWERED: "traitée", rules.REFUSED: "refusée (motif légal)",
                rules.LIFTED: "limitation levée"}


class SubjectRequestIn(BaseModel):
    kind: Literal["access", "rectification", "restriction", "erasure"]
    requester: Text = Field(description="Qui demande : la personne, ou qui la représente")
    identity_check: Text = Field(description="Comment l'identité du demandeur a été vérifiée")
    received_at: datetime | None = Field(
        None, description="Réception de la demande (instant ISO avec fuseau) ; défaut : maintenant")
    nir: str | None = Field(None, description="NIR de la personne concernée")
    birth_name: str | None = Field(None, max_length=200, description="Nom de naissance (sans NIR)")
    birth_date: str | None = Field(None, description="Date de naissance AAAA-MM-JJ (sans NIR)")
    corrections: dict[str, str] = Field(default_factory=dict,
                                        description="Rectification : champ → valeur corrigée")
    details: str = Field("", max_length=2000)


class ExtensionIn(BaseModel):
    months: int = Field(ge=1, le=rules.MAX_EXTENSION_MONTHS)
    reason: Text = Field(description="Motif communiqué à la personne")


class ActionIn(BaseModel):
    note: str = Field("", max_length=1000)


def _invalid(field: str, message: str) -> InvalidFields:
    return InvalidFields([(("body", field), message)])


def _refusal(refused: EventRefused) -> Exception:
    if refused.kind == INVALID:
        return _invalid(str(refused.details.get("field", "body")), refused.message)
    if refused.kind == NOT_NOW:
        return Refused(409, NOT_NOW, refused.message, {"state": refused.details.get("state")})
    return Refused(502, refused.kind, refused.message)


def _subject_request(ctx: AppContext, body: SubjectRequestIn, user: User) -> SubjectRequest:
    """The request, its person found in the store; 422 naming the field when it cannot be."""
    now = datetime.now(UTC)
    received = body.received_at or now
    if received.tzinfo is None:
        raise _invalid("received_at", "instant avec fuseau horaire attendu")
    if received > now:
        raise _invalid("received_at", "la date de réception ne peut pas être dans le futur")
    corrections: dict[str, str] = {}
    try:
        if body.kind == rules.RECTIFICATION:
            corrections = rules.validate_corrections(body.corrections)
        elif body.corrections:
            raise rules.RequestRefused("corrections", "seule une rectification porte des corrections")
    except rules.RequestRefused as refused:
        raise _invalid(refused.field, refused.reason) from refused
    with ctx.db.sessions() as session:
        if body.nir:
            try:
                nir = validate_nir(body.nir)
            except ValidationError as invalid:
                raise _invalid("nir", str(invalid)) from invalid
            persons, found_by = find_persons(session, ctx.cipher, nir=nir), "nir"
        elif body.birth_name and body.birth_date:
            persons = find_persons(session, ctx.cipher, birth_name=body.birth_name,
                                   birth_date=body.birth_date)
            found_by = "name_birth_date"
            if len(persons) > 1:
                raise _invalid("nir", "plusieurs personnes portent ce nom et cette date de "
                               "naissance : indiquer le NIR")
        else:
            raise _invalid("nir", "indiquer le NIR, ou le nom de naissance et la date de naissance")
        dossier_ids = [d.id for d in dossiers_of(session, [p.id for p in persons])]
        masked = masked_nir(ctx.fields, persons[0]) if persons else ""
        person_key = persons[0].key_id if persons else None
    contacts = ctx.contacts
    request_id = uuid.uuid4().hex[:12]
    return SubjectRequest(
        request_id=request_id, kind=body.kind, requester=body.requester,
        identity_check=body.identity_check, received_at=received.astimezone(UTC).isoformat(),
        recorded_by=user.username, recorded_at=now.isoformat(), found_by=found_by,
        person_ids=[p.id for p in persons], dossier_ids=dossier_ids, nir_masked=masked,
        correction_fields=sorted(corrections),
        corrections_sealed=_seal_corrections(ctx, person_key, request_id, corrections),
        details=body.details,
        dpo_email=contacts.dpo.email if contacts and contacts.dpo else "",
        escalation_emails=[c.email for c in (contacts.escalation if contacts else [])],
        page_url=f"{ctx.settings.public_url}/demandes-rgpd/{request_id}",
        partner_name=contacts.partner_name if contacts else ctx.settings.partner_id)


def _seal_corrections(ctx: AppContext, person_key: str | None, request_id: str,
                      corrections: dict[str, str]) -> str:
    """The new values under the person's data key (the request's workflow is sealed under
    the master key and outlives an erasure); a person the store does not hold gets a key of
    the request's own."""
    if not corrections:
        return ""
    keys = open_keys(ctx.settings)
    kid = person_key or keys.for_workflow(workflow_id_for(request_id))
    return keys.seal_text(kid, json.dumps(corrections), CORRECTIONS)


def corrections_of(ctx: AppContext, subject: SubjectRequest) -> dict[str, str]:
    """A rectification's values for the DPO's page; none once the person was erased."""
    if not subject.corrections_sealed:
        return {}
    try:
        return json.loads(open_keys(ctx.settings).open_text(subject.corrections_sealed,
                                                             CORRECTIONS))
    except PersonKeyErased:
        return {}


async def record_request(request: Request, ctx: AppContext, body: SubjectRequestIn,
                         user: User) -> SubjectRequestView:
    subject = _subject_request(ctx, body, user)
    trace_store(request).journal(user.username, _source(request), "subject_request.record",
                                 {"kind": body.kind, "found_by": subject.found_by},
                                 [subject.request_id, *subject.dossier_ids])
    return await commands.start_subject_request(await ctx.temporal(), ctx.settings.task_queue,
                                                subject)


@api.post("/subject-requests", response_model=SubjectRequestView, status_code=201,
          responses=ERRORS)
async def create_request(request: Request, body: SubjectRequestIn, user: Dpo,
                         ctx: Ctx) -> SubjectRequestView:
    """Record a data-subject request: its workflow starts, due one calendar month from receipt."""
    return await record_request(request, ctx, body, user)


@api.get("/subject-requests", response_model=list[SubjectRequestView], responses=ERRORS)
async def list_requests(user: Dpo, ctx: Ctx) -> list[SubjectRequestView]:
    """Every request of this deployment, its state, deadline and steps."""
    return await commands.list_subject_requests(await ctx.temporal(), ctx.settings.task_queue)


async def _view(ctx: AppContext, request_id: str) -> SubjectRequestView:
    try:
        return await commands.subject_request_view(await ctx.temporal(), request_id)
    except Exception as error:  # an unknown workflow id
        raise Refused(404, "UnknownSubjectRequest", "Demande inconnue.") from error


@api.get("/subject-requests/{request_id}", response_model=SubjectRequestView, responses=ERRORS)
async def get_request(request_id: str, user: Dpo, ctx: Ctx) -> SubjectRequestView:
    return await _view(ctx, request_id)


async def _act(ctx: AppContext, request_id: str, call: Any) -> SubjectRequestView:
    try:
        return await call
    except EventRefused as refused:
        if refused.kind == "UnknownSubjectRequest":
            # Temporal answers "not found" for an update to a closed workflow as well.
            view = await _view(ctx, request_id)
            raise Refused(409, NOT_NOW, "La demande est close.", {"state": view.state}) from refused
        raise _refusal(refused) from refused


@api.post("/subject-requests/{request_id}/extension", response_model=SubjectRequestView,
          responses=ERRORS)
async def extend_request(request_id: str, body: ExtensionIn, user: Dpo,
                         ctx: Ctx) -> SubjectRequestView:
    """Extend the deadline (two more months at most in all), with the reason given to the person."""
    return await _act(ctx, request_id, commands.extend(await ctx.temporal(), request_id,
                                           Extension(user.username, body.months, body.reason)))


@api.post("/subject-requests/{request_id}/carry-out", response_model=SubjectRequestView,
          responses=ERRORS)
async def carry_out_request(request_id: str, body: ActionIn, user: Dpo,
                            ctx: Ctx) -> SubjectRequestView:
    """Carry the request out: access answer delivered, rectification sent, restriction
    placed, erasure done or refused with its legal ground."""
    return await _act(ctx, request_id, commands.carry_out(await ctx.temporal(), request_id,
                                              DpoAction(user.username, body.note)))


@api.post("/subject-requests/{request_id}/lift", response_model=SubjectRequestView,
          responses=ERRORS)
async def lift_restriction(request_id: str, body: ActionIn, user: Dpo,
                           ctx: Ctx) -> SubjectRequestView:
    """Lift a restriction: the person's dossiers accept events again."""
    return await _act(ctx, request_id, commands.lift(await ctx.temporal(), request_id,
                                         DpoAction(user.username, body.note)))


def access_answer(request: Request, ctx: AppContext, view: SubjectRequestView,
                  user: User) -> Response:
    """The access answer as a zip: ``reponse.html`` (French) and ``reponse.json``."""
    subject = view.request
    sent = SentLog(ctx.settings.data_dir / "sent-mail.sqlite3").naming(subject.dossier_ids)
    emails = [{"sent_at": e.sent_at, "template": e.template, "subject": e.subject,
               "to": e.recipients} for e in sent]
    with ctx.db.sessions() as session:
        held = gather(session, ctx.fields, subject.person_ids, emails)
    trace_store(request).journal(user.username, _source(request), "subject_request.access_answer",
                                 {"request_id": subject.request_id},
                                 [subject.request_id, *held_dossiers(held)])
    answer = {"request_id": subject.request_id, "produced_at": datetime.now(UTC).isoformat(),
              "controller": subject.partner_name, "received_at": subject.received_at,
              "purposes": "suivi des formations financées par la Région et déclaration à AGORA "
                          "(Caisse des Dépôts), convention art. 21",
              **held}
    document = templates.get_template("subject_access_answer.html").render(answer=answer)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("reponse.html", document)
        archive.writestr("reponse.json", json.dumps(answer, ensure_ascii=False, indent=2))
    return Response(buffer.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="reponse-acces-{subject.request_id}.zip"'})


def held_dossiers(held: dict[str, Any]) -> list[str]:
    return [d["dossier_id"] for d in held["dossiers"]]


async def _access_answer(request: Request, ctx: AppContext, request_id: str,
                         user: User) -> Response:
    view = await _view(ctx, request_id)
    if view.request.kind != rules.ACCESS:
        raise Refused(409, NOT_NOW, "Cette demande n'est pas une demande d'accès.")
    return access_answer(request, ctx, view, user)


@api.get("/subject-requests/{request_id}/access-answer", responses=ERRORS)
async def download_access_answer(request: Request, request_id: str, user: Dpo,
                                 ctx: Ctx) -> Response:
    """Everything held about the person, as a zip (French document and JSON), produced now."""
    return await _access_answer(request, ctx, request_id, user)


# --- pages ---------------------------------------------------------------------------------


def _page(request: Request, user: User, views: list[SubjectRequestView], status: int = 200,
          errors: dict[str, str] | None = None, form: dict[str, str] | None = None) -> Response:
    return render(request, "subject_requests.html", status, user=user, requests=views,
                  errors=errors or {}, form=form or {}, KIND_LABELS=KIND_LABELS,
                  STATE_LABELS=STATE_LABELS, RECTIFIABLE=sorted(rules.RECTIFIABLE_FIELDS))


@pages.get("/demandes-rgpd")
@guarded
async def requests_page(request: Request) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    return _page(request, user, await commands.list_subject_requests(
        await ctx.temporal(), ctx.settings.task_queue))


@pages.post("/demandes-rgpd")
@guarded
async def requests_form(request: Request) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    form = await read_form(request)
    errors: dict[str, str] = {}
    if not check_csrf(request, form.get("csrf", "")):
        errors["form"] = "Formulaire expiré : veuillez le soumettre à nouveau."
    else:
        corrections = {name: form[f"correction_{name}"].strip()
                       for name in rules.RECTIFIABLE_FIELDS
                       if form.get(f"correction_{name}", "").strip()}
        try:
            body = SubjectRequestIn(
                kind=form.get("kind", ""), requester=form.get("requester", ""),
                identity_check=form.get("identity_check", ""),
                received_at=form.get("received_at") or None, nir=form.get("nir") or None,
                birth_name=form.get("birth_name") or None, birth_date=form.get("birth_date") or None,
                corrections=corrections, details=form.get("details", ""))
            view = await record_request(request, ctx, body, user)
            return RedirectResponse(f"/demandes-rgpd/{view.request.request_id}", status_code=303)
        except SchemaError as invalid:
            for error in invalid.errors():
                errors.setdefault(str(error["loc"][-1]) if error["loc"] else "form", french(error))
        except InvalidFields as invalid:
            for loc, message in invalid.errors:
                errors.setdefault(loc[-1], message)
    views = await commands.list_subject_requests(await ctx.temporal(), ctx.settings.task_queue)
    # The NIR is never echoed back into the page.
    return _page(request, user, views, 422, errors,
                 {k: v for k, v in form.items() if k not in ("nir", "csrf")})


@pages.get("/demandes-rgpd/{request_id}")
@guarded
async def request_page(request: Request, request_id: str) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    try:
        view = await _view(ctx, request_id)
    except Refused:
        return render(request, "error.html", 404, user=user, title="Demande inconnue",
                      message="Aucune demande RGPD ne porte cet identifiant.")
    return render(request, "subject_request.html", user=user, r=view, error=None,
                  corrections=corrections_of(ctx, view.request),
                  KIND_LABELS=KIND_LABELS, STATE_LABELS=STATE_LABELS)


@pages.post("/demandes-rgpd/{request_id}/{action}")
@guarded
async def request_action(request: Request, request_id: str, action: str) -> Response:
    user = signed_in_user(request, PERMISSION)
    ctx: AppContext = request.app.state.context
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return render(request, "error.html", 403, title="Accès refusé", message="Formulaire expiré.")
    client = await ctx.temporal()
    note = form.get("note", "")
    try:
        if action == "prolonger":
            try:
                months = int(form.get("months", ""))
            except ValueError:
                raise _invalid("months", "nombre de mois attendu (1 ou 2)") from None
            await _act(ctx, request_id, commands.extend(client, request_id,
                                            Extension(user.username, months, form.get("reason", ""))))
        elif action == "traiter":
            await _act(ctx, request_id, commands.carry_out(client, request_id, DpoAction(user.username, note)))
        elif action == "lever":
            await _act(ctx, request_id, commands.lift(client, request_id, DpoAction(user.username, note)))
        elif action == "reponse":
            return await _access_answer(request, ctx, request_id, user)
        else:
            return render(request, "error.html", 404, user=user, title="Action inconnue",
                          message="Cette action n'existe pas.")
    except (InvalidFields, Refused) as refused:
        message = (refused.message if isinstance(refused, Refused)
                   else "; ".join(m for _, m in refused.errors))
        view = await _view(ctx, request_id)
        return render(request, "subject_request.html", 422 if isinstance(refused, InvalidFields)
                      else refused.status, user=user, r=view, error=message,
                      corrections=corrections_of(ctx, view.request),
                      KIND_LABELS=KIND_LABELS, STATE_LABELS=STATE_LABELS)
    return RedirectResponse(f"/demandes-rgpd/{request_id}", status_code=303)
