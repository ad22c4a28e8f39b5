"""What makes a repeated request one effect: remembered idempotency keys, and the claim
that one person on one training action is one Region dossier.

Neither is a projection: the API writes both, in its own transactions, before it asks a
workflow anything. The database's unique constraints decide between concurrent requests
(never a read-then-write).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.models import Base, Dossier, UtcDateTime, utcnow

# A key is remembered at least this long (clients retry within minutes; a day covers a
# retry the next morning).
KEY_RETENTION = timedelta(hours=24)
# A claim whose dossier was never stored (its workflow did not start) gives way after this.
CLAIM_GRACE = timedelta(minutes=10)
# Dossiers in these states no longer hold their person on their action.
CLOSED_DOSSIER_STATES = frozenset({"settled", "cancelled"})


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("username", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(64))
    method_path: Mapped[str] = mapped_column(String(600))
    body_digest: Mapped[str] = mapped_column(String(64))
    # None while the first request runs.
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class DossierClaim(Base):
    """One row per person (keyed NIR hash) and training action with an open dossier."""

    __tablename__ = "dossier_claims"
    __table_args__ = (UniqueConstraint("nir_hash", "siret", "action_id", "start_date",
                                       name="uq_dossier_claims_person_action"),)
    dossier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nir_hash: Mapped[str] = mapped_column(String(64))
    siret: Mapped[str] = mapped_column(String(14))
    action_id: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# --- idempotency keys -------------------------------------------------------------------


@dataclass(frozen=True)
class Remembered:
    """A key already seen: its request's digest and, once answered, the answer."""

    method_path: str
    body_digest: str
    status: int | None
    content_type: str | None
    body: bytes | None


def claim_key(session: Session, username: str, key: str, method_path: str,
              body_digest: str) -> Remembered | None:
    """Take ``key`` for this request (None), or what an earlier request with it left.
    Entries older than the retention are forgotten first (this one included: taken anew);
    the range delete rides the ``created_at`` index, so every process keeps the table
    small without a job of its own."""
    purge_expired_keys(session)
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(key=key, username=username, method_path=method_path,
                                       body_digest=body_digest))
        return None
    except IntegrityError:
        pass
    row = session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.username == username, IdempotencyKey.key == key)).one_or_none()
    if row is None:  # released meanwhile: the caller tries again
        return Remembered(method_path, body_digest, None, None, None)
    return Remembered(row.method_path, row.body_digest, row.status, row.content_type, row.response_body)


def remember_answer(session: Session, username: str, key: str, status: int, content_type: str | None,
                    body: bytes) -> None:
    # One UPDATE: a key purged meanwhile is simply not remembered (never an error once the
    # answer is on its way to the client).
    session.execute(update(IdempotencyKey).where(
        IdempotencyKey.username == username, IdempotencyKey.key == key).values(
        status=status, content_type=content_type, response_body=body))


def release_key(session: Session, username: str, key: str) -> None:
    """No final answer (Temporal or AGORA did not answer in time): the next try runs again."""
    session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.username == username, IdempotencyKey.key == key,
        IdempotencyKey.status.is_(None)))


def purge_expired_keys(session: Session) -> int:
    return session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.created_at < utcnow() - KEY_RETENTION)).rowcount or 0


# --- one open dossier per person and action --------------------------------------------


def claim_dossier(session: Session, dossier_id: str, nir_hash: str, siret: str, action_id: str,
                  start_date: str) -> str | None:
    """Claim the person on the action for ``dossier_id``; None when claimed (or already
    claimed by this same dossier id), else the id of the open dossier holding it. A claim
    whose dossier has closed (settled, cancelled) gives way."""
    for _ in range(2):
        try:
            with session.begin_nested():
                session.add(DossierClaim(dossier_id=dossier_id, nir_hash=nir_hash, siret=siret,
                                         action_id=action_id, start_date=start_date))
            return None
        except IntegrityError:
            pass
        holder = session.scalars(select(DossierClaim).where(
            DossierClaim.nir_hash == nir_hash, DossierClaim.siret == siret,
            DossierClaim.action_id == action_id, DossierClaim.start_date == start_date)).one_or_none()
        if holder is None:
            if session.get(DossierClaim, dossier_id) is not None:
                return None  # the same dossier id again: a retry of the same creation
            continue  # released meanwhile
        if holder.dossier_id == dossier_id:
            return None
        state = session.scalars(select(Dossier.state).where(Dossier.id == holder.dossier_id)).first()
        never_stored = state is None and holder.created_at < utcnow() - CLAIM_GRACE
        if state not in CLOSED_DOSSIER_STATES and not never_stored:
            return holder.dossier_id
        session.delete(holder)
        session.flush()
    return None


def release_dossier_claim(session: Session, dossier_id: str) -> None:
    """The dossier's workflow never started: its person and action are free again."""
    session.execute(delete(DossierClaim).where(DossierClaim.dossier_id == dossier_id))
