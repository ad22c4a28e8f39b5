"""The JSON API over a real Temporal dev server, worker and AGORA simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select

from agora import operations
from store.models import NirUnmasking
from tests import factories
from tests.api_helpers import create, create_payload, registered
from tests.fixtures_api import PASSWORD, ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")


async def test_token_is_required_and_checked(api: ApiHandle) -> None:
    async with api.client() as anonymous:
        response = await anonymous.get("/api/dossiers")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        refused = await anonymous.post("/api/token", data={"username": "gestionnaire", "password": "faux"})
        assert refused.status_code == 401
        assert refused.json()["detail"]["code"] == "BadCredentials"
        forged = await anonymous.get("/api/dossiers", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
        granted = await anonymous.post("/api/token", data={"username": "auditeur", "password": PASSWORD})
        assert granted.status_code == 200 and granted.json()["token_type"] == "bearer"


@pytest.mark.parametrize("username", ["operateur", "marches", "auditeur", "admin"])
async def test_only_dossier_managers_write(api: ApiHandle, username: str) -> None:
    async with api.client("gestionnaire") as manager, api.client(username) as other:
        dossier_id = await create(manager)
        assert (await other.post("/api/dossiers", json=create_payload())).status_code == 403
        event = await other.post(f"/api/dossiers/{dossier_id}/events/validate",
                                 json={"validation_date": "2026-01-02"})
        assert event.status_code == 403
        assert event.json()["detail"]["code"] == "Forbidden"
        assert (await other.get(f"/api/dossiers/{dossier_id}")).status_code == 200


async def test_nir_is_masked_and_each_unmasking_is_journaled(api: ApiHandle) -> None:
    person_nir = factories.person().nir
    async with api.client("gestionnaire") as manager, api.client("operateur") as operator, \
            api.client("auditeur") as auditor:
        dossier_id = await create(manager, nir=person_nir)
        detail = (await operator.get(f"/api/dossiers/{dossier_id}")).json()
        assert person_nir not in str(detail)
        assert detail["person"]["nir_masked"].endswith("** *** *** **")
        assert (await operator.get(f"/api/dossiers/{dossier_id}/nir")).status_code == 403
        clear = await auditor.get(f"/api/dossiers/{dossier_id}/nir")
        assert clear.status_code == 200 and clear.json()["nir"] == person_nir
    with api.database.sessions() as session:
        journal = session.scalars(select(NirUnmasking).where(NirUnmasking.dossier_id == dossier_id)).all()
        assert [(row.username, row.channel) for row in journal] == [("auditeur", "api")]


async def test_create_read_and_search(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as client:
        response = await client.post("/api/dossiers", json=create_payload(birth_name="Paoli-Recherche"))
        assert response.status_code == 201
        assert response.json()["state"] == "created"
        dossier_id = response.json()["dossier_id"]
        detail = await registered(client, dossier_id)
        assert detail["registered"] and detail["agora_dossier_id"]
        assert detail["live"] and detail["allowed_events"] == ["validate", "cancel", "reengineer"]
        assert detail["timeline"][0]["ack_id"] and detail["timeline"][0]["acting_user"] == "gestionnaire"
        assert detail["action"]["siret"] == factories.action().siret

        # Names are sealed: the search matches whole words (case, accents ignored) by their
        # keyed hashes, never a part of a word.
        found = (await client.get("/api/dossiers", params={"q": "RECHERCHE paoli"})).json()
        assert [item["dossier_id"] for item in found["items"]] == [dossier_id]
        assert found["items"][0]["birth_name"] == "Paoli-Recherche"
        partial = (await client.get("/api/dossiers", params={"q": "paoli-rech"})).json()
        assert partial["total"] == 0
        by_siret = (await client.get("/api/dossiers", params={"siret": "73282932000074",
                                                              "state": "created", "page_size": 100})).json()
        assert dossier_id in [item["dossier_id"] for item in by_siret["items"]]
        none = (await client.get("/api/dossiers", params={"q": "paoli recherche", "state": "settled"})).json()
        assert none["total"] == 0
        assert (await client.get("/api/dossiers/D-INCONNU")).status_code == 404


async def test_whole_lifecycle_through_the_api(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id = await create(client, birth_name="Cycle-Complet")
        for event, data in factories.LIFECYCLE:
            response = await client.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data)
            assert response.status_code == 200, (event, response.text)
        detail = response.json()
        assert detail["state"] == "settled" and detail["allowed_events"] == []
        assert [t["event"] for t in detail["timeline"]] == ["create"] + [e for e, _ in factories.LIFECYCLE]
        assert all(t["outcome"] == "acknowledged" and t["ack_id"] for t in detail["timeline"])
        assert {t["acting_user"] for t in detail["timeline"]} == {"gestionnaire"}
        entered = (await client.get("/api/dossiers", params={
            "q": "cycle-complet", "entry_from": "2026-01-05", "entry_to": "2026-01-05"})).json()
        assert [item["state"] for item in entered["items"]] == ["settled"]


async def test_bad_nir_key_and_bad_siret_name_their_fields(api: ApiHandle) -> None:
    payload = create_payload()
    nir = payload["person"]["nir"]
    payload["person"]["nir"] = nir[:13] + f"{(int(nir[13:]) % 97) + 1:02d}"
    payload["action"]["siret"] = "73282932000075"
    async with api.client("gestionnaire") as client:
        response = await client.post("/api/dossiers", json=payload)
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e["msg"] for e in response.json()["detail"]}
    assert errors[("body", "person", "nir")] == "clé NIR invalide"
    assert "SIRET" in errors[("body", "action", "siret")]


async def test_event_data_errors_are_422_and_lose_nothing(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id = await create(client)
        for event, data in factories.LIFECYCLE[:2]:
            assert (await client.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data)).status_code == 200
        before_entry = await client.post(f"/api/dossiers/{dossier_id}/events/exit",
                                         json={"exit_date": "2026-01-01", "reason": "abandon"})
        assert before_entry.status_code == 422
        assert before_entry.json()["detail"][0]["loc"] == ["body", "exit_date"]
        bad_date = await client.post(f"/api/dossiers/{dossier_id}/events/pay",
                                     json={"payment_date": "31/01/2026", "amount": "10"})
        assert bad_date.status_code == 422 and bad_date.json()["detail"][0]["loc"] == ["body", "payment_date"]
        unknown_field = await client.post(f"/api/dossiers/{dossier_id}/events/pay", json={"colour": "red"})
        assert unknown_field.status_code == 422
        detail = (await client.get(f"/api/dossiers/{dossier_id}")).json()
        assert detail["state"] == "entered" and len(detail["timeline"]) == 3


async def test_event_not_allowed_now_is_409(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id = await create(client)
        response = await client.post(f"/api/dossiers/{dossier_id}/events/settle",
                                     json={"settlement_date": "2026-07-15", "amount_paid": "10"})
    assert response.status_code == 409
    body = response.json()["detail"]
    assert body["code"] == "IllegalEvent" and body["state"] == "created"
    assert body["allowed_events"] == ["validate", "cancel", "reengineer"]


async def test_agora_refusal_is_502_with_its_code_and_kept_in_the_timeline(api: ApiHandle, faults) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id = await create(client)
        await registered(client, dossier_id)
        faults.inject("soap_fault", operation="ValiderDossier", count=1,
                      fault_code=operations.FAULT_STATE, message="Statut incompatible")
        response = await client.post(f"/api/dossiers/{dossier_id}/events/validate",
                                     json={"validation_date": "2026-01-02"})
        assert response.status_code == 502
        body = response.json()["detail"]
        assert body["code"] == operations.FAULT_STATE and body["operation"] == "ValiderDossier"
        detail = (await client.get(f"/api/dossiers/{dossier_id}")).json()
        assert detail["state"] == "created"
        refused = detail["timeline"][-1]
        assert refused["outcome"] == "refused" and refused["fault_code"] == operations.FAULT_STATE
        # The same event goes through once AGORA accepts it.
        again = await client.post(f"/api/dossiers/{dossier_id}/events/validate",
                                  json={"validation_date": "2026-01-02"})
        assert again.status_code == 200 and again.json()["state"] == "validated"


async def test_openapi_documents_every_answer(api: ApiHandle) -> None:
    async with api.client() as client:
        document = (await client.get("/openapi.json")).json()
    event = document["paths"]["/api/dossiers/{dossier_id}/events/{event}"]["post"]
    assert {"200", "401", "403", "404", "409", "422", "502"} <= set(event["responses"])
    create_op = document["paths"]["/api/dossiers"]["post"]
    assert {"201", "401", "403", "422"} <= set(create_op["responses"])
    assert "OAuth2PasswordBearer" in document["components"]["securitySchemes"]


@asynccontextmanager
async def _ui_session(api: ApiHandle, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as client:
        response = await client.post("/connexion", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        yield client


async def test_ui_requires_sign_in_and_checks_roles(api: ApiHandle) -> None:
    async with api.client() as anonymous:
        response = await anonymous.get("/dossiers")
        assert response.status_code == 303 and response.headers["location"].startswith("/connexion")
        wrong = await anonymous.post("/connexion", data={"username": "gestionnaire", "password": "x"})
        assert wrong.status_code == 401 and "incorrect" in wrong.text
        anonymous.cookies.set("agora_session", "abc.def")
        assert (await anonymous.get("/dossiers")).status_code == 303
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager)
    async with _ui_session(api, "operateur") as operator:
        assert (await operator.get("/dossiers")).status_code == 200
        assert (await operator.get("/dossiers/nouveau")).status_code == 403
        page = await operator.get(f"/dossiers/{dossier_id}")
        assert page.status_code == 200 and "Afficher le NIR" not in page.text
        assert (await operator.post(f"/dossiers/{dossier_id}/nir", data={"csrf": "x"})).status_code == 403
    async with _ui_session(api, "auditeur") as auditor:
        page = await auditor.get(f"/dossiers/{dossier_id}")
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        assert (await auditor.post(f"/dossiers/{dossier_id}/nir", data={"csrf": "forged"})).status_code == 400
        shown = await auditor.post(f"/dossiers/{dossier_id}/nir", data={"csrf": csrf})
        assert shown.status_code == 200 and "affichage journalisé" in shown.text
    with api.database.sessions() as session:
        journal = session.scalars(select(NirUnmasking).where(NirUnmasking.dossier_id == dossier_id)).all()
        assert [(row.username, row.channel) for row in journal] == [("auditeur", "ui")]
