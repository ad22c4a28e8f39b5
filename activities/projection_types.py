"""Inputs of the RecordDossier and RecordMarket activities. No SQLAlchemy here: workflows import this module."""

from __future__ import annotations

from dataclasses import dataclass

from workflows.dossier_types import DossierInput, DossierView
from workflows.market_types import MarketView

RECORD_DOSSIER = "RecordDossier"
RECORD_MARKET = "RecordMarket"


@dataclass
class DossierRecord:
    dossier: DossierInput
    view: DossierView


@dataclass
class MarketRecord:
    acting_user: str | None  # who registered the market: its manager
    view: MarketView
