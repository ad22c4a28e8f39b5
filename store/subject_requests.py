"""What the store holds about one person, for data-subject requests (SPEC §8): find them,
gather everything about them (access), correct them (rectification), erase them
(crypto-erasure's store half), and find those whose retention period is over."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from state_models.subject_requests import CLOSED_DOSSIER_STATES, retention_cutoff
from state_models.validators import mask_nir
from store.crypto import DataCipher, seal_nir
from store.models import Dossier, DossierCorrection, NirUnmasking, Person, ProcessingRestriction
from store.person_fields import ERASED, ERASED_COLUMNS, PersonFields, identity_hash
from store.projection import CORRECTED_PERSON_FIELDS
from store.trace_models import AuditRecord, TraceRecord

# Identity fields a rectification may change (the NIR is the person's identity: never).
PERSON_COLUMNS = ("birth_name", "usage_name", "first_names", "birth_date", "email", "phone")


def find_persons(session: Session, cipher: DataCipher, *, nir: str | None = None,
                 birth_name: str | None = None, birth_date: str | None = None) -> list[Person]:
    """The person with this NIR, or those with this birth name (case, accents and spacing
    ignored) and birth date, both found by keyed hash. Erased persons are not found: nothing
    of them is left to answer with."""
    query = select(Person).where(Person.erased_at.is_(None))
    if nir:
        query = query.where(Person.nir_hash == cipher.lookup_hash(nir))
    else:
        query = query.where(Person.identity_hash == identity_hash(
            cipher, birth_name or "", birth_date or ""))
    return list(session.scalars(query.order_by(Person.id)))


def masked_nir(fields: PersonFields, person: Person) -> str:
    return mask_nir(fields.nir(person))


def dossiers_of(session: Session, person_ids: list[int]) -> list[Dossier]:
    if not person_ids:
        return []
    return list(session.scalars(select(Dossier).where(Dossier.person_id.in_(person_ids))
                                .order_by(Dossier.created_at)))


def correct_persons(session: Session, fields: PersonFields, person_ids: list[int],
                    corrections: dict[str, str]) -> int:
    """Apply a rectification to the persons' rows, sealed again under each person's key
    (idempotent); answers the rows changed."""
    values = {name: (value or None) if name in ("usage_name", "email", "phone") else value
              for name, value in corrections.items() if name in PERSON_COLUMNS}
    if not person_ids or not values:
        return 0
    changed = 0
    for person in session.scalars(select(Person).where(Person.id.in_(person_ids),
                                                       Person.erased_at.is_(None))):
        identity = replace(fields.open(person), **values)
        for name, value in fields.columns(fields.nir(person), person.nir_hash, identity).items():
            setattr(person, name, value)
        changed += 1
    return changed


def erase_persons(session: Session, fields: PersonFields, person_ids: list[int],
                  at: datetime) -> list[tuple[str | None, str | None]]:
    """Blank the persons' NIR and identity in the store; answers each one's NIR (None when
    their key is already gone) and key id, for the caller to destroy their data keys — which
    makes every older copy of the row, backups included, unreadable. Idempotent: an erased
    person is skipped. The row stays (the dossiers, public funding records, refer to it)
    with a placeholder hash."""
    erased: list[tuple[str | None, str | None]] = []
    for person in session.scalars(select(Person).where(Person.id.in_(person_ids),
                                                       Person.erased_at.is_(None))):
        nir = fields.nir(person)
        erased.append((None if nir == ERASED else nir, person.key_id))
        person.nir_hash = f"erased-{person.id}"
        # A placeholder sealed like a NIR: every reader (pages, API) shows it, none breaks.
        person.nir_encrypted = seal_nir(fields.cipher, ERASED, person.nir_hash)
        for name, value in ERASED_COLUMNS.items():
            setattr(person, name, value)
        person.erased_at = at
        # The identity values corrections recorded (sealed under the person's key, which the
        # caller destroys) are blanked too.
        session.execute(update(DossierCorrection).where(
            DossierCorrection.dossier_id.in_(select(Dossier.id).where(Dossier.person_id == person.id)),
            DossierCorrection.field.in_(CORRECTED_PERSON_FIELDS)).values(before=ERASED, after=ERASED))
    return erased


def restrict_persons(session: Session, request_id: str, person_ids: list[int],
                     at: datetime) -> int:
    """A restriction of processing in force on the persons, by the keyed hash of their NIR,
    so that a dossier of theirs created later is refused too. Idempotent."""
    hashes = set(session.scalars(select(Person.nir_hash).where(
        Person.id.in_(person_ids or [-1]), Person.erased_at.is_(None))))
    known = set(session.scalars(select(ProcessingRestriction.nir_hash).where(
        ProcessingRestriction.request_id == request_id)))
    session.add_all(ProcessingRestriction(request_id=request_id, nir_hash=h, since=at)
                    for h in sorted(hashes - known))
    return len(hashes)


def lift_restriction(session: Session, request_id: str, at: datetime) -> None:
    session.execute(update(ProcessingRestriction).where(
        ProcessingRestriction.request_id == request_id,
        ProcessingRestriction.lifted_at.is_(None)).values(lifted_at=at))


def restriction_of(session: Session, nir_hash: str) -> str | None:
    """The request whose restriction is in force on the person with this NIR hash, if any."""
    return session.scalar(select(ProcessingRestriction.request_id).where(
        ProcessingRestriction.nir_hash == nir_hash, ProcessingRestriction.lifted_at.is_(None))
        .order_by(ProcessingRestriction.since).limit(1))


def due_for_erasure(session: Session, now: datetime, retention_days: int) -> list[int]:
    """Persons not yet erased whose dossiers are all closed (settled or cancelled), the last
    of them closed more than ``retention_days`` ago."""
    cutoff = retention_cutoff(now, retention_days)
    open_persons = select(Dossier.person_id).where(Dossier.state.not_in(CLOSED_DOSSIER_STATES))
    query = (select(Dossier.person_id)
             .join(Person, Person.id == Dossier.person_id)
             .where(Person.erased_at.is_(None), Dossier.person_id.not_in(open_persons))
             .group_by(Dossier.person_id)
             .having(func.max(Dossier.updated_at) < cutoff))
    return list(session.scalars(query))


def gather(session: Session, fields: PersonFields, person_ids: list[int],
           emails: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the Region's store holds about the persons (GDPR art. 15): identity,
    dossiers with their events and AGORA outcomes, market links, AGORA exchanges about
    them, who saw their NIR in clear, journal entries naming their dossiers, and the
    ``emails`` (from the sent log) that named them."""
    persons = list(session.scalars(select(Person).where(Person.id.in_(person_ids or [-1]))))
    dossiers = dossiers_of(session, [p.id for p in persons])
    dossier_ids = [d.id for d in dossiers]
    exchanges = list(session.scalars(
        select(TraceRecord).where(TraceRecord.dossier_id.in_(dossier_ids or ["-"]))
        .order_by(TraceRecord.seq))) if dossier_ids else []
    unmaskings = list(session.scalars(
        select(NirUnmasking).where(NirUnmasking.person_id.in_([p.id for p in persons] or [-1]))
        .order_by(NirUnmasking.at)))
    journal = list(session.scalars(select(AuditRecord).where(or_(
        *(AuditRecord.records.contains(f'"{d}"') for d in dossier_ids),
        *(AuditRecord.query.contains(d) for d in dossier_ids))).order_by(AuditRecord.seq))
    ) if dossier_ids else []
    return {
        "persons": [{"nir": fields.nir(p), **asdict(fields.open(p))} for p in persons],
        "dossiers": [{
            "dossier_id": d.id, "state": d.state, "agora_dossier_id": d.agora_dossier_id,
            "training": {"action_id": d.action_id, "title": d.title, "siret": d.siret,
                         "start_date": d.start_date, "end_date": d.end_date,
                         "duration_hours": d.duration_hours, "price": d.price},
            "entry_date": d.entry_date, "market_id": d.market_id, "session_id": d.session_id,
            "manager": d.manager, "created_at": d.created_at.isoformat(),
            "events": [{"seq": e.seq, "event": e.event, "at": e.at, "by": e.acting_user,
                        "agora_operation": e.operation, "agora_outcome": e.outcome,
                        "ack_id": e.ack_id, "fault_code": e.fault_code, "message": e.message}
                       for e in d.timeline],
        } for d in dossiers],
        "agora_exchanges": [{"at": t.at, "operation": t.operation, "dossier_id": t.dossier_id,
                             "outcome": t.outcome, "fault_code": t.fault_code}
                            for t in exchanges],
        "nir_unmaskings": [{"at": u.at.isoformat(), "by": u.username, "channel": u.channel,
                            "dossier_id": u.dossier_id} for u in unmaskings],
        "journal": [{"at": j.at, "by": j.username, "action": j.action,
                     "query": json.loads(j.query)} for j in journal],
        "emails": emails,
    }
