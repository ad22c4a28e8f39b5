"""Reads of the dossier projection for the API and the UI."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.crypto import DataCipher
from store.market_models import Market
from store.models import Dossier, NirUnmasking, Person
from store.person_fields import name_query_terms


@dataclass(frozen=True)
class DossierFilter:
    state: str | None = None
    siret: str | None = None
    entry_from: str | None = None  # ISO dates, inclusive
    entry_to: str | None = None
    name: str | None = None
    market: str | None = None  # the market's id


def list_dossiers(session: Session, cipher: DataCipher, where: DossierFilter, page: int,
                  page_size: int) -> tuple[list[Dossier], int]:
    """One page of dossiers, newest first, and the total that match."""
    query = select(Dossier).join(Dossier.person)
    if where.state:
        query = query.where(Dossier.state == where.state)
    if where.siret:
        query = query.where(Dossier.siret == where.siret)
    if where.market:
        query = query.where(Dossier.market_id == where.market)
    if where.entry_from:
        query = query.where(Dossier.entry_date >= where.entry_from)
    if where.entry_to:
        query = query.where(Dossier.entry_date <= where.entry_to)
    if where.name:
        # Names are sealed: each word typed must be a whole word of the person's names
        # (case and accents ignored), matched by its keyed hash.
        for term in name_query_terms(cipher, where.name):
            query = query.where(Person.name_terms.contains(f" {term} "))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Dossier.created_at.desc(), Dossier.id).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total


def person_hash_of(session: Session, dossier_id: str) -> str | None:
    """The keyed hash of the NIR of the dossier's person (None for an unknown dossier)."""
    return session.scalar(select(Person.nir_hash).join(Dossier, Dossier.person_id == Person.id)
                          .where(Dossier.id == dossier_id))


def get_dossier(session: Session, dossier_id: str) -> Dossier | None:
    return session.get(Dossier, dossier_id)


def record_unmasking(session: Session, username: str, dossier: Dossier, channel: str) -> None:
    session.add(NirUnmasking(username=username, person_id=dossier.person_id, dossier_id=dossier.id,
                             channel=channel))


def count_by_state(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Dossiers and markets by state: two grouped counts over indexed columns (metrics)."""
    dossiers = session.execute(select(Dossier.state, func.count()).group_by(Dossier.state))
    markets = session.execute(select(Market.state, func.count()).group_by(Market.state))
    return ({state: count for state, count in dossiers},
            {state: count for state, count in markets})
