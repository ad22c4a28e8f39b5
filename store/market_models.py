"""Projection of the market workflows for business users: one row per market, one per session.

The market workflow stays the source of truth; the RecordMarket activity and the API
write these rows idempotently (``version`` only moves forward). Payments, amendments
and dossier counts are small lists kept as JSON on the market row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models import Base, UtcDateTime, utcnow


class Market(Base):
    __tablename__ = "markets"
    __table_args__ = (UniqueConstraint("reference", "lot_number"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the Region's market id
    reference: Mapped[str] = mapped_column(String(40))
    lot_number: Mapped[str] = mapped_column(String(10))
    lot_title: Mapped[str] = mapped_column(String(255))
    siret: Mapped[str] = mapped_column(String(14), index=True)
    amount_excl_tax: Mapped[str] = mapped_column(String(32))
    amount_incl_tax: Mapped[str] = mapped_column(String(32))
    funding_source: Mapped[str] = mapped_column(String(16))
    # Lifecycle projection.
    state: Mapped[str] = mapped_column(String(16), index=True, default="created")
    total_paid: Mapped[str] = mapped_column(String(32), default="0.00")
    notification_date: Mapped[str | None] = mapped_column(String(10))
    start_date: Mapped[str | None] = mapped_column(String(10))
    end_date: Mapped[str | None] = mapped_column(String(10))
    settlement_date: Mapped[str | None] = mapped_column(String(10))
    interruption_reason: Mapped[str | None] = mapped_column(Text)
    payments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    amendments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    dossier_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # The workflow's change counter this row reflects: an older view never overwrites a newer one.
    version: Mapped[int] = mapped_column(Integer, default=0)
    manager: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    sessions: Mapped[list[MarketSessionRow]] = relationship(
        order_by="MarketSessionRow.start_date", lazy="selectin", back_populates="market")


class MarketSessionRow(Base):
    __tablename__ = "market_sessions"
    __table_args__ = (UniqueConstraint("market_id", "session_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[str] = mapped_column(ForeignKey("markets.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    places: Mapped[int] = mapped_column(Integer)
    places_used: Mapped[int] = mapped_column(Integer, default=0)
    start_date: Mapped[str] = mapped_column(String(10))
    end_date: Mapped[str] = mapped_column(String(10))
    market: Mapped[Market] = relationship(back_populates="sessions")
