"""A trace request answered within 15 days: the export produced at once (XML valid against
its XSD, a manifest of digests signed with the Region's key), a reminder at day 10 and an
escalation at day 14 while undelivered; days shrunk to a tenth of a second."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from temporalio.client import Client

import worker as agora_worker
from agora.tracing import ACKNOWLEDGED, Exchange, ExchangeContext
from contracts.trace_export import DELIVERED, READY, TraceExportRequest
from settings import Settings
from store.authorisations import change_authorisations
from store.trace_export import produce, schema
from store.traces import TraceStore, region_identity
from store.users import create_user
from temporal_client.traces import deliver_trace_export, start_trace_export, trace_export_view
from tests.fixtures_smtp import SmtpServer
from tests.test_traces import _fill
from workflows.trace_export import TraceExportWorkflow

NS = "{urn:agora-flow:traces:export:1}"


async def test_export_is_signed_valid_and_chased_until_delivered(
        temporal_client: Client, agora_settings: Settings, task_queue: str, tmp_path: Path,
        smtp_server: SmtpServer) -> None:
    settings = dataclasses.replace(agora_settings, data_dir=agora_settings.data_dir,
                                   database_url=f"sqlite:///{tmp_path / 'traces.sqlite3'}",
                                   smtp_port=smtp_server.config.port)
    store = TraceStore(settings)
    _fill(store)  # D-0: exchanges 1, 3, 5; D-1: 2, 4, by "agent"; a search by "auditeur" saw 2, 4
    with store.database.sessions.begin() as session:
        agent = create_user(session, "agent", "un mot de passe long", ["dossier_manager"],
                            granted_by="admin.region", reason="arrivée", partner="REGION-CORSE")
        change_authorisations(session, agent, {"dossier_manager": ["AGORA_LECTURE;REGION-CORSE"]},
                              actor="admin.region", reason="audit en cours", source="10.0.0.1",
                              partner="REGION-CORSE")
        create_user(session, "autre", "un mot de passe long", ["auditor"], partner="REGION-CORSE")
    request = TraceExportRequest(
        export_id=uuid.uuid4().hex[:12], requester="CDC", reference="REQ-2026-01",
        recorded_by="auditeur", requested_at="2026-02-01T00:00:00+00:00", dossier_ids=["D-1"],
        day_seconds=0.1, security_officer_email="rssi@region.example",
        escalation_emails=["dsi@region.example"], page_url="http://x/exports-traces",
        partner_name="Collectivité de Corse")
    async with agora_worker.build_worker(temporal_client, settings, task_queue=task_queue):
        await start_trace_export(temporal_client, task_queue, request)
        await smtp_server.wait_for(lambda ms: any("Escalade" in m.subject for m in ms))
        for _ in range(50):  # the email is out; the workflow records it once the activity returns
            view = await trace_export_view(temporal_client, request.export_id)
            if len(view.emails) == 2:
                break
            await asyncio.sleep(0.1)
        assert view.state == READY and view.emails == ["trace_export_reminder",
                                                       "trace_export_escalation"]
        reminder = smtp_server.with_template("Rappel")[0]
        assert "REQ-2026-01" in reminder.subject and "15 jours" in reminder.text

        folder = Path(view.files.folder)  # type: ignore[union-attr]
        # Envelopes quote NIRs: the export is readable by its owner only.
        assert folder.stat().st_mode & 0o777 == 0o700
        assert {p.stat().st_mode & 0o777 for p in folder.iterdir()} == {0o600}
        document = etree.parse(str(folder / "traces.xml"))
        assert schema().validate(document)
        assert [e.get("seq") for e in document.iter(f"{NS}Exchange")] == ["2", "4"]
        first = next(document.iter(f"{NS}Exchange"))
        assert base64.b64decode(first.findtext(f"{NS}Response")) == b"<ok/>"
        manifest = (folder / "manifest.json").read_bytes()
        files = json.loads(manifest)["files"]
        assert files["traces.xml"] == hashlib.sha256((folder / "traces.xml").read_bytes()).hexdigest()
        changes = [(c.get("user"), c.get("action"), c.findtext(f"{NS}Reason"))
                   for c in document.iter(f"{NS}AuthorisationChange")]
        assert changes == [("agent", "role_granted", "arrivée"),
                           ("agent", "pagm_changed", "audit en cours")]  # not "autre"
        report = (folder / "rapport-audit.pdf").read_bytes()
        assert files["rapport-audit.pdf"] == hashlib.sha256(report).hexdigest()
        _assert_pdf(report)
        for shown in (b"REQ-2026-01", "du 2026-01-02T10:00:00+00:00 au 2026-01-04".encode("cp1252"),
                      b"auditeur depuis 127.0.0.1 : traces.search", b"PAGM modifi",
                      b"audit en cours", b"conformes."):
            assert shown in report, shown
        cert = x509.load_pem_x509_certificate((folder / "region.cert.pem").read_bytes())
        cert.public_key().verify(base64.b64decode((folder / "manifest.sig").read_text()),  # type: ignore[union-attr, call-arg]
                                 manifest, padding.PKCS1v15(), hashes.SHA256())

        delivered = await deliver_trace_export(temporal_client, request.export_id, "auditeur")
        assert delivered.state == DELIVERED
        handle = temporal_client.get_workflow_handle_for(TraceExportWorkflow.run,
                                                         f"trace-export-{request.export_id}")
        result = await handle.result()
        assert result.state == DELIVERED and result.error == "délai de 15 jours dépassé"


def _assert_pdf(data: bytes) -> None:
    """A PDF whose cross-reference table points at each of its objects."""
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    start = int(data.rsplit(b"startxref", 1)[1].split()[0])
    table = data[start:].split(b"trailer", 1)[0].split(b"\n")
    count = int(table[1].split()[1])
    offsets = [int(row.split()[0]) for row in table[3:3 + count - 1]]
    assert len(offsets) == count - 1 >= 6
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(f"{number} 0 obj".encode()), number


def test_an_exchange_exports_the_request_id_that_led_to_it(agora_settings: Settings,
                                                           tmp_path: Path) -> None:
    settings = dataclasses.replace(agora_settings, data_dir=tmp_path,
                                   database_url=f"sqlite:///{tmp_path / 'traces.sqlite3'}")
    store = TraceStore(settings)
    for correlation_id in ("c0ffee-0042-beef", None):  # a call from the API, one without
        store.record_exchange(Exchange(
            "ValiderDossier", "agent", f"req-{uuid.uuid4().hex[:6]}",
            ExchangeContext(dossier_id="D-7", correlation_id=correlation_id),
            sent_at="2026-01-02T10:00:00+00:00", received_at="2026-01-02T10:00:01+00:00",
            outcome=ACKNOWLEDGED, http_status=200, request_envelope=b"<e/>",
            response_envelope=b"<ok/>"))
    request = TraceExportRequest(
        export_id=uuid.uuid4().hex[:12], requester="CDC", reference="REQ-2026-02",
        recorded_by="auditeur", requested_at="2026-02-01T00:00:00+00:00", dossier_ids=["D-7"])
    files = produce(store, region_identity(settings), settings, request)
    document = etree.parse(str(Path(files.folder) / "traces.xml"))
    assert schema().validate(document), schema().error_log
    with_id, without = document.iter(f"{NS}Exchange")
    assert with_id.findtext(f"{NS}CorrelationId") == "c0ffee-0042-beef"
    assert with_id.findtext(f"{NS}RequestId").startswith("req-")  # the SOAP call's own id
    assert without.find(f"{NS}CorrelationId") is None
    # An export made before the element existed still validates.
    for element in document.iter(f"{NS}CorrelationId"):
        element.getparent().remove(element)
    assert schema().validate(document)
    # The element has its place: after the SOAP request id, before the vector.
    misplaced = etree.SubElement(without, f"{NS}CorrelationId")
    misplaced.text = "c0ffee-0042-beef"
    assert not schema().validate(document)
