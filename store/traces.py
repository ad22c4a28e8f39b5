"""The technical trace log (SPEC §5): recording, the hash chains, signed checkpoints,
verification, retention with legal holds, and the audit journal of consultations.

:class:`TraceStore` is the AGORA client's trace sink (agora/tracing.py): it writes each
exchange and each signed vector in the calling activity thread, and raises if it cannot,
so the activity fails and is retried rather than an exchange going untraced.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from sqlalchemy import and_, case, delete, func, not_, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from agora.pki import SigningIdentity, load_signing_identity, region_pki
from agora.tracing import ERROR, UNAVAILABLE, Exchange, VectorFacts
from contracts.dossier import workflow_id_for as dossier_workflow_id
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased, PersonKeys, open_sealed, seal
from settings import Settings
from state_models.validators import mask_nir, mask_nirs
from store.crypto import DataCipher, cipher_for
from store.db import Database, sqlite_writer
from store.trace_models import (
    AuditRecord,
    AuthorisationRecord,
    ChainHead,
    Checkpoint,
    LegalHold,
    TraceRecord,
    VectorRecord,
)

GENESIS = "0" * 64
TRACES, VECTORS, AUDIT = "traces", "vectors", "audit"
AUTHORISATIONS = "authorisations"  # each user's roles and PAGM granted, changed, revoked
MODELS: dict[str, type[TraceRecord | VectorRecord | AuditRecord | AuthorisationRecord]] = {
    TRACES: TraceRecord, VECTORS: VectorRecord, AUDIT: AuditRecord,
    AUTHORISATIONS: AuthorisationRecord}
CHAIN_LABELS = {TRACES: "journal des échanges", VECTORS: "archive des vecteurs d'identification",
                AUDIT: "journal d'audit", AUTHORISATIONS: "historique des habilitations"}
# The logs whose personal data is sealed (column ``sealed``); the others are clear text.
SEALED_CHAINS = frozenset({TRACES, VECTORS})
# The fields each log's content digest covers (the sealed bytes through their SHA-256).
CONTENT_FIELDS = {
    TRACES: ("at", "received_at", "operation", "dossier_id", "market_id", "acting_user",
             "request_id", "vector_id", "attempt", "http_status", "outcome", "fault_code"),
    VECTORS: ("at", "assertion_id", "subject", "pagm", "not_before", "not_on_or_after"),
    AUDIT: ("at", "username", "source", "action", "query", "records"),
    AUTHORISATIONS: ("at", "username", "actor", "source", "action", "role", "profiles_before",
                     "profiles_after", "reason"),
}
# Fields added to a log after rows were written: covered by the digest only when set, so
# the digests of the rows written before stay what they were.
OPTIONAL_CONTENT_FIELDS = {TRACES: ("correlation_id",)}
_APPEND_RETRIES = 5
# First byte of a content sealed under a person's data key (followed by its key id and "|");
# the data key's own ciphertexts start with 0x01 (store/crypto.py).
_PERSON_SEALED = b"\x02"
# The same, its content compressed before sealing (written until 2026-12-06; still read).
_PERSON_SEALED_COMPRESSED = b"\x03"
# The envelopes framed as bytes, then compressed and sealed (what is written since).
_PERSON_SEALED_FRAMED = b"\x04"
_FRAME = struct.Struct(">II")  # the request's and the response's lengths
# Who placed a hold an incident placed itself (followed by its ticket), and the end of the
# window of an incident still open.
INCIDENT_HOLDER = "incident:"
OPEN_END = "9999-12-31T23:59:59.999999+00:00"

# Transport failures (AGORA unreachable or answering badly), not business refusals.
_FAILED_OUTCOMES = (UNAVAILABLE, ERROR)


# The exchanges the current thread's AGORA call holds (TraceStore.holding), if any.
_held_exchanges: ContextVar[list[Exchange] | None] = ContextVar("held_exchanges", default=None)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def instant(text: str) -> str:
    """An ISO instant as the log writes them (UTC, microseconds), so text order is time order.
    A date alone is its midnight UTC; an instant without offset is refused."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        if len(text) > 10:
            raise ValueError(f"instant sans fuseau horaire : {text}")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_digest(chain: str, row: Any) -> str:
    content = {name: getattr(row, name) for name in CONTENT_FIELDS[chain]}
    for name in OPTIONAL_CONTENT_FIELDS.get(chain, ()):
        if getattr(row, name) is not None:
            content[name] = getattr(row, name)
    if chain in SEALED_CHAINS:
        sealed = row.sealed
        content["sealed"] = hashlib.sha256(sealed).hexdigest() if sealed is not None else None
    return hashlib.sha256(_canonical(content)).hexdigest()


def chain_digest(prev: str, seq: int, at: str, content: str) -> str:
    return hashlib.sha256(f"{prev}|{seq}|{at}|{content}".encode()).hexdigest()


# --- signatures ----------------------------------------------------------------------


def region_identity(settings: Settings) -> SigningIdentity:
    """The Region's signing key (the one that signs identity vectors, agora/pki.py)."""
    return load_signing_identity(region_pki(settings))


def checkpoint_payload(cp: Checkpoint) -> bytes:
    return _canonical({"chain": cp.chain, "kind": cp.kind, "at": cp.at, "seq": cp.seq,
                       "digest": cp.digest, "first_seq": cp.first_seq,
                       "anchor_digest": cp.anchor_digest, "summary": cp.summary})


def _sign(identity: SigningIdentity, payload: bytes) -> str:
    signature = identity.private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def signature_valid(cp: Checkpoint, trusted_ca: x509.Certificate | None) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cp.certificate.encode())
        if trusted_ca is not None:
            cert.verify_directly_issued_by(trusted_ca)
        cert.public_key().verify(  # type: ignore[union-attr, call-arg]
            base64.b64decode(cp.signature), checkpoint_payload(cp), padding.PKCS1v15(),
            hashes.SHA256())
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- appending -----------------------------------------------------------------------


def append(session: Session, chain: str, row: Any) -> Any:
    """Chain ``row`` after the log's head; the head row serialises concurrent writers."""
    head = session.get(ChainHead, chain, with_for_update=True)
    if head is None:
        head = ChainHead(chain=chain, seq=0, digest=GENESIS)
        session.add(head)
    row.seq = head.seq + 1
    row.prev_digest = head.digest
    row.content_digest = content_digest(chain, row)
    row.digest = chain_digest(row.prev_digest, row.seq, row.at, row.content_digest)
    session.add(row)
    head.seq, head.digest = row.seq, row.digest
    return row


class TraceStore:
    """Thread-safe; one per process and database (:func:`trace_store_for`)."""

    def __init__(self, settings: Settings, database: Database | None = None) -> None:
        self._settings = settings
        self.cipher: DataCipher = cipher_for(settings)
        self._database = database
        self._open = threading.Lock()
        self._writer = threading.Lock()  # one appender per process; the head row across processes
        self._person_keys: PersonKeys | None = None

    @property
    def database(self) -> Database:
        with self._open:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
            return self._database

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One appender per process (the head row serialises processes); on SQLite, the
        lock every writer of the file shares (``store.db.sqlite_writer``)."""
        with self._writer, sqlite_writer(self.database.engine) or nullcontext():
            yield

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.database.sessions() as session:
            yield session

    def call_counts(self, year: int) -> dict[str, tuple[int, int]]:
        """Per month ("YYYY-MM") of ``year``: the AGORA calls that failed in transport
        (unavailable or error) and the attempts that were retries. Counts only: no trace's
        content is read, so this is not a consultation."""
        month = func.substr(TraceRecord.at, 1, 7)
        failed = func.sum(case((TraceRecord.outcome.in_(_FAILED_OUTCOMES), 1), else_=0))
        retried = func.sum(case((TraceRecord.attempt > 1, 1), else_=0))
        with self.reading() as session:
            rows = session.execute(
                select(month, failed, retried)
                .where(TraceRecord.at >= f"{year:04d}-01-01", TraceRecord.at < f"{year + 1:04d}-01-01")
                .group_by(month)).all()
        return {str(m): (int(f or 0), int(r or 0)) for m, f, r in rows}

    def _write(self, build: Any) -> Any:
        """Run ``build(session)`` in its own transaction, retrying a lost race for the head."""
        for attempt in range(_APPEND_RETRIES):
            try:
                with self._writing(), self.database.sessions.begin() as session:
                    return build(session)
            except (IntegrityError, OperationalError):
                if attempt == _APPEND_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @property
    def person_keys(self) -> PersonKeys:
        """Opened on first use: verifying, moving or purging the log needs no key."""
        with self._open:
            if self._person_keys is None:
                self._person_keys = open_keys(self._settings)
            return self._person_keys

    def _seal(self, value: dict[str, Any]) -> bytes:
        """Content of no dossier (a market's exchange, a vector) under the data key."""
        return self.cipher.encrypt(json.dumps(value))

    def _seal_exchange(self, exchange: Exchange) -> bytes:
        """A dossier's exchange under its person's data key (the key its workflow is sealed
        under), so erasing that key erases these envelopes too; any other under the data key.
        A dossier's envelopes are framed as bytes (their lengths, then each) and compressed
        before sealing: 2.6 KB for a 5.5 KB exchange, where compressing their base64 in JSON
        kept 4 KB — writing these bytes is most of what tracing costs."""
        request, response = exchange.request_envelope, exchange.response_envelope
        if exchange.context.dossier_id is None:
            return self._seal({"request": base64.b64encode(request).decode(),
                               "response": base64.b64encode(response).decode(),
                               "message": exchange.message})
        keys = self.person_keys
        kid = keys.for_workflow(dossier_workflow_id(exchange.context.dossier_id))
        header = _PERSON_SEALED_FRAMED + kid.encode()
        framed = (_FRAME.pack(len(request), len(response)) + request + response
                  + exchange.message.encode())
        return header + b"|" + seal(keys.key(kid), zlib.compress(framed), header)

    def unseal(self, sealed: bytes | None) -> dict[str, Any] | None:
        """The content; None once purged, or once its person's key was erased."""
        if sealed is None:
            return None
        kind = sealed[:1]
        if kind not in (_PERSON_SEALED, _PERSON_SEALED_COMPRESSED, _PERSON_SEALED_FRAMED):
            return json.loads(self.cipher.decrypt(sealed))
        kid, _, box = sealed[1:].partition(b"|")
        try:
            key = self.person_keys.key(kid.decode())
        except PersonKeyErased:
            return None
        plaintext = open_sealed(key, box, kind + kid)
        if kind == _PERSON_SEALED:
            return json.loads(plaintext)
        plaintext = zlib.decompress(plaintext)
        if kind == _PERSON_SEALED_COMPRESSED:
            return json.loads(plaintext)
        request_length, response_length = _FRAME.unpack_from(plaintext)
        start = _FRAME.size
        middle = start + request_length
        end = middle + response_length
        return {"request": base64.b64encode(plaintext[start:middle]).decode(),
                "response": base64.b64encode(plaintext[middle:end]).decode(),
                "message": plaintext[end:].decode()}

    # The AGORA client's sink (agora/tracing.TraceSink).
    def record_exchange(self, exchange: Exchange) -> None:
        """Written now, or held by the calling thread's :meth:`holding` block."""
        held = _held_exchanges.get()
        if held is not None:
            held.append(exchange)
            return
        self.write_exchanges([exchange])

    @contextmanager
    def holding(self) -> Iterator[list[Exchange]]:
        """Exchanges recorded in this block are held in the list it gives, for the caller to
        write with :meth:`write_exchanges` (and the call's outcome) before it returns."""
        held: list[Exchange] = []
        token = _held_exchanges.set(held)
        try:
            yield held
        finally:
            _held_exchanges.reset(token)

    def write_exchanges(self, exchanges: list[Exchange],
                        also: Callable[[Session], object] | None = None) -> None:
        """Append ``exchanges`` to the log, in one transaction with ``also`` (the call's
        projected outcome): one commit per AGORA call instead of two. Raises if not written."""
        rows = [(exchange, self._seal_exchange(exchange)) for exchange in exchanges]

        def build(session: Session) -> None:
            if also is not None:
                also(session)
            for exchange, sealed in rows:
                context = exchange.context
                append(session, TRACES, TraceRecord(
                    at=exchange.sent_at, received_at=exchange.received_at,
                    operation=exchange.operation, dossier_id=context.dossier_id,
                    market_id=context.market_id, acting_user=exchange.acting_user,
                    request_id=exchange.request_id, vector_id=exchange.vector_id,
                    attempt=context.attempt, http_status=exchange.http_status,
                    outcome=exchange.outcome, fault_code=exchange.fault_code,
                    correlation_id=context.correlation_id, sealed=sealed, redacted_at=None))
        self._write(build)

    def archive_vector(self, facts: VectorFacts) -> None:
        def build(session: Session) -> None:
            known = session.scalar(select(VectorRecord.seq).where(
                VectorRecord.assertion_id == facts.assertion_id))
            if known is None:  # archived once
                append(session, VECTORS, VectorRecord(
                    at=facts.issued_at, assertion_id=facts.assertion_id, subject=facts.subject,
                    pagm="\n".join(facts.pagm), not_before=facts.not_before,
                    not_on_or_after=facts.not_on_or_after,
                    sealed=self._seal({"assertion": facts.assertion.decode()}), redacted_at=None))
        self._write(build)

    def journal(self, username: str, source: str, action: str, query: dict[str, Any],
                records: list[Any]) -> None:
        """One consultation in the audit journal (SPEC §5): written before the answer leaves."""
        self._write(lambda session: append(session, AUDIT, AuditRecord(
            at=now_iso(), username=username, source=source or "", action=action,
            query=json.dumps(query, sort_keys=True, ensure_ascii=False),
            records=json.dumps(records), redacted_at=None)))

    # --- checkpoints, retention, holds ---------------------------------------------------

    def checkpoint(self, identity: SigningIdentity, kind: str = "daily",
                   summaries: dict[str, dict[str, Any]] | None = None) -> list[Checkpoint]:
        """Sign each log's head (and where it starts now)."""
        def build(session: Session) -> list[Checkpoint]:
            made = []
            for chain, model in MODELS.items():
                head = session.get(ChainHead, chain, with_for_update=True)
                seq, digest = (head.seq, head.digest) if head else (0, GENESIS)
                first = session.scalar(select(func.min(model.seq)))
                anchor = (session.scalar(select(model.prev_digest).where(model.seq == first))
                          if first is not None else digest)
                cp = Checkpoint(chain=chain, kind=kind, at=now_iso(), seq=seq, digest=digest,
                                first_seq=first if first is not None else seq + 1,
                                anchor_digest=anchor,
                                summary=json.dumps((summaries or {}).get(chain, {}),
                                                   sort_keys=True),
                                certificate=identity.cert_pem.decode())
                cp.signature = _sign(identity, checkpoint_payload(cp))
                session.add(cp)
                made.append(cp)
            return made
        return self._write(build)

    def purge(self, identity: SigningIdentity, retention: timedelta,
              now: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Blank expired traces and vectors not under legal hold, delete the blanked start of
        each log, and sign a checkpoint saying what went and where each log now starts."""
        cutoff = ((now or datetime.now(UTC)) - retention).isoformat(timespec="microseconds")
        stamp = now_iso()

        def build(session: Session) -> dict[str, dict[str, Any]]:
            held = _held_condition(session)
            kept_vectors = select(TraceRecord.vector_id).where(
                TraceRecord.redacted_at.is_(None), TraceRecord.vector_id.is_not(None),
                or_(TraceRecord.at >= cutoff, held))
            conditions = {
                TRACES: and_(TraceRecord.at < cutoff, not_(held)),
                VECTORS: and_(VectorRecord.at < cutoff,
                              VectorRecord.assertion_id.not_in(kept_vectors)),
            }
            summaries: dict[str, dict[str, Any]] = {}
            for chain, condition in conditions.items():
                model = MODELS[chain]
                blanked = session.execute(
                    update(model).where(model.redacted_at.is_(None), condition)
                    .values(sealed=None, redacted_at=stamp)
                    .execution_options(synchronize_session=False)).rowcount
                kept = session.scalar(select(func.min(model.seq)).where(model.redacted_at.is_(None)))
                gone = select(model.seq, model.at).where(
                    *([model.seq < kept] if kept is not None else [])).subquery()
                span = session.execute(select(func.count(), func.min(gone.c.seq),
                                              func.max(gone.c.seq), func.min(gone.c.at),
                                              func.max(gone.c.at))).one()
                session.execute(delete(model).where(
                    *([model.seq < kept] if kept is not None else [])))
                summaries[chain] = {"cutoff": cutoff, "blanked": blanked, "deleted": span[0],
                                    "from_seq": span[1], "to_seq": span[2],
                                    "from_at": span[3], "to_at": span[4]}
            return summaries
        summaries = self._write(build)
        self.checkpoint(identity, kind="purge", summaries=summaries)
        return summaries

    def place_hold(self, reference: str, reason: str, starts_at: str, ends_at: str,
                   dossier_ids: list[str], placed_by: str) -> int:
        with self._writing(), self.database.sessions.begin() as session:
            hold = LegalHold(reference=reference, reason=reason, starts_at=instant(starts_at),
                             ends_at=instant(ends_at), dossier_ids=json.dumps(sorted(dossier_ids)),
                             placed_by=placed_by)
            session.add(hold)
            session.flush()
            return hold.id

    def hold_for_incident(self, ticket: str, starts_at: str, ends_at: str | None,
                          dossier_ids: list[str]) -> int:
        """The incident's own hold, placed once (``ends_at`` None: open while the incident
        is) and, on later calls, its window closed and its dossiers added — unless someone
        released it already. Journaled as placed by the incident."""
        placed_by = f"{INCIDENT_HOLDER}{ticket}"[:64]
        with self._writing(), self.database.sessions.begin() as session:
            hold = session.scalars(select(LegalHold).where(
                LegalHold.reference == ticket, LegalHold.placed_by == placed_by)).first()
            action = "hold.place"
            if hold is None:
                hold = LegalHold(reference=ticket, placed_by=placed_by,
                                 reason=f"incident {ticket} : traces de sa fenêtre et de ses dossiers",
                                 starts_at=instant(starts_at),
                                 ends_at=instant(ends_at) if ends_at else OPEN_END,
                                 dossier_ids=json.dumps(sorted(set(dossier_ids))))
                session.add(hold)
                session.flush()
            elif hold.released_at is None:
                action = "hold.window"
                if ends_at:
                    hold.ends_at = instant(ends_at)
                hold.dossier_ids = json.dumps(sorted(set(json.loads(hold.dossier_ids))
                                                     | set(dossier_ids)))
            else:
                return hold.id
            query = {"ticket": ticket, "since": hold.starts_at, "until": hold.ends_at,
                     "dossier_ids": json.loads(hold.dossier_ids)}
            append(session, AUDIT, AuditRecord(
                at=now_iso(), username=placed_by, source="worker", action=action,
                query=json.dumps(query, sort_keys=True, ensure_ascii=False),
                records=json.dumps([hold.id]), redacted_at=None))
            return hold.id

    def release_hold(self, hold_id: int, released_by: str, reason: str) -> None:
        if not reason.strip():
            raise ValueError("le motif de la levée est obligatoire")
        with self._writing(), self.database.sessions.begin() as session:
            hold = session.get(LegalHold, hold_id)
            if hold is None:
                raise LookupError(f"gel n° {hold_id} inconnu")
            if hold.released_at is not None:
                raise ValueError(f"gel n° {hold_id} déjà levé")
            hold.released_by, hold.release_reason = released_by, reason
            hold.released_at = datetime.now(UTC)

    # --- reading --------------------------------------------------------------------------

    def search(self, session: Session, *, dossier_id: str | None = None,
               market_id: str | None = None, operation: str | None = None,
               outcome: str | None = None, acting_user: str | None = None,
               since: str | None = None, until: str | None = None,
               limit: int = 100, offset: int = 0) -> list[TraceRecord]:
        query = select(TraceRecord)
        for column, value in ((TraceRecord.dossier_id, dossier_id),
                              (TraceRecord.market_id, market_id),
                              (TraceRecord.operation, operation), (TraceRecord.outcome, outcome),
                              (TraceRecord.acting_user, acting_user)):
            if value:
                query = query.where(column == value)
        if since:
            query = query.where(TraceRecord.at >= instant(since))
        if until:
            query = query.where(TraceRecord.at <= instant(until))
        return list(session.scalars(
            query.order_by(TraceRecord.at.desc(), TraceRecord.seq.desc())
            .limit(limit).offset(offset)))

    def envelopes(self, row: TraceRecord) -> dict[str, str]:
        """The envelopes pretty-printed with every NIR masked; empty once purged."""
        content = self.unseal(row.sealed)
        if content is None:
            return {"request": "", "response": "", "message": ""}
        return {"request": masked_xml(base64.b64decode(content["request"])),
                "response": masked_xml(base64.b64decode(content["response"])),
                "message": mask_nirs(content["message"])}


def _held_condition(session: Session) -> Any:
    holds = session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))).all()
    clauses = []
    for hold in holds:
        clauses.append(and_(TraceRecord.at >= hold.starts_at, TraceRecord.at <= hold.ends_at))
        dossiers = json.loads(hold.dossier_ids)
        if dossiers:
            clauses.append(TraceRecord.dossier_id.in_(dossiers))
    return or_(*clauses) if clauses else TraceRecord.seq != TraceRecord.seq  # false


def masked_xml(raw: bytes) -> str:
    if not raw:
        return ""
    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return mask_nirs(raw.decode("utf-8", "replace"))
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname.lower() == "nir":
            element.text = mask_nir(element.text or "")
    return mask_nirs(etree.tostring(root, pretty_print=True, encoding="unicode"))


# --- verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    chain: str
    seq: int
    kind: str  # modifié, supprimé, inséré, réordonné, signature
    message: str


def verify(session: Session, trusted_ca: x509.Certificate | None = None) -> list[Problem]:
    """The first problem of each log (empty: every chain and checkpoint holds)."""
    problems = []
    for chain in MODELS:
        problem = _verify_chain(session, chain, trusted_ca)
        if problem is not None:
            problems.append(problem)
    return problems


def _verify_chain(session: Session, chain: str, trusted_ca: x509.Certificate | None
                  ) -> Problem | None:
    model = MODELS[chain]
    label = CHAIN_LABELS[chain]

    def problem(seq: int, kind: str, text: str) -> Problem:
        return Problem(chain, seq, kind, f"{label} : {text}")

    checkpoints = session.scalars(select(Checkpoint).where(Checkpoint.chain == chain)
                                  .order_by(Checkpoint.id)).all()
    for cp in checkpoints:
        if not signature_valid(cp, trusted_ca):
            return problem(cp.seq, "signature",
                           f"le point de contrôle n° {cp.id} n'a pas une signature valide")
    purges = [cp for cp in checkpoints if cp.kind == "purge"]
    first_seq, expected_prev = ((purges[-1].first_seq, purges[-1].anchor_digest) if purges
                                else (1, GENESIS))
    cutoff = max((json.loads(cp.summary).get("cutoff", "") for cp in purges), default="")
    signed = {cp.seq: cp for cp in checkpoints if cp.seq >= first_seq}

    expected_seq = first_seq
    previous: Any = None
    for row in session.scalars(select(model).order_by(model.seq).execution_options(
            yield_per=5000)):
        if row.seq < first_seq:
            return problem(row.seq, "inséré",
                           f"l'enregistrement n° {row.seq} est antérieur au début signé du journal")
        if row.seq > expected_seq:
            return problem(expected_seq, "supprimé",
                           f"l'enregistrement n° {expected_seq} a été supprimé")
        if row.prev_digest != expected_prev:
            return _classify_break(session, chain, row, previous, problem)
        if row.redacted_at is None:
            if content_digest(chain, row) != row.content_digest:
                return problem(row.seq, "modifié", f"l'enregistrement n° {row.seq} a été modifié")
        elif not (row.at < cutoff and row.redacted_at >= row.at):
            return problem(row.seq, "modifié",
                           f"le contenu de l'enregistrement n° {row.seq} a été effacé hors purge")
        if chain_digest(row.prev_digest, row.seq, row.at, row.content_digest) != row.digest:
            return problem(row.seq, "modifié", f"l'enregistrement n° {row.seq} a été modifié")
        cp = signed.get(row.seq)
        if cp is not None and cp.digest != row.digest:
            return problem(row.seq, "modifié",
                           f"le journal jusqu'au n° {row.seq} ne correspond plus au point de "
                           f"contrôle signé n° {cp.id} (enregistrements réécrits)")
        expected_seq, expected_prev, previous = row.seq + 1, row.digest, row
    head = session.get(ChainHead, chain)
    last_signed = max((cp.seq for cp in checkpoints), default=0)
    end = max(head.seq if head else 0, last_signed)
    if end >= expected_seq:
        return problem(expected_seq, "supprimé", f"l'enregistrement n° {expected_seq} a été supprimé")
    if head is not None and head.seq == expected_seq - 1 and head.digest != expected_prev:
        return problem(head.seq, "modifié", f"l'enregistrement n° {head.seq} a été modifié")
    return None


def _classify_break(session: Session, chain: str, row: Any, previous: Any, problem: Any
                    ) -> Problem:
    """``row`` does not follow the row before it: say how the order was broken."""
    model = MODELS[chain]
    if previous is not None and row.prev_digest == previous.prev_digest:
        return problem(previous.seq, "inséré",
                       f"l'enregistrement n° {previous.seq} a été inséré")
    points_to = session.scalar(select(model.seq).where(model.digest == row.prev_digest))
    if points_to is not None and points_to >= row.seq:
        return problem(row.seq, "réordonné",
                       f"l'enregistrement n° {row.seq} a été déplacé (ordre modifié)")
    before = row.seq - 1
    return problem(before, "supprimé",
                   f"un enregistrement a été supprimé avant le n° {row.seq} "
                   f"(ou le n° {before} modifié)")


def trusted_ca(settings: Settings) -> x509.Certificate | None:
    """The CA the checkpoints' certificates must come from; None if not configured."""
    path = region_pki(settings).ca_cert
    return x509.load_pem_x509_certificate(path.read_bytes()) if path and path.exists() else None


_stores: dict[Settings, TraceStore] = {}
_stores_lock = threading.Lock()


def trace_store_for(settings: Settings) -> TraceStore:
    """The process's trace store for these settings (so the AGORA client is built once)."""
    with _stores_lock:
        store = _stores.get(settings)
        if store is None:
            store = _stores[settings] = TraceStore(settings)
        return store
