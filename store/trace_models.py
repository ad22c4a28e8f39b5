"""Tables of the technical trace log (SPEC §5): AGORA exchanges, the identity-vector archive,
the audit journal of who consulted them, signed checkpoints and legal holds.

The three logs are hash chains: each row has a position ``seq`` (1, 2, 3… per log), the
digest of its own content, the digest of the row before it and its own chain digest
``sha256(prev | seq | at | content_digest)``. Rows are only ever appended; the purge
(store/traces.py) may blank the content of an expired row (``redacted_at``) — its digests
stay, so the chain stays whole — and then delete a blanked prefix, leaving a signed
checkpoint that anchors the chain's new start.

Personal data (envelopes, fault messages, the signed assertion) is sealed with the data
key (store/crypto.py); the content digest covers the sealed bytes, so the chain can be
verified without the key and survives a move to another database unchanged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, UtcDateTime, utcnow

DIGEST = String(64)


class _Chained:
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO instant, UTC
    content_digest: Mapped[str] = mapped_column(DIGEST)
    prev_digest: Mapped[str] = mapped_column(DIGEST)
    digest: Mapped[str] = mapped_column(DIGEST)
    redacted_at: Mapped[str | None] = mapped_column(String(40))


class TraceRecord(_Chained, Base):
    """One AGORA exchange (one attempt)."""

    __tablename__ = "agora_traces"
    __table_args__ = (
        Index("ix_agora_traces_dossier_at", "dossier_id", "at"),
        Index("ix_agora_traces_market_at", "market_id", "at"),
        Index("ix_agora_traces_at", "at"),
    )
    received_at: Mapped[str] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(64))
    dossier_id: Mapped[str | None] = mapped_column(String(64))
    market_id: Mapped[str | None] = mapped_column(String(64))
    acting_user: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(200))
    vector_id: Mapped[str | None] = mapped_column(String(80), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    fault_code: Mapped[str] = mapped_column(String(64))
    # The API request that led to the call (X-Request-Id), to join logs and traces.
    correlation_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # JSON {request, response (base64), message}, sealed with the data key.
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class VectorRecord(_Chained, Base):
    """One signed identity vector, archived once."""

    __tablename__ = "identity_vectors"
    assertion_id: Mapped[str] = mapped_column(String(80), unique=True)
    subject: Mapped[str] = mapped_column(String(64))
    pagm: Mapped[str] = mapped_column(Text)  # profiles, one per line
    not_before: Mapped[str] = mapped_column(String(40))
    not_on_or_after: Mapped[str] = mapped_column(String(40))
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # the signed assertion


class AuditRecord(_Chained, Base):
    """One consultation of the traces: who, from where, what, which records."""

    __tablename__ = "audit_journal"
    username: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(64))  # client address, or "cli"
    action: Mapped[str] = mapped_column(String(40))
    query: Mapped[str] = mapped_column(Text)  # JSON
    records: Mapped[str] = mapped_column(Text)  # JSON list of record ids


class ChainHead(Base):
    """The last position and digest of each log: appends serialise on this row."""

    __tablename__ = "trace_chain_heads"
    chain: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(DIGEST)


class Checkpoint(Base):
    """A log's head (or, after a purge, its new start) signed with the Region's key."""

    __tablename__ = "trace_checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "daily" or "purge"
    at: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)  # head position (0: empty log)
    digest: Mapped[str] = mapped_column(DIGEST)
    first_seq: Mapped[int] = mapped_column(Integer)  # first row kept (1 until a purge)
    anchor_digest: Mapped[str] = mapped_column(DIGEST)  # prev_digest of that row
    summary: Mapped[str] = mapped_column(Text)  # JSON: what a purge removed
    signature: Mapped[str] = mapped_column(Text)  # base64, over the canonical payload
    certificate: Mapped[str] = mapped_column(Text)  # PEM of the signing leaf


class LegalHold(Base):
    """Traces an incident investigation needs kept past their retention."""

    __tablename__ = "trace_legal_holds"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64))  # the incident's ticket
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[str] = mapped_column(String(40))
    ends_at: Mapped[str] = mapped_column(String(40))
    dossier_ids: Mapped[str] = mapped_column(Text)  # JSON list
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(64))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    release_reason: Mapped[str | None] = mapped_column(Text)


class AuthorisationRecord(_Chained, Base):
    """One grant, change or revocation of a user's role or PAGM profiles (SPEC §3): who
    (``actor``, from ``source``), when, why, and the role's profiles before and after."""

    __tablename__ = "authorisation_history"
    username: Mapped[str] = mapped_column(String(64), index=True)  # whose authorisations
    actor: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))  # client address, or "cli"
    action: Mapped[str] = mapped_column(String(16))  # role_granted, role_revoked, pagm_changed
    role: Mapped[str] = mapped_column(String(32))
    profiles_before: Mapped[str] = mapped_column(Text)  # one per line
    profiles_after: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
