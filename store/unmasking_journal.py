"""The audit journal of NIRs shown in clear outside the dossier pages (the codec endpoint)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.crypto import DataCipher
from store.models import NirUnmasking, Person


def record_nir_unmasking(session: Session, cipher: DataCipher, username: str, nir: str,
                         dossier_id: str | None, channel: str) -> bool:
    """Journal that ``username`` saw ``nir`` in clear; False when the NIR is not a person of
    the store (then it must stay masked: an unmasking that cannot be journaled is not made)."""
    person_id = session.scalars(select(Person.id).where(Person.nir_hash == cipher.lookup_hash(nir))).first()
    if person_id is None:
        return False
    session.add(NirUnmasking(username=username, person_id=person_id, dossier_id=dossier_id,
                             channel=channel))
    return True
