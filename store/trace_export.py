"""A trace export (SPEC §5): the exchanges asked for, each with its identity vector, and the
authorisation history of the users they name (SPEC §3), as XML valid against
``schemas/trace-export.xsd``; the audit report for the security officer as a PDF
(store/audit_report.py); a manifest of the files' SHA-256 and the log's
chain heads; the manifest's signature by the Region's key and the signing certificate.

Envelopes are exported exactly as sent and received (not masked): the export is evidence
for the CDC or an authority; only authorised staff request and download it, and both are
journaled.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from sqlalchemy import or_, select

from agora.pki import SigningIdentity
from contracts.trace_export import TraceExportFiles, TraceExportRequest
from settings import Settings
from store import audit_report
from store.authorisations import history
from store.trace_models import ChainHead, TraceRecord, VectorRecord
from store.traces import TraceStore, now_iso, trusted_ca

NS = "urn:agora-flow:traces:export:1"
XSD_PATH = Path(__file__).parent / "schemas" / "trace-export.xsd"
EXCHANGES_FILE, MANIFEST_FILE, SIGNATURE_FILE, CERTIFICATE_FILE, REPORT_FILE = (
    "traces.xml", "manifest.json", "manifest.sig", "region.cert.pem", "rapport-audit.pdf")


@cache
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _el(parent: etree._Element, name: str, text: object = None, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS}}}{name}", **attributes)
    if text is not None:
        element.text = str(text)
    return element


def _write_private(path: Path, data: bytes) -> None:
    """Readable by its owner only (the export holds envelopes with NIRs), also when a retry
    rewrites a file an earlier attempt created."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)


def export_folder(settings: Settings, export_id: str) -> Path:
    return settings.data_dir / "trace-exports" / export_id


def produce(store: TraceStore, identity: SigningIdentity, settings: Settings,
            request: TraceExportRequest) -> TraceExportFiles:
    folder = export_folder(settings, request.export_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = etree.Element(f"{{{NS}}}ExportTraces", nsmap={"te": NS}, exportId=request.export_id,
                         reference=request.reference, requester=request.requester,
                         partner=settings.partner_id, producedAt=now_iso())
    criteria = _el(root, "Criteria")
    for dossier in request.dossier_ids:
        _el(criteria, "Dossier", dossier)
    for vector in request.vector_ids:
        _el(criteria, "Vector", vector)
    if request.since:
        _el(criteria, "Since", request.since)
    if request.until:
        _el(criteria, "Until", request.until)

    with store.reading() as session:
        query = select(TraceRecord).order_by(TraceRecord.seq)
        chosen = []
        if request.dossier_ids:
            chosen.append(TraceRecord.dossier_id.in_(request.dossier_ids))
        if request.vector_ids:
            chosen.append(TraceRecord.vector_id.in_(request.vector_ids))
        if chosen:
            query = query.where(or_(*chosen))
        if request.since:
            query = query.where(TraceRecord.at >= request.since)
        if request.until:
            query = query.where(TraceRecord.at <= request.until)
        rows = list(session.scalars(query))
        vector_ids = sorted({r.vector_id for r in rows if r.vector_id} | set(request.vector_ids))
        vectors = list(session.scalars(select(VectorRecord).where(
            VectorRecord.assertion_id.in_(vector_ids)).order_by(VectorRecord.seq)))
        # Who held which PAGM when (SPEC §3): the history of every user named in the export.
        users = sorted({r.acting_user for r in rows if r.acting_user}
                       | {v.subject for v in vectors})
        changes = history(session, users)
        heads = {h.chain: {"seq": h.seq, "digest": h.digest}
                 for h in session.scalars(select(ChainHead))}

    for row in rows:
        exchange = _el(root, "Exchange", seq=str(row.seq), digest=row.digest,
                       prevDigest=row.prev_digest)
        _el(exchange, "Operation", row.operation)
        _el(exchange, "SentAt", row.at)
        _el(exchange, "ReceivedAt", row.received_at)
        for name, value in (("Dossier", row.dossier_id), ("Market", row.market_id),
                            ("ActingUser", row.acting_user), ("RequestId", row.request_id),
                            ("CorrelationId", row.correlation_id), ("VectorId", row.vector_id)):
            if value:
                _el(exchange, name, value)
        _el(exchange, "Attempt", row.attempt)
        if row.http_status is not None:
            _el(exchange, "HttpStatus", row.http_status)
        _el(exchange, "Outcome", row.outcome)
        if row.fault_code:
            _el(exchange, "FaultCode", row.fault_code)
        content = store.unseal(row.sealed)
        if content is not None:
            _el(exchange, "Request", content["request"])
            _el(exchange, "Response", content["response"])
    for vector in vectors:
        element = _el(root, "IdentityVector", id=vector.assertion_id, subject=vector.subject,
                      issuedAt=vector.at, notBefore=vector.not_before,
                      notOnOrAfter=vector.not_on_or_after, seq=str(vector.seq),
                      digest=vector.digest)
        for profile in vector.pagm.splitlines():
            _el(element, "Pagm", profile)
        content = store.unseal(vector.sealed)
        if content is not None:
            _el(element, "Assertion", base64.b64encode(content["assertion"].encode()).decode())
    for change in changes:
        element = _el(root, "AuthorisationChange", user=change.username, at=change.at,
                      actor=change.actor, source=change.source, action=change.action,
                      role=change.role, seq=str(change.seq), digest=change.digest)
        for profile in change.profiles_before.splitlines():
            _el(element, "ProfileBefore", profile)
        for profile in change.profiles_after.splitlines():
            _el(element, "ProfileAfter", profile)
        _el(element, "Reason", change.reason)
    schema().assertValid(root)

    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    _write_private(folder / EXCHANGES_FILE, xml)
    _write_private(folder / CERTIFICATE_FILE, identity.cert_pem)
    with store.reading() as session:
        _write_private(folder / REPORT_FILE, audit_report.build(
            session, request, partner=settings.partner_id, produced_at=root.get("producedAt"),
            rows=rows, vectors=vectors, changes=changes,
            xml_digest=hashlib.sha256(xml).hexdigest(), trusted_ca=trusted_ca(settings)))
    digests = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
               for name in (EXCHANGES_FILE, CERTIFICATE_FILE, REPORT_FILE)}
    manifest = json.dumps({"export_id": request.export_id, "reference": request.reference,
                           "requester": request.requester, "files": digests,
                           "chain_heads": heads, "schema": "urn:agora-flow:traces:export:1"},
                          indent=2, sort_keys=True).encode()
    _write_private(folder / MANIFEST_FILE, manifest)
    signature = identity.private_key.sign(manifest, padding.PKCS1v15(), hashes.SHA256())
    _write_private(folder / SIGNATURE_FILE, base64.b64encode(signature))
    digests[MANIFEST_FILE] = hashlib.sha256(manifest).hexdigest()
    store.journal(request.recorded_by, "worker", "export.produce",
                  {"export_id": request.export_id, "reference": request.reference},
                  [r.seq for r in rows] + [f"vi:{v.assertion_id}" for v in vectors]
                  + [f"hab:{c.seq}" for c in changes])
    return TraceExportFiles(folder=str(folder), digests=digests, exchanges=len(rows),
                            vectors=len(vectors))
