"""The JSON API for the Region's other tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from api.auth import context, requires
from api.context import AppContext
from api.dossiers.presenters import detail_of, state_of, summary_of
from api.dossiers.schemas import (
    DossierCreate,
    DossierCreated,
    DossierDetail,
    DossierPage,
    DossierStateOut,
    ErrorOut,
    EventData,
    EventName,
    NirOut,
    StateName,
)
from api.dossiers.service import apply_event, create_dossier, load_dossier
from api.idempotency import request_identity
from state_models.dossier_events import EVENT_FIELDS
from store.models import User
from store.queries import DossierFilter, get_dossier, list_dossiers, record_unmasking

router = APIRouter(prefix="/api", tags=["dossiers"])

Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[User, Depends(requires("dossiers:read"))]
Writer = Annotated[User, Depends(requires("dossiers:write"))]
Unmasker = Annotated[User, Depends(requires("nir:unmask"))]

DossierId = Annotated[str, Path(max_length=64, description="Identifiant du dossier (Région)")]
AUTH_ERRORS = {
    401: {"model": ErrorOut, "description": "Non authentifié"},
    403: {"model": ErrorOut, "description": "Rôle insuffisant"},
}
NOT_FOUND = {404: {"model": ErrorOut, "description": "Dossier inconnu"}}

_EVENT_DOC = "\n".join(
    f"- `{event}`: {', '.join(f'`{f}`' for f in required) or '—'}"
    + (f" (optional: {', '.join(f'`{f}`' for f in optional)})" if optional else "")
    for event, (required, optional) in EVENT_FIELDS.items()
)


@router.post("/dossiers", status_code=status.HTTP_201_CREATED, response_model=DossierCreated,
             responses={**AUTH_ERRORS,
                        409: {"model": ErrorOut, "description": "Session du marché complète (PlaceRefused), "
                              "ou dossier ouvert existant pour cette personne et cette action "
                              "(DossierExists, nommé dans dossier_id)"},
                        503: {"model": ErrorOut, "description": "Temporal indisponible"}})
async def create(payload: DossierCreate, user: Writer,
                 ctx: Ctx, request: Request) -> DossierCreated:
    """Create a dossier and start its workflow, which registers it at AGORA (operations 4 and 5).
    With ``market_id`` and ``session_id``, a place of that market session is reserved first.
    Send an ``Idempotency-Key`` header: a retry with the same key is the same dossier."""
    view = await create_dossier(ctx, user, payload, request_identity(request))
    return DossierCreated(dossier_id=view.dossier_id, state=view.state)


@router.get("/dossiers", response_model=DossierPage, responses=AUTH_ERRORS)
def search(
    user: Reader,
    ctx: Ctx,
    state: StateName | None = None,
    siret: Annotated[str | None, Query(max_length=14, description="SIRET de l'organisme")] = None,
    entry_from: Annotated[str | None, Query(max_length=10, description="Entrée le ou après (AAAA-MM-JJ)")] = None,
    entry_to: Annotated[str | None, Query(max_length=10, description="Entrée le ou avant (AAAA-MM-JJ)")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Recherche sur les noms et prénoms : mots entiers, casse et accents ignorés")] = None,
    market: Annotated[str | None, Query(max_length=64, description="Identifiant du marché")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> DossierPage:
    """Dossiers from the stored projection, newest first."""
    where = DossierFilter(state, siret, entry_from, entry_to, q, market)
    with ctx.db.sessions() as session:
        rows, total = list_dossiers(session, ctx.cipher, where, page, page_size)
        items = [summary_of(row, ctx.fields) for row in rows]
    return DossierPage(items=items, total=total, page=page, page_size=page_size)


@router.get("/dossiers/{dossier_id}", response_model=DossierDetail, responses={**AUTH_ERRORS, **NOT_FOUND})
async def read(dossier_id: DossierId, user: Reader,
               ctx: Ctx) -> DossierDetail:
    """The dossier's data, timeline, state and allowed events (state and events from the workflow)."""
    row, view = await load_dossier(ctx, dossier_id)
    return detail_of(row, view, ctx.fields)


@router.get("/dossiers/{dossier_id}/nir", response_model=NirOut, responses={**AUTH_ERRORS, **NOT_FOUND})
def unmask(dossier_id: DossierId, user: Unmasker,
           ctx: Ctx) -> NirOut:
    """The NIR in clear. Every call is recorded in the audit journal."""
    with ctx.db.sessions.begin() as session:
        row = get_dossier(session, dossier_id)
        if row is None:
            raise HTTPException(404, {"code": "UnknownDossier", "message": f"Dossier inconnu : {dossier_id}"})
        record_unmasking(session, user.username, row, "api")
        nir = ctx.fields.nir(row.person)
    return NirOut(dossier_id=dossier_id, nir=nir)


@router.post(
    "/dossiers/{dossier_id}/events/{event}",
    response_model=DossierStateOut,
    responses={
        **AUTH_ERRORS, **NOT_FOUND,
        409: {"model": ErrorOut, "description": "Événement non permis dans l'état actuel"},
        502: {"model": ErrorOut, "description": "AGORA a refusé l'opération (code de faute AGORA)"},
        504: {"model": ErrorOut, "description": "AGORA n'a pas encore répondu ; l'événement reste en attente"},
    },
    description="Apply a business event through the dossier's workflow. Fields per event:\n\n" + _EVENT_DOC,
)
async def send(dossier_id: DossierId, event: EventName, user: Writer, ctx: Ctx, request: Request,
               data: EventData | None = None) -> DossierStateOut:
    """The answer is the dossier's new state and timeline, as its workflow returned them.
    Send an ``Idempotency-Key`` header: a resend with the same key is applied once."""
    payload = data.model_dump(exclude_none=True) if data else {}
    return state_of(await apply_event(ctx, user, dossier_id, event, payload,
                                      request_identity(request)))
