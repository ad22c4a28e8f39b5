"""AGORA's consultations (operations 1, 2, 3, 12, 13) and the DIF record (14) through the API:
each a short Temporal workflow whose activity calls the simulator, answered in French terms
with the time obtained, cached briefly, retried, traced, and held by the link's gate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from contracts import agora_reads as reads
from contracts.agora_link import GateConfig
from contracts.agora_reads import AgoraReadCall, AgoraReadInput, ReadRequest
from settings import Settings
from state_models.calendar import parse_maintenance_window
from temporal_client.agora_reads import AgoraReadPending, ask_agora
from tests import factories
from tests.api_helpers import create, create_payload, registered
from tests.conftest import FAST_RETRY
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")


def _asked(simulator: SimulatorHandle, operation: str) -> int:
    return len(simulator.requests(operation=operation))


async def test_rights_balances_and_holder_dossiers_are_read_once_then_cached(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    nir = factories.valid_nir(4101)
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, nir=nir)
        detail = await registered(manager, dossier_id)
        rights = await manager.get(f"/api/dossiers/{dossier_id}/agora/rights")
        assert rights.status_code == 200, rights.text
        first = rights.json()
        assert first["from_cache"] is False and first["obtained_at"]
        assert first["operation_label"].startswith("Consulter les droits")
        assert first["cpf_hours"] >= 0 and first["dif_hours"] == 0
        assert nir not in rights.text
        again = (await manager.get(f"/api/dossiers/{dossier_id}/agora/rights")).json()
        assert again["from_cache"] is True and again["obtained_at"] == first["obtained_at"]
        assert _asked(simulator, reads.RIGHTS) == 1

        balances = (await manager.get(f"/api/dossiers/{dossier_id}/agora/balances")).json()
        assert balances["cpf_amount"] == f"{first['cpf_hours'] * 15}.00"
        others = (await manager.get(f"/api/dossiers/{dossier_id}/agora/holder-dossiers")).json()
        assert [(d["agora_dossier_id"], d["status_label"]) for d in others["dossiers"]] == [
            (detail["agora_dossier_id"], "Créé")]
        assert others["dossiers"][0]["region_dossier_id"] == dossier_id


async def test_eligibility_answers_with_agora_s_reason(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as manager:
        eligible_id = await create(manager, nir=factories.valid_nir(4102))
        await registered(manager, eligible_id)
        eligible = (await manager.get(f"/api/dossiers/{eligible_id}/agora/eligibility")).json()
        assert eligible["eligible"] is True and "RNCP35987" in eligible["reason"]

        payload = create_payload(nir=factories.valid_nir(4103))
        payload["action"]["certification_code"] = "CQP-0042"
        created = await manager.post("/api/dossiers", json=payload)
        assert created.status_code == 201, created.text
        other_id = created.json()["dossier_id"]
        await registered(manager, other_id)
        refused = (await manager.get(f"/api/dossiers/{other_id}/agora/eligibility")).json()
        assert refused["eligible"] is False
        assert "CQP-0042" in refused["reason"] and "non éligible" in refused["reason"]


async def test_a_dif_balance_is_recorded_by_managers_only_and_refreshes_the_rights(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager, api.client("auditeur") as auditor:
        dossier_id = await create(manager, nir=factories.valid_nir(4104))
        await registered(manager, dossier_id)
        before = (await manager.get(f"/api/dossiers/{dossier_id}/agora/rights")).json()
        assert before["dif_hours"] == 0
        assert (await auditor.get(f"/api/dossiers/{dossier_id}/agora/rights")).status_code == 200
        forbidden = await auditor.post(f"/api/dossiers/{dossier_id}/agora/dif-balance",
                                       json={"dif_hours": 40})
        assert forbidden.status_code == 403
        too_many = await manager.post(f"/api/dossiers/{dossier_id}/agora/dif-balance",
                                      json={"dif_hours": 500})
        assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"][-1] == "dif_hours"

        key = {"Idempotency-Key": str(uuid.uuid4())}
        recorded = await manager.post(f"/api/dossiers/{dossier_id}/agora/dif-balance",
                                      json={"dif_hours": 40}, headers=key)
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["ack_id"] and recorded.json()["replay"] is False
        after = (await manager.get(f"/api/dossiers/{dossier_id}/agora/rights")).json()
        assert after["from_cache"] is False and after["dif_hours"] == 40
    assert len(simulator.effects(operation=reads.RECORD_DIF)) == 1


async def test_an_agora_dossier_is_found_by_its_id_with_the_nir_masked(api: ApiHandle) -> None:
    nir = factories.valid_nir(4105)
    async with api.client("marches") as market_manager, api.client("gestionnaire") as manager:
        dossier_id = await create(manager, nir=nir, birth_name="Recherche-Agora")
        agora_id = (await registered(manager, dossier_id))["agora_dossier_id"]
        found = await market_manager.get(f"/api/agora/dossiers/{agora_id}")
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["dossier"]["region_dossier_id"] == dossier_id
        assert body["holder_birth_name"] == "Recherche-Agora"
        assert nir not in found.text and body["holder_nir_masked"].endswith("** *** *** **")
        unknown = await market_manager.get("/api/agora/dossiers/AG000000000000")
        assert unknown.status_code == 404
        assert unknown.json()["detail"]["code"] == "agora:DossierInconnu"
    async with api.client("operateur") as operator:
        assert (await operator.get(f"/api/agora/dossiers/{agora_id}")).status_code == 403


async def test_a_read_is_retried_through_outages_and_traced(
        api: ApiHandle, simulator: SimulatorHandle, faults: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager, api.client("auditeur") as auditor:
        dossier_id = await create(manager, nir=factories.valid_nir(4106))
        await registered(manager, dossier_id)
        faults.inject("http503", reads.BALANCES, count=2)
        balances = await manager.get(f"/api/dossiers/{dossier_id}/agora/balances")
        assert balances.status_code == 200, balances.text
        traces = (await auditor.get("/api/traces", params={"dossier_id": dossier_id,
                                                           "operation": reads.BALANCES})).json()
    assert sorted(t["outcome"] for t in traces).count("unavailable") == 2
    assert len(traces) == 3 and {t["acting_user"] for t in traces} == {"gestionnaire"}


async def test_a_read_in_the_maintenance_window_waits_and_is_given_up(
        temporal_client: Client, agora_settings: Settings, task_queue: str, worker: None,
        simulator: SimulatorHandle) -> None:
    # A window around now, whatever the hour (one crossing midnight runs into the next day).
    start = datetime.now(ZoneInfo("Europe/Paris")) - timedelta(minutes=30)
    end = start + timedelta(hours=1)
    window = parse_maintenance_window(f"{start:%a} {start:%H:%M}-{end:%H:%M}".lower())
    read = AgoraReadInput(AgoraReadCall(ReadRequest(reads.RIGHTS, {"nir": factories.valid_nir(4107)}),
                                        "gestionnaire"),
                          FAST_RETRY, GateConfig([window], f"agora-link-{task_queue}"))
    identity = str(uuid.uuid4())
    with pytest.raises(AgoraReadPending) as pending:
        await ask_agora(temporal_client, read, identity, task_queue, 1.0)
    assert pending.value.cancelled
    assert [w.reason for w in pending.value.waits] == ["maintenance"]
    handle = temporal_client.get_workflow_handle(reads.workflow_id_for(identity))
    for _ in range(100):  # the cancellation is asked for; the workflow takes it at its next task
        status = (await handle.describe()).status
        if status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.1)
    assert status == WorkflowExecutionStatus.CANCELED
    assert _asked(simulator, reads.RIGHTS) == 0


@asynccontextmanager
async def _ui_session(api: ApiHandle, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        response = await browser.post("/connexion", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303
        yield browser


async def test_the_dossier_page_shows_eligibility_before_validating_and_the_holder_on_demand(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, nir=factories.valid_nir(4108))
        await registered(manager, dossier_id)
    async with _ui_session(api, "gestionnaire") as browser:
        page = await browser.get(f"/dossiers/{dossier_id}")
        assert page.status_code == 200
        text = page.text
        assert "Éligible selon AGORA : Certification RNCP35987" in text
        assert text.index('id="eligibility"') < text.index('data-event="validate"')
        assert 'id="agora-rights"' not in text and "Consulter AGORA" in text
        shown = await browser.get(f"/dossiers/{dossier_id}", params={"agora": "1"})
        assert 'id="agora-rights"' in shown.text and "Solde CPF" in shown.text
        assert dossier_id in shown.text.split('id="agora-holder-dossiers"', 1)[1]
        await browser.get(f"/dossiers/{dossier_id}", params={"agora": "1"})  # a refresh
        assert _asked(simulator, reads.RIGHTS) == 1 and _asked(simulator, reads.ELIGIBILITY) == 1
        assert "déjà obtenue" in (await browser.get(f"/dossiers/{dossier_id}",
                                                    params={"agora": "1"})).text

        csrf = shown.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        invalid = await browser.post(f"/dossiers/{dossier_id}/agora/solde-dif",
                                     data={"csrf": csrf, "dif_hours": "deux cents"})
        assert invalid.status_code == 422 and "de 0 à 120" in invalid.text
        recorded = await browser.post(f"/dossiers/{dossier_id}/agora/solde-dif",
                                      data={"csrf": csrf, "dif_hours": "12"})
        assert recorded.status_code == 303
        after = await browser.get(recorded.headers["location"])
        assert "Solde DIF enregistré" in after.text and "DIF : 12 h" in after.text

        agora_id = simulator.dossiers()[0]["id"]
        found = await browser.get("/agora/recherche", params={"id": agora_id})
        assert found.status_code == 200 and dossier_id in found.text and "Créé" in found.text
        # The action's funders as AGORA holds them: the Region's default at registration.
        assert "Collectivité territoriale - Conseil régional (2) : 100.00 %" in found.text
        unknown = await browser.get("/agora/recherche", params={"id": "AG-INCONNU"})
        assert "agora:DossierInconnu" in unknown.text
    async with _ui_session(api, "operateur") as operator:
        page = await operator.get(f"/dossiers/{dossier_id}")
        assert "Consulter AGORA" not in page.text
        assert (await operator.get("/agora/recherche")).status_code == 403
