"""What the store holds about one person, for data-subject requests (SPEC §8): find them,
gather everything about them (access), correct them (rectification), erase them
(crypto-erasure's store half), and find those whose retention period is over."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from state_models.subject_requests import CLOSED_DOSSIER_STATES, retention_cutoff
from state_models.validators import mask_nir
from store.crypto import DataCipher, open_nir, seal_nir
from store.models import Dossier, DossierCorrection, NirUnmasking, Person
from store.projection import CORRECTED_PERSON_FIELDS
from store.trace_models import AuditRecord, TraceRecord

ERASED = "[effacé]"
# Store columns a rectification may change (the NIR is the person's identity: never).
PERSON_COLUMNS = ("birth_name", "usage_name", "first_names", "birth_date", "email", "phone")


def find_persons(session: Session, cipher: DataCipher, *, nir: str | None = None,
                 birth_name: str | None = None, birth_date: str | None = None) -> list[Person]:
    """The person with this NIR, or those with this birth name (any case) and birth date.
    Erased persons are not found: nothing of them is left to answer with."""
    query = select(Person).where(Person.erased_at.is_(None))
    if nir:
        query = query.where(Person.nir_hash == cipher.lookup_hash(nir))
    else:
        query = query.where(func.lower(Person.birth_name) == (birth_name or "").strip().lower(),
                            Person.birth_date == birth_date)
    return list(session.scalars(query.order_by(Person.id)))


def masked_nir(cipher: DataCipher, person: Person) -> str:
    return mask_nir(open_nir(cipher, person.nir_encrypted, person.nir_hash))


def dossiers_of(session: Session, person_ids: list[int]) -> list[Dossier]:
    if not person_ids:
        return []
    return list(session.scalars(select(Dossier).where(Dossier.person_id.in_(person_ids))
                                .order_by(Dossier.created_at)))


def correct_persons(session: Session, person_ids: list[int], corrections: dict[str, str]) -> int:
    """Apply a rectification to the persons' rows (idempotent); answers the rows changed."""
    values = {name: (value or None) if name in ("usage_name", "email", "phone") else value
              for name, value in corrections.items() if name in PERSON_COLUMNS}
    if not person_ids or not values:
        return 0
    result = session.execute(update(Person).where(Person.id.in_(person_ids),
                                                  Person.erased_at.is_(None)).values(**values))
    return result.rowcount or 0


def erase_persons(session: Session, cipher: DataCipher, person_ids: list[int],
                  at: datetime) -> list[str]:
    """Blank the persons' identity in the store; answers their NIRs (for the caller to
    destroy their data keys). Idempotent: an erased person is skipped. The row stays (the
    dossiers, public funding records, refer to it) with a placeholder hash."""
    nirs = []
    for person in session.scalars(select(Person).where(Person.id.in_(person_ids),
                                                       Person.erased_at.is_(None))):
        nirs.append(open_nir(cipher, person.nir_encrypted, person.nir_hash))
        person.nir_hash = f"erased-{person.id}"
        # A placeholder sealed like a NIR: every reader (pages, API) shows it, none breaks.
        person.nir_encrypted = seal_nir(cipher, ERASED, person.nir_hash)
        person.birth_name = person.first_names = ERASED
        person.usage_name = person.email = person.phone = None
        person.birth_date = ""
        person.sex = "-"
        person.erased_at = at
        # The identity values corrections recorded (before and after) go with it.
        session.execute(update(DossierCorrection).where(
            DossierCorrection.dossier_id.in_(select(Dossier.id).where(Dossier.person_id == person.id)),
            DossierCorrection.field.in_(CORRECTED_PERSON_FIELDS)).values(before=ERASED, after=ERASED))
    return nirs


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


def gather(session: Session, cipher: DataCipher, person_ids: list[int],
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
        "persons": [{
            "nir": open_nir(cipher, p.nir_encrypted, p.nir_hash), "birth_name": p.birth_name,
            "usage_name": p.usage_name, "first_names": p.first_names,
            "birth_date": p.birth_date, "sex": p.sex, "email": p.email, "phone": p.phone,
        } for p in persons],
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
