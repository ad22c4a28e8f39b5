"""The French web UI: server-rendered pages over the same service as the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.agora.schemas import balances_of, eligibility_of, holder_dossiers_of, rights_of
from api.agora.service import PageRead, holder_of, page_read
from api.auth import (
    check_csrf,
    context,
    may,
)
from api.dossiers.presenters import detail_of
from api.dossiers.schemas import DossierCreate, DossierDetail
from api.dossiers.service import apply_event, create_dossier, load_dossier
from api.errors import InvalidFields, Refused
from api.idempotency import request_identity
from api.pages import PAGE_SIZE, guarded, read_form, render, signed_in_user, submit_creation
from contracts import agora_reads as reads
from contracts.agora_reads import AgoraReadAnswer
from contracts.dossier import workflow_id_for
from state_models.dossier import EVENTS, STATES
from state_models.dossier_events import EVENT_FIELDS
from state_models.funders import REGION
from store.models import User
from store.queries import DossierFilter, get_dossier, list_dossiers, record_unmasking

router = APIRouter(include_in_schema=False)
PERSON_FIELDS = ("nir", "birth_name", "usage_name", "first_names", "birth_date", "sex", "email", "phone")
ACTION_FIELDS = ("siret", "action_id", "title", "duration_hours", "start_date", "end_date",
                 "certification_code", "purchase_mode", "price")
# The creation form's repeated funder rows (a select and a share each): LHÉO allows any
# mix, but an action rarely has more than a handful of funders.
FUNDER_ROWS = 5


@router.get("/dossiers")
@guarded
async def dossiers(request: Request) -> Response:
    user = signed_in_user(request, "dossiers:read")
    params = request.query_params
    where = DossierFilter(
        state=params.get("state") if params.get("state") in STATES else None,
        siret=params.get("siret") or None,
        entry_from=params.get("entry_from") or None,
        entry_to=params.get("entry_to") or None,
        name=params.get("q") or None,
        market=params.get("market") or None,
    )
    page = int(params["page"]) if params.get("page", "").isdigit() and int(params["page"]) > 0 else 1
    ctx = context(request)
    with ctx.db.sessions() as session:
        rows, total = list_dossiers(session, ctx.cipher, where, page, PAGE_SIZE)
        people = {row.id: ctx.fields.open(row.person) for row in rows}
    return render(request, "dossiers.html", user=user, rows=rows, people=people, total=total,
                   page=page,
                   pages=max(1, -(-total // PAGE_SIZE)), filters=where,
                   can_create=may(user, "dossiers:write"))


@router.get("/dossiers/nouveau")
@guarded
async def new_dossier_page(request: Request) -> Response:
    user = signed_in_user(request, "dossiers:write")
    # A new dossier of the Region's programme: the Region at 100 % until the manager says more.
    values = {"purchase_mode": "MARCHE_PUBLIC", "funder_code_1": REGION, "funder_share_1": "100"}
    return render(request, "dossier_new.html", user=user, values=values, errors={},
                  funder_rows=FUNDER_ROWS)


def _create_payload(form: dict[str, str]) -> dict[str, Any]:
    def section(names: tuple[str, ...]) -> dict[str, Any]:
        return {n: form.get(n, "") for n in names if form.get(n, "").strip() != "" or n in ("nir", "siret")}

    market = {n: form[n].strip() for n in ("market_id", "session_id") if form.get(n, "").strip()}
    action = section(ACTION_FIELDS)
    funders = _funder_rows(form)
    if funders:  # every row left blank: the Region at 100 %, as the API without funders
        action["funders"] = funders
    return {"person": section(PERSON_FIELDS), "action": action, **market}


def _funder_rows(form: dict[str, str]) -> list[dict[str, str]]:
    """The form's funder rows (a select and a share each). Rows left blank are not funders;
    a half-filled row is sent, so that the rules name what it lacks."""
    rows = [{"code": form.get(f"funder_code_{i}", "").strip(),
             "share": form.get(f"funder_share_{i}", "").strip()}
            for i in range(1, FUNDER_ROWS + 1)]
    return [row for row in rows if row["code"] or row["share"]]


@router.post("/dossiers/nouveau")
@guarded
async def new_dossier(request: Request) -> Response:
    user = signed_in_user(request, "dossiers:write")
    form = await read_form(request)
    async def create() -> str:
        view = await create_dossier(context(request), user,
                                    DossierCreate.model_validate(_create_payload(form)),
                                    request_identity(request))
        return view.dossier_id

    dossier_id, errors = await submit_creation(request, form, create)
    if dossier_id:
        return RedirectResponse(f"/dossiers/{quote(dossier_id)}?fait=create", status_code=303)
    return render(request, "dossier_new.html", 422, user=user, values=form, errors=errors,
                  funder_rows=FUNDER_ROWS)


async def render_dossier_page(request: Request, user: User, dossier_id: str, status_code: int = 200,
                        **values: Any) -> Response:
    ctx = context(request)
    try:
        row, view = await load_dossier(ctx, dossier_id)
    except Refused as refused:
        return render(request, "error.html", refused.status, user=user, title="Dossier introuvable",
                       message=refused.message)
    detail = detail_of(row, view, ctx.fields)
    workflow_id = workflow_id_for(dossier_id)
    show_agora = bool(values.pop("show_agora", False)) or request.query_params.get("agora") == "1"
    can_write = may(user, "dossiers:write")
    return render(request, "dossier.html", status_code, user=user, d=detail, funder_rows=FUNDER_ROWS,
                  workflow_id=workflow_id,
                  temporal_web=f"{ctx.settings.temporal_web_url}/namespaces/"
                               f"{quote(ctx.settings.temporal_namespace)}/workflows/"
                               f"{quote(workflow_id, safe='')}",
                  can_write=can_write, can_unmask=may(user, "nir:unmask"),
                  can_read_agora=may(user, "agora:read"), can_record_dif=may(user, "agora:dif"),
                  agora=await _agora_reads(request, user, detail, show_agora, can_write),
                  show_agora=show_agora, done=request.query_params.get("fait"), **values)


async def _agora_reads(request: Request, user: User, detail: DossierDetail, show_agora: bool,
                       can_write: bool) -> dict[str, PageRead]:
    """AGORA's answers the page shows: the holder's eligibility for the action before the
    manager validates, and on demand the holder's rights, balances and other dossiers."""
    if not (may(user, "agora:read") and detail.registered):
        return {}
    wanted: dict[str, tuple[str, Callable[[AgoraReadAnswer, bool], Any]]] = {}
    if can_write and "validate" in detail.allowed_events:
        wanted["eligibility"] = (reads.ELIGIBILITY, eligibility_of)
    if show_agora:
        wanted.update(rights=(reads.RIGHTS, rights_of), balances=(reads.BALANCES, balances_of),
                      holder_dossiers=(reads.HOLDER_DOSSIERS, holder_dossiers_of))
    if not wanted:
        return {}
    ctx = context(request)
    holder = holder_of(ctx, detail.dossier_id)
    answers = await asyncio.gather(*(page_read(ctx, user, operation, holder, shape)
                                     for operation, shape in wanted.values()))
    return dict(zip(wanted, answers, strict=True))


@router.get("/dossiers/{dossier_id}")
@guarded
async def dossier_page(request: Request, dossier_id: str) -> Response:
    user = signed_in_user(request, "dossiers:read")
    return await render_dossier_page(request, user, dossier_id)


@router.post("/dossiers/{dossier_id}/nir")
@guarded
async def unmask(request: Request, dossier_id: str) -> Response:
    user = signed_in_user(request, "nir:unmask")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return await render_dossier_page(request, user, dossier_id, 400, error="Formulaire expiré.")
    ctx = context(request)
    with ctx.db.sessions.begin() as session:
        row = get_dossier(session, dossier_id)
        if row is None:
            return render(request, "error.html", 404, user=user, title="Dossier introuvable",
                           message=f"Dossier inconnu : {dossier_id}")
        record_unmasking(session, user.username, row, "ui")
        nir = ctx.fields.nir(row.person)
    return await render_dossier_page(request, user, dossier_id, clear_nir=nir)


def _event_data(event: str, form: dict[str, str]) -> dict[str, Any]:
    required, optional = EVENT_FIELDS.get(event, ((), ()))
    data: dict[str, Any] = {}
    funders = _funder_rows(form) if "funders" in optional else []
    for name in required + optional:
        if name == "funders":
            if funders:
                data[name] = funders
        elif name == "corrections":
            # A re-engineering of the funders alone leaves the named correction blank.
            if form.get("correction_value", "").strip() or not funders:
                data[name] = [{"name": form.get("correction_name", ""),
                               "value": form.get("correction_value", "")}]
        elif form.get(name, "").strip():
            data[name] = form[name].strip()
    return data


@router.post("/dossiers/{dossier_id}/evenements/{event}")
@guarded
async def send_event(request: Request, dossier_id: str, event: str) -> Response:
    user = signed_in_user(request, "dossiers:write")
    form = await read_form(request)
    if event not in EVENTS:
        return render(request, "error.html", 404, user=user, title="Événement inconnu", message=event)
    if not check_csrf(request, form.get("csrf", "")):
        return await render_dossier_page(request, user, dossier_id, 400, error="Formulaire expiré.")
    try:
        await apply_event(context(request), user, dossier_id, event, _event_data(event, form),
                          request_identity(request))
    except InvalidFields as invalid:
        field_errors = {loc[-1]: message for loc, message in invalid.errors}
        return await render_dossier_page(request, user, dossier_id, 422, open_event=event, values=form,
                                   field_errors=field_errors,
                                   error="Le formulaire contient des erreurs.")
    except Refused as refused:
        prefix = {409: "Événement impossible dans l'état actuel du dossier",
                  502: f"AGORA a refusé l'opération (code {refused.code})"}.get(refused.status, "Échec")
        return await render_dossier_page(request, user, dossier_id, refused.status,
                                   error=f"{prefix} : {refused.message}")
    return RedirectResponse(f"/dossiers/{quote(dossier_id)}?fait={event}", status_code=303)
