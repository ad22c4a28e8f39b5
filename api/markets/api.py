"""The JSON API for procurement markets: market managers act, every other role reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status

from api.auth import context, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.idempotency import request_identity
from api.markets.presenters import market_detail, market_summary
from api.markets.schemas import (
    MarketCreate,
    MarketCreated,
    MarketDetail,
    MarketEventData,
    MarketEventName,
    MarketPage,
    MarketStateName,
)
from api.markets.service import apply_market_event, create_market, load_market
from state_models.market import EVENT_FIELDS
from store.market_projection import list_markets
from store.models import User

router = APIRouter(prefix="/api", tags=["markets"])

Ctx = Annotated[AppContext, Depends(context)]
Reader = Annotated[User, Depends(requires("markets:read"))]
Writer = Annotated[User, Depends(requires("markets:write"))]
MarketId = Annotated[str, Path(max_length=64, description="Identifiant du marché (Région)")]

AUTH_ERRORS = {
    401: {"model": ErrorOut, "description": "Non authentifié"},
    403: {"model": ErrorOut, "description": "Rôle insuffisant"},
}
NOT_FOUND = {404: {"model": ErrorOut, "description": "Marché inconnu"}}

_EVENT_DOC = "\n".join(
    f"- `{event}`: {', '.join(f'`{f}`' for f in required) or '—'}"
    + (f" (optional: {', '.join(f'`{f}`' for f in optional)})" if optional else "")
    for event, (required, optional) in EVENT_FIELDS.items()
)


@router.post("/markets", status_code=status.HTTP_201_CREATED, response_model=MarketCreated,
             responses={**AUTH_ERRORS,
                        409: {"model": ErrorOut, "description": "Lot déjà enregistré"},
                        503: {"model": ErrorOut, "description": "Temporal indisponible"}})
async def create(request: Request, payload: MarketCreate, user: Writer, ctx: Ctx) -> MarketCreated:
    """Register a market (one lot) and start its workflow."""
    market_id = await create_market(ctx, user, payload, request_identity(request))
    return MarketCreated(market_id=market_id, state="created")


@router.get("/markets", response_model=MarketPage, responses=AUTH_ERRORS)
def search(
    user: Reader,
    ctx: Ctx,
    state: MarketStateName | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> MarketPage:
    """Markets from the stored projection, newest first."""
    with ctx.db.sessions() as session:
        rows, total = list_markets(session, state, page, page_size)
        items = [market_summary(row) for row in rows]
    return MarketPage(items=items, total=total, page=page, page_size=page_size)


@router.get("/markets/{market_id}", response_model=MarketDetail,
            responses={**AUTH_ERRORS, **NOT_FOUND})
async def read(market_id: MarketId, user: Reader, ctx: Ctx) -> MarketDetail:
    """The market, its sessions and places used, payments, amendments, dossiers per state."""
    row, view = await load_market(ctx, market_id)
    return market_detail(row, view)


@router.post(
    "/markets/{market_id}/events/{event}",
    response_model=MarketDetail,
    responses={
        **AUTH_ERRORS, **NOT_FOUND,
        409: {"model": ErrorOut, "description": "Événement non permis dans l'état actuel, "
                                                "ou dossiers du marché encore ouverts"},
        502: {"model": ErrorOut, "description": "AGORA a refusé l'opération (code de faute AGORA)"},
        504: {"model": ErrorOut, "description": "AGORA n'a pas encore répondu ; l'événement reste en attente"},
    },
    description="Apply a business event through the market's workflow. Fields per event:\n\n"
    + _EVENT_DOC,
)
async def send(request: Request, market_id: MarketId, event: MarketEventName, user: Writer, ctx: Ctx,
               data: MarketEventData | None = None) -> MarketDetail:
    payload = data.model_dump(exclude_none=True) if data else {}
    await apply_market_event(ctx, user, market_id, event, {k: str(v) for k, v in payload.items()},
                             request_identity(request))
    row, view = await load_market(ctx, market_id)
    return market_detail(row, view)
