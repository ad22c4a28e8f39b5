"""JSON shapes of the market API, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.dossiers.schemas import Amount, IsoDate, Text, _Strict
from contracts.agora_link import LinkWait
from contracts.notify import SentEmail
from state_models import market as model

MarketStateName = Literal[model.STATES]  # type: ignore[valid-type]
MarketEventName = Literal[model.EVENTS]  # type: ignore[valid-type]
FundingSource = Literal[model.FUNDING_SOURCES]  # type: ignore[valid-type]
ShortId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class SessionIn(_Strict):
    session_id: ShortId
    places: int = Field(ge=1, le=10_000)
    start_date: IsoDate
    end_date: IsoDate


class MarketCreate(_Strict):
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    lot_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
    lot_title: Text
    siret: Annotated[str, Field(max_length=32, description="SIRET de l'organisme, 14 chiffres")]
    amount_excl_tax: Amount = Field(description="Montant HT, en euros")
    amount_incl_tax: Amount = Field(description="Montant TTC, en euros : plafond des paiements")
    funding_source: FundingSource
    sessions: Annotated[list[SessionIn], Field(min_length=1, max_length=100)]


class MarketEventData(_Strict):
    """The fields of every market event; each event takes its own (see the endpoint)."""

    notification_date: IsoDate | None = None
    start_date: IsoDate | None = None
    payment_date: IsoDate | None = None
    amount: Amount | None = None
    kind: Annotated[str, Field(max_length=32)] | None = None
    interruption_date: IsoDate | None = None
    reason: Annotated[str, Field(max_length=255)] | None = None
    resume_date: IsoDate | None = None
    end_date: IsoDate | None = None
    settlement_date: IsoDate | None = None
    amendment_date: IsoDate | None = None
    amount_excl_tax: Amount | None = None
    amount_incl_tax: Amount | None = None
    session_id: Annotated[str, Field(max_length=64)] | None = None
    session_start: IsoDate | None = None
    session_end: IsoDate | None = None


class MarketCreated(BaseModel):
    market_id: str
    state: MarketStateName


class MarketSummary(BaseModel):
    market_id: str
    reference: str
    lot_number: str
    lot_title: str
    siret: str
    state: MarketStateName
    amount_incl_tax: str
    total_paid: str
    created_at: datetime


class MarketPage(BaseModel):
    items: list[MarketSummary]
    total: int
    page: int
    page_size: int


class SessionOut(BaseModel):
    session_id: str
    places: int
    places_used: int
    start_date: str
    end_date: str


class PaymentOut(BaseModel):
    seq: int
    kind: str
    amount: str
    payment_date: str


class ChangeOut(BaseModel):
    name: str
    before: str
    after: str


class AmendmentOut(BaseModel):
    seq: int
    amendment_date: str
    reason: str
    changes: list[ChangeOut]


class MarketTimelineEntryOut(BaseModel):
    seq: int
    event: str
    at: str
    acting_user: str | None
    operation: str = Field(description="AGORA operation called, empty when none")
    outcome: Literal["recorded", "acknowledged", "replay", "refused"]
    state_after: str
    ack_id: str
    fault_code: str
    message: str


class MarketDetail(BaseModel):
    market_id: str
    live: bool = Field(description="True when read from the workflow, False from the stored projection")
    reference: str
    lot_number: str
    lot_title: str
    siret: str
    funding_source: str
    amount_excl_tax: str
    amount_incl_tax: str
    state: MarketStateName
    notification_date: str | None
    start_date: str | None
    end_date: str | None
    settlement_date: str | None
    interruption_kind: str | None
    interruption_reason: str | None
    total_paid: str
    remaining: str
    manager: str | None
    allowed_events: list[MarketEventName]
    sessions: list[SessionOut]
    payments: list[PaymentOut]
    amendments: list[AmendmentOut]
    dossier_counts: dict[str, int] = Field(description="Dossiers of this market per state")
    timeline: list[MarketTimelineEntryOut]
    link_waits: list[LinkWait] = Field(
        default_factory=list, description="AGORA calls that waited for a maintenance window or "
                                          "a cut-off of the link, and why")
    emails: list[SentEmail] = Field(
        default_factory=list, description="Reminder and escalation emails about this market")
