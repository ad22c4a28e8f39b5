"""Market views (live, from the workflow) and projection rows turned into API answers."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal

from api.markets.schemas import MarketDetail, MarketSummary
from contracts.market import MarketView
from state_models.dossier import STATES as DOSSIER_STATES
from store.market_models import Market


def market_summary(row: Market) -> MarketSummary:
    return MarketSummary(market_id=row.id, reference=row.reference, lot_number=row.lot_number,
                         lot_title=row.lot_title, siret=row.siret, state=row.state,
                         amount_incl_tax=row.amount_incl_tax, total_paid=row.total_paid,
                         created_at=row.created_at)


def market_detail(row: Market, view: MarketView | None) -> MarketDetail:
    """The workflow's view when it answered, else the stored projection (no action possible)."""
    if view is not None:
        facts, terms = view.facts, view.facts.terms
        return MarketDetail(
            market_id=row.id, live=True, reference=terms.reference, lot_number=terms.lot_number,
            lot_title=terms.lot_title, siret=terms.siret, funding_source=terms.funding_source,
            amount_excl_tax=terms.amount_excl_tax, amount_incl_tax=terms.amount_incl_tax,
            state=facts.state, notification_date=facts.notification_date,
            start_date=facts.start_date, end_date=facts.end_date,
            settlement_date=facts.settlement_date,
            interruption_kind=facts.interruption.kind if facts.interruption else None,
            interruption_reason=facts.interruption.reason if facts.interruption else None,
            total_paid=view.total_paid, remaining=view.remaining, manager=row.manager,
            allowed_events=view.allowed_events, sessions=[asdict(s) for s in view.sessions],
            payments=[asdict(p) for p in facts.payments],
            amendments=[asdict(a) for a in facts.amendments],
            dossier_counts=view.dossier_counts, timeline=[asdict(h) for h in view.history],
            link_waits=view.link_waits, emails=view.emails,
        )
    return MarketDetail(
        market_id=row.id, live=False, reference=row.reference, lot_number=row.lot_number,
        lot_title=row.lot_title, siret=row.siret, funding_source=row.funding_source,
        amount_excl_tax=row.amount_excl_tax, amount_incl_tax=row.amount_incl_tax, state=row.state,
        notification_date=row.notification_date, start_date=row.start_date, end_date=row.end_date,
        settlement_date=row.settlement_date, interruption_kind=None,
        interruption_reason=row.interruption_reason, total_paid=row.total_paid,
        remaining=str(Decimal(row.amount_incl_tax) - Decimal(row.total_paid)), manager=row.manager,
        allowed_events=[],
        sessions=[{"session_id": s.session_id, "places": s.places, "places_used": s.places_used,
                   "start_date": s.start_date, "end_date": s.end_date} for s in row.sessions],
        payments=row.payments, amendments=row.amendments,
        dossier_counts={state: row.dossier_counts.get(state, 0) for state in DOSSIER_STATES},
        timeline=row.history,
    )
