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
