"""Idempotent writes and reads of the market projection.

Written by the RecordMarket activity (from the workflow) and by the API right after an
event; the row only moves forward (``version``), so retries and late writes converge.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from contracts.market import MarketView
from store.market_models import Market, MarketSessionRow
from store.models import utcnow
from store.projection import _insert_ignore


def record_market(session: Session, view: MarketView, manager: str | None) -> None:
    """The market's row and its sessions' rows, from the workflow's view."""
    terms = view.facts.terms
    _insert_ignore(session, Market, {
        "id": view.market_id, "reference": terms.reference, "lot_number": terms.lot_number,
        "lot_title": terms.lot_title, "siret": terms.siret, "amount_excl_tax": terms.amount_excl_tax,
        "amount_incl_tax": terms.amount_incl_tax, "funding_source": terms.funding_source,
        "state": "created", "total_paid": "0.00", "payments": [], "amendments": [], "history": [],
        "dossier_counts": {}, "version": -1, "manager": manager, "created_at": utcnow(),
        "updated_at": utcnow()}, ["id"])
    applied = session.execute(
        update(Market)
        .where(Market.id == view.market_id, Market.version <= view.version)
        .values(**_lifecycle_columns(view), updated_at=utcnow())
    ).rowcount
    if not applied:
        return  # a newer view is stored already
    for s in view.sessions:
        _insert_ignore(session, MarketSessionRow, {
            "market_id": view.market_id, "session_id": s.session_id, "places": s.places,
            "places_used": s.places_used, "start_date": s.start_date, "end_date": s.end_date,
        }, ["market_id", "session_id"])
        session.execute(update(MarketSessionRow).where(
            MarketSessionRow.market_id == view.market_id, MarketSessionRow.session_id == s.session_id,
        ).values(places=s.places, places_used=s.places_used, start_date=s.start_date,
                 end_date=s.end_date))


def _lifecycle_columns(view: MarketView) -> dict[str, Any]:
    facts, terms = view.facts, view.facts.terms
    return {
        "amount_excl_tax": terms.amount_excl_tax, "amount_incl_tax": terms.amount_incl_tax,
        "state": facts.state, "total_paid": view.total_paid,
        "notification_date": facts.notification_date, "start_date": facts.start_date,
        "end_date": facts.end_date, "settlement_date": facts.settlement_date,
        "interruption_reason": facts.interruption.reason if facts.interruption else None,
        "payments": [asdict(p) for p in facts.payments],
        "amendments": [asdict(a) for a in facts.amendments],
        "history": [asdict(h) for h in view.history],
        "dossier_counts": view.dossier_counts, "version": view.version,
    }


def market_exists(session: Session, reference: str, lot_number: str) -> str | None:
    """The id of the market already registered for this reference and lot, if any."""
    return session.scalar(select(Market.id).where(Market.reference == reference,
                                                  Market.lot_number == lot_number))


def get_market(session: Session, market_id: str) -> Market | None:
    return session.get(Market, market_id)


def list_markets(session: Session, state: str | None, page: int, page_size: int) -> tuple[list[Market], int]:
    """One page of markets, newest first, and the total that match."""
    query = select(Market)
    if state:
        query = query.where(Market.state == state)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Market.created_at.desc(), Market.id)
                           .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), total

