"""What the market API and pages both do: check, register, send events, reserve places, read.

Only temporal_client/ talks to Temporal; nothing here talks to AGORA or writes the store.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError

from api.context import AppContext, TemporalUnreachable
from api.errors import InvalidFields, Refused, http_refusal
from api.events import send
from api.markets.schemas import MarketCreate
from contracts.market import (
    MarketEventRequest,
    MarketInput,
    MarketView,
    PlaceRequest,
)
from state_models import market as model
from state_models.validators import ValidationError
from store.market_models import Market
from store.market_projection import get_market, market_exists
from store.models import User
from temporal_client.dossiers import EventRefused
from temporal_client.markets import (
    UNKNOWN_MARKET,
    release_place_if_not_started,
    reserve_place,
    send_market_event,
    view_market,
)
from temporal_client.markets import (
    create_market as start_market,
)


def _loc(field: str) -> tuple[str, ...]:
    """``sessions.1.places`` → ("body", "sessions", "1", "places")."""
    return ("body", *field.split("."))


def check_create(payload: MarketCreate) -> model.MarketTerms:
    terms = model.MarketTerms(
        reference=payload.reference, lot_number=payload.lot_number, lot_title=payload.lot_title,
        siret=payload.siret, amount_excl_tax=str(payload.amount_excl_tax),
        amount_incl_tax=str(payload.amount_incl_tax), funding_source=payload.funding_source,
        sessions=[model.MarketSession(s.session_id, s.places, s.start_date, s.end_date)
                  for s in payload.sessions])
    try:
        return model.validate_terms(terms)
    except ValidationError as invalid:
        raise InvalidFields([(_loc(invalid.field), invalid.reason)]) from invalid


async def create_market(ctx: AppContext, user: User, payload: MarketCreate, identity: str = "") -> str:
    """Register the market and start its workflow. ``identity`` (from the request's
    idempotency key or form token) makes a retry the same market."""
    terms = check_create(payload)
    market_id = f"M-{(uuid.UUID(identity) if identity else uuid.uuid4()).hex[:12].upper()}"
    with ctx.db.sessions() as session:
        existing = market_exists(session, terms.reference, terms.lot_number)
    if existing and existing != market_id:  # the same id: this request retried, answered again
        raise Refused(409, "MarketExists", f"Le lot {terms.lot_number} du marché {terms.reference} "
                      f"est déjà enregistré ({existing}).", {"market_id": existing})
    market = MarketInput(market_id=market_id, facts=model.MarketFacts(terms),
                         acting_user=user.username, retry=ctx.retry, link=ctx.link,
                         escalation=ctx.escalation_for(f"/marches/{market_id}", user.username))
    # The workflow answers once its projection is stored: the list shows the market at once.
    view = await send(start_market(await ctx.temporal(), market, ctx.settings.task_queue),
                      "market", "creation")
    return view.market_id


async def apply_market_event(ctx: AppContext, user: User, market_id: str, event: str,
                             data: dict[str, Any], event_id: str = "") -> MarketView:
    """The workflow's validator checks the data against the market's facts (422 naming the
    field); it answers once the projection shows the event. ``event_id`` is the request's
    identity: the market applies it once, whatever the number of resends."""
    request = MarketEventRequest(event=event, acting_user=user.username, data=data,
                                 event_id=event_id or str(uuid.uuid4()))
    return await send(send_market_event(await ctx.temporal(), market_id, request), "market",
                      event)


async def reserve_for_dossier(ctx: AppContext, market_id: str, session_id: str, dossier_id: str) -> None:
    """Hold the dossier's place in its market session before the dossier starts."""
    _existing(ctx, market_id, loc=("body", "market_id"))
    try:
        await reserve_place(await ctx.temporal(), market_id, PlaceRequest(dossier_id, session_id))
    except EventRefused as refused:
        raise http_refusal(refused) from refused


async def release_for_dossier(ctx: AppContext, market_id: str, dossier_id: str) -> None:
    """The saga's compensation: the dossier did not start, its place is given back. If
    Temporal cannot be reached for this either, the periodic reconciliation releases it."""
    try:
        await release_place_if_not_started(await ctx.temporal(), market_id, dossier_id)
    except (EventRefused, RPCError):
        pass


def _existing(ctx: AppContext, market_id: str, loc: tuple[str, ...] | None = None) -> None:
    with ctx.db.sessions() as session:
        if get_market(session, market_id) is None:
            if loc:  # named in a dossier's creation: a bad field, not a missing page
                raise InvalidFields([(loc, f"marché inconnu : {market_id}")])
            raise Refused(404, UNKNOWN_MARKET, f"Marché inconnu : {market_id}")


async def load_market(ctx: AppContext, market_id: str) -> tuple[Market, MarketView | None]:
    """The stored row and, when the workflow answers, its live view."""
    with ctx.db.sessions() as session:
        row = get_market(session, market_id)
        if row is None:
            raise Refused(404, UNKNOWN_MARKET, f"Marché inconnu : {market_id}")
        _ = row.sessions  # loaded before the session closes
    try:
        view: MarketView | None = await asyncio.wait_for(view_market(await ctx.temporal(), market_id), 10)
    except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError, TimeoutError,
            TemporalUnreachable):
        view = None
    return row, view
