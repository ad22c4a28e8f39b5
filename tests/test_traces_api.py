"""The trace log through the API and the pages: the product's own AGORA calls traced end to
end, ``traces:read`` for auditors only, NIR masked, every consultation journaled in the
hash-chained audit journal."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from store.trace_models import AuditRecord
from store.traces import verify
from tests.api_helpers import create, create_payload, registered
from tests.fixtures_api import PASSWORD, ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")


async def test_a_dossier_s_exchanges_are_traced_and_read_by_auditors_only(api: ApiHandle) -> None:
    payload = create_payload(birth_name="Trace-Auditee")
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, birth_name="Trace-Auditee")
        await registered(manager, dossier_id)
        assert (await manager.get("/api/traces")).status_code == 403
        assert (await manager.get("/api/audit-journal")).status_code == 403
    for username in ("operateur", "marches", "admin"):
        async with api.client(username) as other:
            assert (await other.get("/api/traces", params={"dossier_id": dossier_id})).status_code == 403

    async with api.client("auditeur") as auditor:
        listed = (await auditor.get("/api/traces", params={"dossier_id": dossier_id})).json()
        # The NIR check then find-or-create: the registration's two AGORA calls.
        assert sorted(t["operation"] for t in listed) == ["ControlerUniciteNirNom",
                                                          "RechercherOuCreerDossier"]
        assert all(t["acting_user"] == "gestionnaire" and t["vector_id"] for t in listed)
        detail = (await auditor.get(f"/api/traces/{listed[0]['id']}")).json()
        assert detail["vector"]["subject"] == "gestionnaire"
        assert "Assertion" in detail["request_envelope"] and detail["response_envelope"]
        nir = payload["person"]["nir"]
        assert nir not in detail["request_envelope"] and "*** *** **" in detail["request_envelope"]
        assert (await auditor.get("/api/traces/999999")).status_code == 404

    async with api.client("admin") as admin:
        journal = (await admin.get("/api/audit-journal", params={"username": "auditeur"})).json()
    actions = [(entry["action"], entry["username"]) for entry in journal]
    assert ("traces.search", "auditeur") in actions and ("traces.read", "auditeur") in actions
    search = next(e for e in journal if e["action"] == "traces.search")
    assert search["query"]["dossier_id"] == dossier_id and search["source"] == "127.0.0.1"
    assert sorted(search["records"]) == sorted(t["id"] for t in listed)
    with api.database.sessions() as session:
        assert session.scalars(select(AuditRecord).where(AuditRecord.action == "audit.read")).first()
        assert verify(session) == []


async def test_trace_pages_are_french_and_journaled(api: ApiHandle) -> None:
    async with api.client() as client:
        response = await client.post("/connexion", data={"username": "auditeur", "password": PASSWORD})
        assert response.status_code == 303
        page = await client.get("/traces")
        assert page.status_code == 200 and "Traces des échanges AGORA" in page.text
        journal = await client.get("/journal-audit")
        assert journal.status_code == 200 and "traces.search" in journal.text
    async with api.client() as client:
        await client.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
        assert (await client.get("/traces")).status_code == 403


async def test_a_trace_request_is_exported_downloaded_and_journaled(api: ApiHandle) -> None:
    import io
    import zipfile

    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, birth_name="Trace-Export")
        await registered(manager, dossier_id)
        denied = await manager.post("/api/trace-exports", json={
            "requester": "CDC", "reference": "R-1", "dossier_ids": [dossier_id]})
        assert denied.status_code == 403
    async with api.client("auditeur") as auditor:
        empty = await auditor.post("/api/trace-exports", json={"requester": "CDC", "reference": "R-0"})
        assert empty.status_code == 422
        created = await auditor.post("/api/trace-exports", json={
            "requester": "CDC", "reference": "R-1", "dossier_ids": [dossier_id]})
        assert created.status_code == 201, created.text
        export_id = created.json()["request"]["export_id"]
        assert created.json()["request"]["recorded_by"] == "auditeur"
        for _ in range(100):
            archive = await auditor.get(f"/api/trace-exports/{export_id}/archive")
            if archive.status_code != 409:
                break
            await asyncio.sleep(0.1)
        assert archive.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert sorted(names) == ["manifest.json", "manifest.sig", "rapport-audit.pdf",
                                 "region.cert.pem", "traces.xml"]
        listed = (await auditor.get("/api/trace-exports")).json()
        mine = next(v for v in listed if v["request"]["export_id"] == export_id)
        assert mine["state"] == "delivered" and mine["delivered_by"] == "auditeur"
    with api.database.sessions() as session:
        actions = set(session.scalars(select(AuditRecord.action)))
    assert {"export.request", "export.produce", "export.download"} <= actions


async def test_legal_holds_are_placed_and_released_with_a_reason(api: ApiHandle) -> None:
    async with api.client("auditeur") as auditor:
        placed = await auditor.post("/api/trace-holds", json={
            "reference": "AGORA-7", "reason": "enquête incident", "dossier_ids": ["D-1"],
            "since": "2026-01-01T00:00:00+01:00", "until": "2026-01-02T00:00:00+01:00"})
        assert placed.status_code == 201, placed.text
        hold_id = placed.json()["id"]
        assert placed.json()["since"] == "2025-12-31T23:00:00.000000+00:00"
        assert (await auditor.post(f"/api/trace-holds/{hold_id}/release",
                                   json={"reason": ""})).status_code == 422
        released = await auditor.post(f"/api/trace-holds/{hold_id}/release",
                                      json={"reason": "enquête close"})
        assert released.json()["released_by"] == "auditeur"
        assert (await auditor.post(f"/api/trace-holds/{hold_id}/release",
                                   json={"reason": "encore"})).status_code == 409
    async with api.client("operateur") as operator:
        assert (await operator.get("/api/trace-holds")).status_code == 403
