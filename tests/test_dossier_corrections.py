"""A correction AGORA acknowledged shows its values before and after on the dossier (API and
page); a correction AGORA refuses changes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests import factories
from tests.api_helpers import create, registered
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")


async def test_a_correction_shows_before_and_after(api: ApiHandle, faults: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, birth_name="SANTONI-AVANT")
        await registered(manager, dossier_id)
        faults.inject("soap_fault", "ReingenierieDossier", count=1,
                      fault_code="agora:DonneesInvalides")
        refused = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer", json={
            "reason": "erreur de saisie", "corrections": [{"name": "birth_name", "value": "REFUSE"}]})
        assert refused.status_code == 502
        corrected = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer", json={
            "reason": "erreur de saisie",
            "corrections": [{"name": "birth_name", "value": "CASANOVA-APRES"},
                            {"name": "duration_hours", "value": "380"}]})
        assert corrected.status_code == 200, corrected.text
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
    assert detail["person"]["birth_name"] == "CASANOVA-APRES"
    assert detail["action"]["duration_hours"] == 380
    entries = [t for t in detail["timeline"] if t["event"] == "reengineer"]
    assert [t["outcome"] for t in entries] == ["refused", "acknowledged"]
    assert entries[0]["corrections"] == []
    assert sorted((c["field"], c["before"], c["after"]) for c in entries[1]["corrections"]) == [
        ("birth_name", "SANTONI-AVANT", "CASANOVA-APRES"),
        ("duration_hours", str(factories.action().duration_hours), "380")]

    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        assert (await browser.post("/connexion", data={"username": "gestionnaire",
                                                       "password": PASSWORD})).status_code == 303
        page = (await browser.get(f"/dossiers/{dossier_id}")).text
    assert "Nom de naissance : <del>SANTONI-AVANT</del> → <ins>CASANOVA-APRES</ins>" in page


async def test_a_settled_dossier_can_still_be_corrected(api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, birth_name="SOLDE-AVANT")
        for event, data in factories.LIFECYCLE:
            response = await manager.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data)
            assert response.status_code == 200, (event, response.text)
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
        assert detail["state"] == "settled" and detail["allowed_events"] == ["reengineer"]
        settled_entries = len(detail["timeline"])

        corrected = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer", json={
            "reason": "nom d'usage oublié",
            "corrections": [{"name": "usage_name", "value": "MARTINI"}]})
        assert corrected.status_code == 200, corrected.text
        assert corrected.json()["state"] == "settled"
        assert corrected.json()["timeline"][-1]["event"] == "reengineer"
        again = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer", json={
            "reason": "second prénom", "corrections": [{"name": "first_names", "value": "Maria"}]})
        assert again.status_code == 200, again.text
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
        refused = await manager.post(f"/api/dossiers/{dossier_id}/events/pay",
                                     json={"payment_date": "2026-07-20", "amount": "10.00"})
    assert detail["state"] == "settled" and detail["person"]["usage_name"] == "MARTINI"
    assert detail["person"]["first_names"] == "Maria"
    added = detail["timeline"][settled_entries:]
    assert [(t["seq"], t["event"], t["outcome"]) for t in added] == [
        (settled_entries + 1, "reengineer", "acknowledged"),
        (settled_entries + 2, "reengineer", "acknowledged")]
    assert added[0]["corrections"] == [{"field": "usage_name", "before": None, "after": "MARTINI"}]
    agora = next(d for d in simulator.dossiers() if d["data"]["idDossierRegion"] == dossier_id)
    assert agora["status"] == "SOLDE" and agora["data"]["titulaire"]["nomUsage"] == "MARTINI"
    assert refused.status_code == 409 and "soldé" in refused.json()["detail"]["message"]
