"""What business users read: SQLAlchemy 2 models of the projections, users and audit.

The dossier workflow stays the source of truth for the lifecycle; these rows are
its projection (written idempotently by the RecordDossier activity and the API)
plus what only the Region's side knows: users, roles, tokens, the audit journal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES: dict[str, str] = {
    "dossier_manager": "Gestionnaire de dossiers",
    "market_manager": "Gestionnaire de marchés",
    "operator": "Opérateur",
    "auditor": "Auditeur (officier de sécurité)",
    "administrator": "Administrateur",
    # The data-protection officer's team: data-subject requests (SPEC §8).
    "dpo": "Délégué à la protection des données",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    # Named constraints: Alembic can then alter them on every backend.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


user_roles = Table(
    "user_roles",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_code", ForeignKey("roles.code"), primary_key=True),
)


class Role(Base):
    __tablename__ = "roles"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    @property
    def role_codes(self) -> set[str]:
        return {role.code for role in self.roles}


class AuthToken(Base):
    """A bearer token or a UI session; only its SHA-256 is stored."""

    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "api" or "session"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    user: Mapped[User] = relationship(lazy="joined")


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    nir_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nir_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # The identity (names, birth date, sex, e-mail, phone) sealed under the person's own data
    # key ``key_id`` (store/person_fields.py): destroying that key erases every copy of it.
    key_id: Mapped[str | None] = mapped_column(String(40))
    identity_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Keyed hashes only: of each word of the names (the list's name search), and of the birth
    # name with the birth date (finding the person of a data-subject request).
    name_terms: Mapped[str] = mapped_column(Text, default=" ")
    identity_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Set once the person's data were crypto-erased (a data-subject request or retention).
    erased_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrainingOrganisation(Base):
    __tablename__ = "training_organisations"
    siret: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))


class Dossier(Base):
    __tablename__ = "dossiers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the Region's dossier id
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    siret: Mapped[str] = mapped_column(ForeignKey("training_organisations.siret"), index=True)
    # The training action (SPEC §2 group 2).
    action_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    duration_hours: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[str] = mapped_column(String(10))
    end_date: Mapped[str] = mapped_column(String(10))
    certification_code: Mapped[str | None] = mapped_column(String(32))
    purchase_mode: Mapped[str] = mapped_column(String(32))
    price: Mapped[str | None] = mapped_column(String(32))
    # The action's funders: [{"code": LHÉO financer code, "share": "60.00"}] (not personal data).
    funders: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    # Lifecycle projection (the workflow is the source of truth).
    state: Mapped[str] = mapped_column(String(16), index=True, default="created")
    agora_dossier_id: Mapped[str | None] = mapped_column(String(64))
    entry_date: Mapped[str | None] = mapped_column(String(10), index=True)
    registration_fault: Mapped[str | None] = mapped_column(Text)
    # The situation at entry and the exit's reason code as declared to AGORA (codes of
    # state_models/dossier_data.py), so that the page shows them without asking the workflow.
    entry_situation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    exit_reason_code: Mapped[str | None] = mapped_column(String(32))
    # Number of history entries the projection reflects: an older view never overwrites a newer one.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    manager: Mapped[str | None] = mapped_column(String(64))
    # The market session the dossier belongs to (store/market_models.py), when bought by a market.
    market_id: Mapped[str | None] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    person: Mapped[Person] = relationship(lazy="joined")
    organisation: Mapped[TrainingOrganisation] = relationship(lazy="joined")
    timeline: Mapped[list[TimelineEntry]] = relationship(
        order_by="TimelineEntry.seq", lazy="selectin", back_populates="dossier"
    )
    corrections: Mapped[list[DossierCorrection]] = relationship(
        order_by="DossierCorrection.id", lazy="selectin")


class TimelineEntry(Base):
    """One workflow HistoryEntry: a business event and AGORA's answer to it."""

    __tablename__ = "timeline"
    __table_args__ = (UniqueConstraint("dossier_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[str] = mapped_column(String(40))  # ISO instant, from workflow time
    acting_user: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    state_after: Mapped[str] = mapped_column(String(16))
    ack_id: Mapped[str] = mapped_column(String(64), default="")
    fault_code: Mapped[str] = mapped_column(String(64), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    dossier: Mapped[Dossier] = relationship(back_populates="timeline")


class DossierCorrection(Base):
    """One value a re-engineering AGORA acknowledged changed: before and after, shown on the
    dossier's page next to its timeline entry (``seq``)."""

    __tablename__ = "dossier_corrections"
    __table_args__ = (UniqueConstraint("dossier_id", "seq", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossiers.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class NirUnmasking(Base):
    """Audit journal (SPEC §5, §8): who saw which NIR in clear, and when."""

    __tablename__ = "nir_unmaskings"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    username: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    dossier_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))  # "api" or "ui"


class ProcessingRestriction(Base):
    """A restriction of processing in force (GDPR art. 18, a data-subject request), by the
    keyed hash of the person's NIR: a dossier of theirs created afterwards is refused too."""

    __tablename__ = "processing_restrictions"
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nir_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
