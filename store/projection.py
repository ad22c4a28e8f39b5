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
from store.models import (
    Dossier,
    DossierCorrection,
    Person,
    TimelineEntry,
    TrainingOrganisation,
    utcnow,
)
from store.person_fields import PersonFields, identity_of


def _insert(session: Session, model: type) -> Any:
    """An INSERT that knows ON CONFLICT, in the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _insert_ignore(session: Session, model: type, values: dict[str, Any], keys: list[str]) -> None:
    session.execute(_insert(session, model).values(**values).on_conflict_do_nothing(index_elements=keys))


def upsert_person(session: Session, fields: PersonFields, data: PersonData) -> Person:
    """The person's row, created or given the latest identity (a re-engineering may have
    corrected a name): sealed under the person's key, written either way."""
    nir_hash = fields.cipher.lookup_hash(data.nir)
    identity = fields.columns(data.nir, nir_hash, identity_of(data))
    _insert_ignore(
        session, Person,
        {"nir_hash": nir_hash, **identity},
        ["nir_hash"],
    )
    person = session.scalars(select(Person).where(Person.nir_hash == nir_hash)).one()
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
        "funders": [{"code": f.code, "share": f.share} for f in action.funders],
    }


def record_input(session: Session, fields: PersonFields, dossier: DossierInput) -> None:
    """The dossier's person, organisation and training action, from its workflow input."""
    person = upsert_person(session, fields, dossier.person)
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


def _funders_text(funders: list[tuple[str, str]]) -> str | None:
    """Funders as a correction's before or after value: "2 : 60.00 % ; 3 : 40.00 %"."""
    return " ; ".join(f"{code} : {share} %" for code, share in funders) or None


def record_corrections(session: Session, fields: PersonFields, step: DossierStep) -> None:
    """Before the corrected values replace the row's: each value that changes, before and
    after, under the step's timeline entry; the person's own values sealed under their key
    (a crypto-erasure reaches them too). A retry finds the row already corrected and the
    values already recorded."""
    if step.dossier is None or step.entry is None:
        return
    row = session.get(Dossier, step.dossier_id)
    if row is None:
        return
    identity = fields.open(row.person)
    pairs = [(name, getattr(identity, name), getattr(step.dossier.person, name), True)
             for name in CORRECTED_PERSON_FIELDS]
    pairs += [(name, getattr(row, name), getattr(step.dossier.action, name), False)
              for name in CORRECTED_ACTION_FIELDS]
    pairs.append(("funders", _funders_text([(f["code"], f["share"]) for f in row.funders or []]),
                  _funders_text([(f.code, f.share) for f in step.dossier.action.funders]), False))
    for name, before, after, personal in pairs:
        if (before or None) != (after or None) and str(before) != str(after):
            where = (step.dossier_id, step.entry.seq, name)
            values = [None if v is None else str(v) for v in (before, after)]
            if personal:
                values = [None if v is None else fields.seal_correction(row.person, where, v)
                          for v in values]
            _insert_ignore(session, DossierCorrection, {
                "dossier_id": step.dossier_id, "seq": step.entry.seq, "field": name,
                "before": values[0], "after": values[1]}, ["dossier_id", "seq", "field"])


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
                entry_situation=dict(facts.entry_situation),
                exit_reason_code=facts.exit_reason_code,
                last_seq=seq, updated_at=utcnow())
    )
    return True
