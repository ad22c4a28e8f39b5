"""The audit report of a trace export, for the Region's security officer (Convention de
service §6.2): what was asked and produced, what the exchanges show (outcomes, faults,
retries, period), the identity vectors and the authorisations of the users behind them,
who consulted these traces, the integrity of the exported records and of each log's last
signed checkpoint, and the legal holds in force. A PDF (store/pdf.py), without any
personal data of trainees: envelopes stay in ``traces.xml``.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.trace_export import TraceExportRequest
from store.pdf import Line, document
from store.trace_models import (
    AuditRecord,
    AuthorisationRecord,
    Checkpoint,
    LegalHold,
    TraceRecord,
    VectorRecord,
)
from store.traces import (
    CHAIN_LABELS,
    TRACES,
    chain_digest,
    content_digest,
    signature_valid,
)

ACTIONS_FR = {"role_granted": "rôle attribué", "role_revoked": "rôle révoqué",
              "pagm_changed": "PAGM modifié"}
OUTCOMES_FR = {"acknowledged": "acquittés", "fault": "refusés (faute SOAP)",
               "unavailable": "sans réponse (indisponible)", "error": "réponse illisible"}
# The journal is long-lived: the report names at most this many consultations.
MAX_CONSULTATIONS = 500


def consultations(session: Session, seqs: set[int]) -> list[AuditRecord]:
    """Journal entries that showed at least one of these exchanges, oldest first."""
    found = []
    for entry in session.scalars(select(AuditRecord).where(
            AuditRecord.action.in_(("traces.search", "traces.read"))).order_by(AuditRecord.seq)
            .execution_options(yield_per=2000)):
        if seqs.intersection(r for r in json.loads(entry.records) if isinstance(r, int)):
            found.append(entry)
    return found[-MAX_CONSULTATIONS:]


def _intact(row: TraceRecord) -> bool:
    if row.redacted_at is None and content_digest(TRACES, row) != row.content_digest:
        return False
    return chain_digest(row.prev_digest, row.seq, row.at, row.content_digest) == row.digest


def build(session: Session, request: TraceExportRequest, *, partner: str, produced_at: str,
          rows: list[TraceRecord], vectors: list[VectorRecord],
          changes: list[AuthorisationRecord], xml_digest: str,
          trusted_ca: x509.Certificate | None) -> bytes:
    lines: list[Line] = [
        Line(f"Rapport d'audit - export de traces {request.reference}", heading=True),
        Line(f"Partenaire : {partner}. Produit le {produced_at} (UTC)."),
        Line(f"Demandeur : {request.requester}. Référence : {request.reference}. "
             f"Demande enregistrée par {request.recorded_by} le {request.requested_at}."),
        Line("Critères : " + "; ".join(filter(None, (
            f"dossiers {', '.join(request.dossier_ids)}" if request.dossier_ids else "",
            f"vecteurs {', '.join(request.vector_ids)}" if request.vector_ids else "",
            f"depuis {request.since}" if request.since else "",
            f"jusqu'au {request.until}" if request.until else "")))),
        Line("1. Échanges exportés", heading=True),
    ]
    lines += _exchanges(rows)
    lines.append(Line("2. Vecteurs d'identification", heading=True))
    lines.append(Line(f"{len(vectors)} vecteur(s) signé(s) par la Région."))
    for vector in vectors:
        lines.append(Line(f"{vector.assertion_id} : {vector.subject}, émis le {vector.at}, "
                          f"PAGM {', '.join(vector.pagm.splitlines()) or 'aucun'}"))
    lines.append(Line("3. Habilitations des utilisateurs concernés", heading=True))
    for change in changes:
        lines.append(Line(
            f"{change.at} - {change.username} : {ACTIONS_FR.get(change.action, change.action)} "
            f"{change.role} ({', '.join(change.profiles_before.splitlines()) or '-'} -> "
            f"{', '.join(change.profiles_after.splitlines()) or '-'}) par {change.actor}, "
            f"motif : {change.reason}"))
    if not changes:
        lines.append(Line("Aucun changement d'habilitation enregistré pour ces utilisateurs."))
    seen = consultations(session, {r.seq for r in rows})
    lines.append(Line("4. Consultations de ces traces (journal d'audit)", heading=True))
    lines.append(Line(f"{len(seen)} consultation(s) ayant montré au moins un de ces échanges."))
    for entry in seen:
        lines.append(Line(f"{entry.at} - {entry.username} depuis {entry.source or '-'} : "
                          f"{entry.action} (n° {entry.seq})"))
    lines.append(Line("5. Intégrité", heading=True))
    broken = [r.seq for r in rows if not _intact(r)]
    lines.append(Line(f"Empreintes des {len(rows)} échange(s) exporté(s) recalculées : "
                      + (f"{len(broken)} NON CONFORME(S) : {broken[:20]}" if broken else "conformes.")))
    latest: dict[str, Checkpoint] = {}
    for cp in session.scalars(select(Checkpoint).order_by(Checkpoint.id)):
        latest[cp.chain] = cp
    for chain, cp in sorted(latest.items()):
        lines.append(Line(
            f"{CHAIN_LABELS.get(chain, chain)} : dernier point de contrôle signé n° {cp.id} "
            f"({cp.kind}) le {cp.at}, position {cp.seq}, signature "
            f"{'valide' if signature_valid(cp, trusted_ca) else 'INVALIDE'}."))
    lines.append(Line("Vérification complète des journaux : agora-flow traces verify."))
    lines.append(Line(f"SHA-256 de traces.xml : {xml_digest}. Le manifeste (manifest.json) "
                      "est signé par la clé de la Région (manifest.sig, region.cert.pem)."))
    holds = session.scalars(select(LegalHold).where(LegalHold.released_at.is_(None))
                            .order_by(LegalHold.id)).all()
    lines.append(Line("6. Gels en cours (conservation au-delà d'un an)", heading=True))
    for hold in holds:
        lines.append(Line(f"Gel n° {hold.id} ({hold.reference}) du {hold.starts_at} au "
                          f"{hold.ends_at}, posé par {hold.placed_by} : {hold.reason}"))
    if not holds:
        lines.append(Line("Aucun gel en cours."))
    return document(f"Rapport d'audit {request.reference}", lines)


def _exchanges(rows: list[TraceRecord]) -> list[Line]:
    if not rows:
        return [Line("Aucun échange ne répond aux critères.")]
    outcomes: Counter[str] = Counter(r.outcome for r in rows)
    operations: Counter[str] = Counter(r.operation for r in rows)
    faults: Counter[str] = Counter(r.fault_code for r in rows if r.fault_code)
    users: Counter[Any] = Counter(r.acting_user or "application" for r in rows)
    return [
        Line(f"{len(rows)} échange(s) du {min(r.at for r in rows)} au {max(r.at for r in rows)}."),
        Line("Résultats : " + ", ".join(f"{n} {OUTCOMES_FR.get(o, o)}"
                                         for o, n in sorted(outcomes.items()))),
        Line("Opérations : " + ", ".join(f"{o} ({n})" for o, n in sorted(operations.items()))),
        Line("Codes de faute : " + (", ".join(f"{c} ({n})" for c, n in sorted(faults.items()))
                                    or "aucun")),
        Line(f"Nouvelles tentatives : {sum(1 for r in rows if r.attempt > 1)}. "
             f"Purgés (contenu effacé, empreintes conservées) : "
             f"{sum(1 for r in rows if r.redacted_at)}."),
        Line("Utilisateurs : " + ", ".join(f"{u} ({n})" for u, n in sorted(users.items()))),
    ]
