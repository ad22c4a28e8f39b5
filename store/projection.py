"""Idempotent writes of a dossier's projection: any retry, in any order, converges.

Rows are inserted with ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike), and
the lifecycle columns only move forward: a step older than the one already stored
never overwrites it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from agora.messages import Person as PersonData
from agora.messages import TrainingAction
from contracts.dossier import DossierInput
from contracts.projection import DossierStep
from store.crypto import DataCipher, seal_nir
from store.models import (
    Dossier,
    DossierCorrection,
    Person,
    TimelineEntry,
    TrainingOrganisation,
    utcnow,
)


def _insert(session: Session, model: type) -> Any:
    """An INSERT that knows ON CONFLICT, in the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _insert_ignore(session: Session, model: type, values: dict[str, Any], keys: list[str]) -> None:
    session.execute(_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=keys))


def upsert_person(session: Session, cipher: DataCipher, data: PersonData) -> Person:
    nir_hash = cipher.lookup_hash(data.nir)
    identity = {
        "birth_name": data.birth_name,
        "usage_name": data.usage_name,
        "first_names": data.first_names,
        "birth_date": data.birth_date,
        "sex": data.sex,
        "email": data.email,
        "phone": data.phone,
    }
    _insert_ignore(
        session, Person,
        {"nir_hash": nir_hash, "nir_encrypted": seal_nir(cipher, data.nir, nir_hash), **identity},
        ["nir_hash"],
    )
    person = session.scalars(select(Person).where(Person.nir_hash == nir_hash)).one()
    # The latest identity wins: a re-engineering may have corrected a name.
    for name, value in identity.items():
        setattr(person, name, value)
    return person


def _action_columns(action: TrainingAction) -> dict[str, Any]:
    return {
        "action_id": action.action_id,
        "title": action.title,
        "duration_hours": action.duration_hours,
        "start_date": action.start_date,
        "end_date": action.end_date,
        "certification_code": action.certification_code,
        "purchase_mode": action.purchase_mode,
        "price": action.price,
    }


def record_input(session: Session, cipher: DataCipher, dossier: DossierInput) -> None:
    """The dossier's person, organisation and training action, from its workflow input."""
    person = upsert_person(session, cipher, dossier.person)
    _insert_ignore(session, TrainingOrganisation, {"siret": dossier.action.siret}, ["siret"])
    action = _action_columns(dossier.action)
    _insert_ignore(
        session, Dossier,
        {"id": dossier.dossier_id, "person_id": person.id, "siret": dossier.action.siret,
         "manager": dossier.acting_user, "state": "created", "last_seq": 0,
         "market_id": dossier.market.market_id if dossier.market else None,
         "session_id": dossier.market.session_id if dossier.market else None,
         "created_at": utcnow(), "updated_at": utcnow(), **action},
        ["id"],
    )
    # A re-engineering may have corrected the person or the action.
    session.execute(update(Dossier).where(Dossier.id == dossier.dossier_id).values(
        person_id=person.id, siret=dossier.action.siret, **action))


# What a correction may change in the row, by the DossierInput attribute holding it.
CORRECTED_PERSON_FIELDS = ("birth_name", "usage_name", "first_names", "birth_date", "email", "phone")
CORRECTED_ACTION_FIELDS = ("title", "duration_hours", "start_date", "end_date",
                           "certification_code", "price")


def record_corrections(session: Session, step: DossierStep) -> None:
    """Before the corrected values replace the row's: each value that changes, before and
    after, under the step's timeline entry. A retry finds the row already corrected and the
    values already recorded."""
    if step.dossier is None or step.entry is None:
        return
    row = session.get(Dossier, step.dossier_id)
    if row is None:
        return
    pairs = [(name, getattr(row.person, name), getattr(step.dossier.person, name))
             for name in CORRECTED_PERSON_FIELDS]
    pairs += [(name, getattr(row, name), getattr(step.dossier.action, name))
              for name in CORRECTED_ACTION_FIELDS]
    for name, before, after in pairs:
        if (before or None) != (after or None) and str(before) != str(after):
            _insert_ignore(session, DossierCorrection, {
                "dossier_id": step.dossier_id, "seq": step.entry.seq, "field": name,
                "before": None if before is None else str(before),
                "after": None if after is None else str(after)},
                ["dossier_id", "seq", "field"])


def record_step(session: Session, step: DossierStep) -> bool:
    """One step of a dossier: its timeline entry and its facts after it. False when the
    dossier row does not exist yet. Plain statements, no ORM loading: this runs after every
    AGORA call of every dossier. Idempotent: a retry writes the same entry (same seq) and an
    older step never rewinds the row."""
    # The dossier row is locked first (PostgreSQL; SQLite has one writer anyway), then the
    # timeline: every writer takes the locks in that order and none deadlocks.
    stored = session.scalar(
        select(Dossier.last_seq).where(Dossier.id == step.dossier_id).with_for_update())
    if stored is None:
        return False
    seq = stored
    entry = step.entry
    if entry is not None:
        session.execute(_insert(session, TimelineEntry).on_conflict_do_nothing(
            index_elements=["dossier_id", "seq"]), [{
                "dossier_id": step.dossier_id, "seq": entry.seq, "event": entry.event,
                "at": entry.at, "acting_user": entry.acting_user, "operation": entry.operation,
                "request_id": entry.request_id, "outcome": entry.outcome,
                "state_after": entry.state_after, "ack_id": entry.ack_id,
                "fault_code": entry.fault_code, "message": entry.message}])
        seq = entry.seq
    facts = step.facts
    session.execute(
        update(Dossier)
        .where(Dossier.id == step.dossier_id, Dossier.last_seq <= seq)
        .values(state=facts.state, agora_dossier_id=facts.agora_dossier_id,
                entry_date=facts.entry_date, registration_fault=facts.registration_fault,
                last_seq=seq, updated_at=utcnow())
    )
    return True
