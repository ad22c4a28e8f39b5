"""Data-subject requests through the API and the page, end to end with the worker, Temporal
and the AGORA simulator: the DPO's team only; access answered as a French document and
JSON; rectification applied to the store and sent to AGORA (ReingenierieDossier), the
dossier's workflow keeping the corrected values; restriction freezing the dossiers until
lifted; erasure refused for a funded dossier, carried out by crypto-erasure otherwise."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contracts.authorisations import WRITE_RIGHT
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased
from state_models.subject_requests import legal_deadline
from store.authorisations import profiles_for
from store.crypto import cipher_for
from store.subject_requests import find_persons, lift_restriction, restrict_persons
from tests import factories
from tests.api_helpers import create, create_payload, registered
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, ApiHandle

URL = "/api/subject-requests"


def _request(kind: str, nir: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "requester": "la personne, par courrier",
            "identity_check": "copie de la carte d'identité", "nir": nir, **extra}


async def _record(dpo: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await dpo.post(URL, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _carry_out(dpo: httpx.AsyncClient, request_id: str, note: str = "") -> dict[str, Any]:
    response = await dpo.post(f"{URL}/{request_id}/carry-out", json={"note": note})
    assert response.status_code == 200, response.text
    return response.json()


async def test_only_the_dpo_team_handles_requests(api: ApiHandle) -> None:
    async with api.client("gestionnaire") as manager, api.client() as anonymous, \
            api.client("admin") as admin:
        assert (await manager.get(URL)).status_code == 403
        assert (await admin.post(URL, json=_request("access", "185032A00100177"))).status_code == 403
        assert (await anonymous.get(URL)).status_code == 401


async def test_bad_requests_name_the_field(api: ApiHandle) -> None:
    async with api.client("dpd") as dpo:
        cases = [
            (_request("access", "123"), "nir"),
            ({**_request("access", ""), "nir": None}, "nir"),
            (_request("rectification", factories.person().nir, corrections={"nir": "x"}), "corrections"),
            (_request("access", factories.person().nir, corrections={"email": "a@b.c"}), "corrections"),
            (_request("access", factories.person().nir,
                      received_at=(datetime.now(UTC) + timedelta(days=2)).isoformat()), "received_at"),
            ({**_request("access", factories.person().nir), "kind": "portability"}, "kind"),
        ]
        for body, field in cases:
            response = await dpo.post(URL, json=body)
            assert response.status_code == 422, (body, response.text)
            assert field in json.dumps(response.json()["detail"]), response.text


async def test_access_answer_gathers_everything_held(api: ApiHandle) -> None:
    person = factories.person()
    async with api.client("gestionnaire") as manager, api.client("dpd") as dpo:
        dossier_id = await create(manager, nir=person.nir, birth_name=person.birth_name)
        await registered(manager, dossier_id)
        received = (datetime.now(UTC) - timedelta(days=3)).isoformat()
        view = await _record(dpo, _request("access", person.nir, received_at=received))
        request_id = view["request"]["request_id"]
        assert view["request"]["dossier_ids"] == [dossier_id]
        assert view["request"]["nir_masked"].endswith("** *** *** **")
        assert person.nir not in json.dumps(view)  # never the NIR in clear in the view
        # One calendar month from receipt, not from recording.
        assert view["deadline"] == legal_deadline(datetime.fromisoformat(received)).isoformat()

        # The same person found by birth name and birth date.
        by_name = await _record(dpo, {**_request("access", ""), "nir": None,
                                      "birth_name": person.birth_name.lower(),
                                      "birth_date": person.birth_date})
        assert by_name["request"]["dossier_ids"] == [dossier_id]

        answer = await dpo.get(f"{URL}/{request_id}/access-answer")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(answer.content))
        assert sorted(archive.namelist()) == ["reponse.html", "reponse.json"]
        data = json.loads(archive.read("reponse.json"))
        assert data["persons"][0]["nir"] == person.nir
        assert data["persons"][0]["birth_name"] == person.birth_name
        assert [d["dossier_id"] for d in data["dossiers"]] == [dossier_id]
        assert data["dossiers"][0]["events"][0]["agora_outcome"] == "acknowledged"
        assert data["agora_exchanges"], "the AGORA exchanges about the dossier are listed"
        document = archive.read("reponse.html").decode()
        assert "Réponse à votre demande d'accès" in document and person.birth_name in document

        done = await _carry_out(dpo, request_id, "remise par courrier recommandé")
        assert done["state"] == "answered" and done["steps"][-1]["who"] == "dpd"
        again = await dpo.post(f"{URL}/{request_id}/carry-out", json={})
        assert again.status_code == 409


async def test_rectification_reaches_agora_and_the_workflow_keeps_it(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    person = factories.person()
    async with api.client("gestionnaire") as manager, api.client("dpd") as dpo:
        dossier_id = await create(manager, nir=person.nir, birth_name=person.birth_name)
        detail = await registered(manager, dossier_id)
        agora_id = detail["agora_dossier_id"]
        first = await _record(dpo, _request("rectification", person.nir,
                                            corrections={"first_names": "Anna Maria"}))
        # The request's workflow is sealed under the master key and outlives an erasure:
        # the new value travels sealed under the person's own key.
        assert first["request"]["correction_fields"] == ["first_names"]
        assert "Anna Maria" not in json.dumps(first)
        kid = open_keys(api.settings).of_person(person.nir)
        assert kid and first["request"]["corrections_sealed"].startswith(f"{kid}:")
        extended = await dpo.post(f"{URL}/{first['request']['request_id']}/extension",
                                  json={"months": 1, "reason": "vérification auprès de l'organisme"})
        assert extended.status_code == 200 and extended.json()["extension_months"] == 1
        too_long = await dpo.post(f"{URL}/{first['request']['request_id']}/extension",
                                  json={"months": 2, "reason": "encore"})
        assert too_long.status_code == 422 and "months" in too_long.text
        done = await _carry_out(dpo, first["request"]["request_id"])
        assert done["state"] == "answered"
        assert done["dossiers"] == [{"dossier_id": dossier_id, "outcome": "acknowledged",
                                     "message": "ReingenierieDossier acquittée"}]
        # A second correction of another field: if the workflow had not kept the first,
        # its copy (written to the store on acknowledgement) would undo it.
        second = await _record(dpo, _request("rectification", person.nir,
                                             corrections={"email": "anna.maria@example.org"}))
        assert (await _carry_out(dpo, second["request"]["request_id"]))["dossiers"][0]["outcome"] == "acknowledged"

        stored = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
        assert stored["person"]["first_names"] == "Anna Maria"
        assert stored["person"]["email"] == "anna.maria@example.org"
        reengineered = [e for e in stored["timeline"] if e["event"] == "reengineer"]
        assert [e["outcome"] for e in reengineered] == ["acknowledged", "acknowledged"]
        # Sent under the application's authority (the DPO's own profiles only read AGORA,
        # which refuses them ReingenierieDossier), the DPO recorded as who asked.
        assert [e["acting_user"] for e in reengineered] == ["dpd", "dpd"]
        with api.database.sessions() as session:
            own = profiles_for(session, "dpd", api.settings.vi_pagm, api.settings.partner_id)
        assert own and not [p for p in own if p.startswith(WRITE_RIGHT)]
        at_agora = next(d for d in simulator.dossiers() if d["id"] == agora_id)
        assert at_agora["data"]["titulaire"]["prenoms"] == "Anna Maria"
        assert at_agora["data"]["titulaire"]["courriel"] == "anna.maria@example.org"


def _other_action(person: Any) -> dict[str, Any]:
    payload = create_payload(nir=person.nir, birth_name=person.birth_name)
    payload["action"]["action_id"] = "AF-2026-RGPD"
    return payload


async def test_restriction_freezes_the_dossiers_until_lifted(api: ApiHandle) -> None:
    person = factories.person()
    async with api.client("gestionnaire") as manager, api.client("dpd") as dpo:
        dossier_id = await create(manager, nir=person.nir, birth_name=person.birth_name)
        await registered(manager, dossier_id)
        view = await _record(dpo, _request("restriction", person.nir))
        request_id = view["request"]["request_id"]
        done = await _carry_out(dpo, request_id)
        assert done["dossiers"] == [{"dossier_id": dossier_id, "outcome": "restricted", "message": ""}]
        refused = await manager.post(f"/api/dossiers/{dossier_id}/events/validate",
                                     json={"validation_date": "2026-01-02"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"]["code"] == "ProcessingRestricted"
        assert "Traitement limité" in refused.json()["detail"]["message"]
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
        assert detail["restricted"] == f"demande RGPD {request_id}"
        # A new dossier of the person, on another training action, is refused too.
        later = await manager.post("/api/dossiers", json=_other_action(person))
        assert later.status_code == 409, later.text
        assert later.json()["detail"]["code"] == "ProcessingRestricted"
        assert "aucun nouveau dossier" in later.json()["detail"]["message"]
        assert person.nir not in later.text
        lifted = await dpo.post(f"{URL}/{request_id}/lift", json={"note": "exactitude vérifiée"})
        assert lifted.status_code == 200 and lifted.json()["state"] == "lifted"
        accepted = await manager.post(f"/api/dossiers/{dossier_id}/events/validate",
                                      json={"validation_date": "2026-01-02"})
        assert accepted.status_code == 200, accepted.text
        created = await manager.post("/api/dossiers", json=_other_action(person))
        assert created.status_code == 201, created.text


async def test_a_dossier_the_restriction_did_not_reach_is_frozen_by_the_persons_hash(
        api: ApiHandle) -> None:
    """A dossier created while the restriction went out got no signal: the restriction's
    record, by the keyed hash of the person's NIR, refuses its events all the same."""
    person = factories.person()
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager, nir=person.nir, birth_name=person.birth_name)
        await registered(manager, dossier_id)
        with api.database.sessions.begin() as session:
            [found] = find_persons(session, cipher_for(api.settings), nir=person.nir)
            restrict_persons(session, "R-MEANWHILE", [found.id], datetime.now(UTC))
        refused = await manager.post(f"/api/dossiers/{dossier_id}/events/validate",
                                     json={"validation_date": "2026-01-02"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == {
            "code": "ProcessingRestricted", "reason": "demande RGPD R-MEANWHILE",
            "message": "Traitement limité (RGPD art. 18) : demande RGPD R-MEANWHILE ; aucun "
                       "événement n'est accepté sur ce dossier tant que la limitation est en "
                       "vigueur."}
        # A correction still goes through (GDPR art. 18.1.a).
        corrected = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer", json={
            "reason": "erreur de saisie",
            "corrections": [{"name": "first_names", "value": "Maria"}]})
        assert corrected.status_code == 200, corrected.text
        with api.database.sessions.begin() as session:
            lift_restriction(session, "R-MEANWHILE", datetime.now(UTC))
        accepted = await manager.post(f"/api/dossiers/{dossier_id}/events/validate",
                                      json={"validation_date": "2026-01-02"})
        assert accepted.status_code == 200, accepted.text


async def test_erasure_refused_for_funded_records_and_done_by_crypto_erasure_otherwise(
        api: ApiHandle) -> None:
    funded, cancelled = factories.person(), factories.person()
    async with api.client("gestionnaire") as manager, api.client("dpd") as dpo:
        kept = await create(manager, nir=funded.nir, birth_name=funded.birth_name)
        await registered(manager, kept)
        for event, data in factories.LIFECYCLE[:2]:
            response = await manager.post(f"/api/dossiers/{kept}/events/{event}", json=data)
            assert response.status_code == 200, response.text
        view = await _record(dpo, _request("erasure", funded.nir))
        refused = await _carry_out(dpo, view["request"]["request_id"])
        assert refused["state"] == "refused"
        assert "17.3" in refused["refusal_ground"] and kept in refused["refusal_ground"]

        gone = await create(manager, nir=cancelled.nir, birth_name=cancelled.birth_name)
        await registered(manager, gone)
        response = await manager.post(f"/api/dossiers/{gone}/events/cancel",
                                      json={"reason": "désistement"})
        assert response.status_code == 200, response.text
        keys = open_keys(api.settings)
        kid = keys.of_person(cancelled.nir)
        assert kid is not None
        view = await _record(dpo, _request("erasure", cancelled.nir))
        erased = await _carry_out(dpo, view["request"]["request_id"])
        assert erased["state"] == "answered", erased
        assert erased["dossiers"] == [{"dossier_id": gone, "outcome": "erased", "message": ""}]
        assert keys.of_person(cancelled.nir) is None
        with pytest.raises(PersonKeyErased):
            keys.key(kid)
        stored = (await manager.get(f"/api/dossiers/{gone}")).json()
        assert stored["person"]["birth_name"] == "[effacé]"
        assert cancelled.birth_name not in json.dumps(stored)
        # Nothing left to find: a new request about them finds no one.
        again = await _record(dpo, _request("access", cancelled.nir))
        assert again["request"]["person_ids"] == [] and again["request"]["dossier_ids"] == []


async def test_the_page_records_a_request_and_shows_its_deadline(api: ApiHandle) -> None:
    person = factories.person()
    async with api.client("gestionnaire") as manager:
        await create(manager, nir=person.nir, birth_name=person.birth_name)
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        signed = await browser.post("/connexion", data={"username": "dpd", "password": PASSWORD})
        assert signed.status_code in (200, 303)
        page = await browser.get("/demandes-rgpd")
        assert page.status_code == 200 and "Enregistrer une demande" in page.text
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        bad = await browser.post("/demandes-rgpd", data={
            "csrf": csrf, "kind": "access", "requester": "la personne",
            "identity_check": "pièce d'identité", "nir": "12345"})
        assert bad.status_code == 422 and 'id="error-nir"' in bad.text and "12345" not in bad.text
        posted = await browser.post("/demandes-rgpd", data={
            "csrf": csrf, "kind": "access", "requester": "la personne",
            "identity_check": "pièce d'identité", "nir": person.nir})
        assert posted.status_code == 303, posted.text
        detail = await browser.get(posted.headers["location"])
        assert detail.status_code == 200 and 'id="deadline"' in detail.text
        assert person.nir not in detail.text and "Produire la réponse" in detail.text
        # A rectification, the person found by birth name and date: its page shows the new
        # value (opened with the person's key), which its workflow holds only sealed.
        posted = await browser.post("/demandes-rgpd", data={
            "csrf": csrf, "kind": "rectification", "requester": "la personne",
            "identity_check": "pièce d'identité", "birth_name": person.birth_name.lower(),
            "birth_date": person.birth_date, "correction_first_names": "Anna Rectifiée"})
        assert posted.status_code == 303, posted.text
        detail = await browser.get(posted.headers["location"])
        assert "Anna Rectifiée" in detail.text
