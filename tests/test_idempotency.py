"""One click, one effect: Idempotency-Key on the JSON API, one-time tokens on the forms,
the event's identity down to AGORA, and one open dossier per person and action."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

import temporal_client
from agora import operations
from agora.client import get_client
from api import events
from api.app import create_app
from settings import Settings
from tests import factories
from tests.api_helpers import answer_not_final, create_payload, registered
from tests.fixtures_agora import SimulatorHandle, find_or_create_request
from tests.fixtures_api import PASSWORD, ApiHandle, serve_in_thread

pytestmark = pytest.mark.usefixtures("clean_simulator")


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def _entered(client: httpx.AsyncClient) -> tuple[str, str]:
    """A registered, validated and entered dossier: (Region id, AGORA id)."""
    created = await client.post("/api/dossiers", json=create_payload(), headers=_key())
    assert created.status_code == 201, created.text
    dossier_id = created.json()["dossier_id"]
    agora_id = (await registered(client, dossier_id))["agora_dossier_id"]
    for name, data in (("validate", {"validation_date": "2026-01-05"}),
                       ("enter", {"entry_date": "2026-01-12"})):
        response = await client.post(f"/api/dossiers/{dossier_id}/events/{name}", json=data, headers=_key())
        assert response.status_code == 200, response.text
    return dossier_id, agora_id


async def test_same_key_same_body_answers_the_first_answer_again(api: ApiHandle) -> None:
    payload, key = create_payload(), _key()
    async with api.client("gestionnaire") as client:
        first = await client.post("/api/dossiers", json=payload, headers=key)
        again = await client.post("/api/dossiers", json=payload, headers=key)
        conflict = await client.post("/api/dossiers", json=create_payload(), headers=key)
    assert first.status_code == 201 and "idempotency-replayed" not in first.headers
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["idempotency-replayed"] == "true"
    assert conflict.status_code == 422
    assert conflict.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert "autre corps" in conflict.json()["detail"][0]["msg"]


async def test_a_key_belongs_to_its_user_and_its_endpoint(api: ApiHandle) -> None:
    key = _key()
    async with api.client("gestionnaire") as client:
        dossier_id = (await client.post("/api/dossiers", json=create_payload(), headers=key)).json()["dossier_id"]
        other_endpoint = await client.post(f"/api/dossiers/{dossier_id}/events/validate",
                                           json={"validation_date": "2026-01-05"}, headers=key)
    assert other_endpoint.status_code == 422
    assert "POST /api/dossiers" in other_endpoint.json()["detail"][0]["msg"]
    async with api.client("marches") as someone_else:  # same key, another user: not a replay
        refused = await someone_else.post("/api/dossiers", json=create_payload(), headers=key)
    assert refused.status_code == 403 and "idempotency-replayed" not in refused.headers


async def test_concurrent_creations_with_one_key_make_one_dossier(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    payload, key = create_payload(), _key()
    async with api.client("gestionnaire") as client:
        answers = await asyncio.gather(*(client.post("/api/dossiers", json=payload, headers=key)
                                         for _ in range(3)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["dossier_id"] for a in answers}) == 1
    assert len(simulator.effects(operation="RechercherOuCreerDossier")) == 1


async def test_each_event_sent_twice_concurrently_is_one_effect(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as client:
        dossier_id, agora_id = await _entered(client)
        for name, data in (("pay", {"payment_date": "2026-02-01", "amount": "650.00"}),
                           ("interrupt", {"interruption_date": "2026-02-10", "reason": "maladie"}),
                           ("resume", {"resume_date": "2026-02-20"})):
            key = _key()
            url = f"/api/dossiers/{dossier_id}/events/{name}"
            answers = await asyncio.gather(*(client.post(url, json=data, headers=key) for _ in range(2)))
            assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    effects: dict[str, int] = {}
    for effect in simulator.effects(dossier=agora_id):
        effects[effect["operation"]] = effects.get(effect["operation"], 0) + 1
    assert effects == {"RechercherOuCreerDossier": 1, "ValiderDossier": 1, "EntrerEnFormation": 2,
                       "DeclarerRemuneration": 1,
                       "SortirDeFormation": 1}


async def test_payment_resent_after_a_lost_answer_is_declared_once(
        api: ApiHandle, faults: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API gives up waiting before AGORA's late answer: 504, then the client resends.
    monkeypatch.setattr(events, "EVENT_WAIT_SECONDS", 1.0)
    async with api.client("gestionnaire") as client:
        dossier_id, agora_id = await _entered(client)
        faults.inject("timeout_after_apply", "DeclarerRemuneration", count=1, delay_seconds=3)
        key, url = _key(), f"/api/dossiers/{dossier_id}/events/pay"
        data = {"payment_date": "2026-02-01", "amount": "650.00"}
        lost = await client.post(url, json=data, headers=key)
        assert lost.status_code == 504, lost.text
        for _ in range(10):  # the client resends until AGORA's answer is in
            resent = await client.post(url, json=data, headers=key)
            if resent.status_code != 504:
                break
        assert resent.status_code == 200, resent.text
        replayed = await client.post(url, json=data, headers=key)
        assert replayed.headers["idempotency-replayed"] == "true"
        assert replayed.content == resent.content
        # A new payment (another key) is a new declaration.
        assert (await client.post(url, json=data, headers=_key())).status_code == 200
    payments = faults.effects(operation="DeclarerRemuneration", dossier=agora_id)
    assert len(payments) == 2
    # AGORA's request id carries the event's identity, not a position in the history.
    assert all(re.search(r":E[0-9a-f]{32}$", p["request_id"]) for p in payments), payments
    timeline = [e for e in resent.json()["timeline"] if e["event"] == "pay"]
    assert len(timeline) == 1


async def test_two_concurrent_creations_of_one_person_on_one_action_make_one_dossier(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    payload = create_payload()  # no key: two distinct requests for the same person and action
    async with api.client("gestionnaire") as client:
        answers = await asyncio.gather(*(client.post("/api/dossiers", json=payload) for _ in range(2)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201, 409], [a.text for a in answers]
        created = next(a for a in answers if a.status_code == 201).json()["dossier_id"]
        refused = next(a for a in answers if a.status_code == 409).json()["detail"]
        assert (refused["code"], refused["dossier_id"]) == ("DossierExists", created)
        assert created in refused["message"]
        # Later, still refused; another action for the same person is another dossier.
        again = await client.post("/api/dossiers", json=payload)
        assert again.status_code == 409 and again.json()["detail"]["dossier_id"] == created
        other = {**payload, "action": {**payload["action"], "action_id": "AF-2026-999"}}
        assert (await client.post("/api/dossiers", json=other)).status_code == 201
    assert len(simulator.effects(operation="RechercherOuCreerDossier")) == 2


async def test_a_cancelled_dossier_frees_its_person_and_action(api: ApiHandle) -> None:
    payload = create_payload()
    async with api.client("gestionnaire") as client:
        first = (await client.post("/api/dossiers", json=payload)).json()["dossier_id"]
        await registered(client, first)
        cancelled = await client.post(f"/api/dossiers/{first}/events/cancel", json={"reason": "erreur"})
        assert cancelled.status_code == 200, cancelled.text
        for _ in range(50):  # the projection shows the cancellation
            if (await client.get(f"/api/dossiers/{first}")).json()["state"] == "cancelled":
                break
            await asyncio.sleep(0.1)
        second = await client.post("/api/dossiers", json=payload)
        assert second.status_code == 201, second.text
        detail = await registered(client, second.json()["dossier_id"])
    # AGORA's dossier under the first Region id is closed: the new one is registered anew.
    assert detail["registration_fault"] is None and detail["agora_dossier_id"]


def test_simulator_refuses_a_second_region_dossier_for_one_holder_and_action(
        agora_settings: Any, clean_simulator: SimulatorHandle) -> None:
    from agora.errors import AgoraFault

    client = get_client(agora_settings)
    first = client.send(find_or_create_request(41))
    again = client.send(find_or_create_request(41))  # same Region id: a replay
    assert again.replay and again.agora_dossier_id == first.agora_dossier_id
    other = find_or_create_request(41)
    other.region_dossier_id = "REG-OTHER"
    with pytest.raises(AgoraFault) as refused:
        client.send(other)
    assert refused.value.code == operations.FAULT_ALREADY_REGISTERED
    assert "REG-41-ACT-1" in refused.value.message


async def test_a_form_submitted_twice_is_one_event(api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as client:
        created = await client.post("/api/dossiers", json=create_payload(), headers=_key())
        dossier_id = created.json()["dossier_id"]
        agora_id = (await registered(client, dossier_id))["agora_dossier_id"]
    async with api.client() as browser:
        signed = await browser.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
        assert signed.status_code == 303
        page = (await browser.get(f"/dossiers/{dossier_id}")).text
        form = page.split(f'action="/dossiers/{dossier_id}/evenements/validate"', 1)[1]
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        once = re.search(r'name="once" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        data = {"csrf": csrf, "once": once, "validation_date": "2026-01-05"}
        url = f"/dossiers/{dossier_id}/evenements/validate"
        answers = await asyncio.gather(*(browser.post(url, data=data) for _ in range(2)))
        resubmitted = await browser.post(url, data=data)
    assert [a.status_code for a in answers] == [303, 303]
    assert resubmitted.status_code == 303
    assert {a.headers["location"] for a in [*answers, resubmitted]} == {
        f"/dossiers/{dossier_id}?fait=validate"}
    assert len(simulator.effects(operation="ValiderDossier", dossier=agora_id)) == 1


async def test_each_event_of_a_lifecycle_sent_twice_and_resent_after_a_504_is_one_effect(
        api: ApiHandle, faults: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event of a whole lifecycle: AGORA applies it but answers too late (the API
    gives up: 504), the client had sent it twice at once, then resends with the same key
    until it is answered. AGORA holds one effect per event."""
    monkeypatch.setattr(events, "EVENT_WAIT_SECONDS", 1.0)
    async with api.client("gestionnaire") as client:
        payload, key = create_payload(), _key()
        created = await asyncio.gather(*(client.post("/api/dossiers", json=payload, headers=key)
                                         for _ in range(2)))
        assert {a.status_code for a in created} == {201}, [a.text for a in created]
        dossier_id = created[0].json()["dossier_id"]
        agora_id = (await registered(client, dossier_id))["agora_dossier_id"]
        statuses: set[int] = set()
        for name, data in factories.LIFECYCLE:
            faults.inject("timeout_after_apply", "*", count=1, delay_seconds=3)
            key, url = _key(), f"/api/dossiers/{dossier_id}/events/{name}"
            twice = await asyncio.gather(*(client.post(url, json=data, headers=key) for _ in range(2)))
            statuses |= {a.status_code for a in twice}
            answer = twice[0]
            for _ in range(20):  # the client resends until AGORA's answer is in
                if answer.status_code != 504:
                    break
                answer = await client.post(url, json=data, headers=key)
            assert answer.status_code == 200, (name, answer.text)
            again = await client.post(url, json=data, headers=key)
            assert again.headers["idempotency-replayed"] == "true" and again.content == answer.content
        assert 504 in statuses  # the lost answers did happen
    effects = Counter(e["operation"] for e in faults.effects(dossier=agora_id))
    assert effects == {"RechercherOuCreerDossier": 1, "ValiderDossier": 1, "EntrerEnFormation": 2,
                       "DeclarerRemuneration": 2, "SortirDeFormation": 2, "SolderAction": 1}
    request_ids = Counter(e["request_id"] for e in faults.effects(dossier=agora_id))
    assert max(request_ids.values()) == 1


async def test_a_key_is_remembered_by_another_api_process(api: ApiHandle) -> None:
    """Keys live in the database: a second API (another process, or this one restarted)
    over the same database answers the first one's answer again."""
    # The second app cannot even reach Temporal: a replay needs only the database.
    other = create_app(api.settings, _unreachable_temporal(api.settings))
    base_url, server, thread = serve_in_thread(other)
    try:
        payload, key = create_payload(), _key()
        async with api.client("gestionnaire") as client:
            first = await client.post("/api/dossiers", json=payload, headers=key)
        headers = {"Authorization": f"Bearer {api.token('gestionnaire')}", **key}
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as elsewhere:
            again = await elsewhere.post("/api/dossiers", json=payload, headers=headers)
            conflict = await elsewhere.post("/api/dossiers", json=create_payload(), headers=headers)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        other.state.context.db.dispose()
    assert first.status_code == 201
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers["idempotency-replayed"] == "true"
    assert conflict.status_code == 422


def _unreachable_temporal(settings: Settings):  # type: ignore[no-untyped-def]
    async def connect() -> Client:
        return await temporal_client.connect(settings, "127.0.0.1:1")

    return connect


def test_every_state_changing_form_carries_a_one_time_token() -> None:
    """A double click or a resubmitted form is one event: every form that changes
    something carries the ``once`` token. Signing in and out change nothing a retry could
    duplicate; showing a NIR in clear is a read (each showing is journaled); checking a
    backfill export is a dry run (its upload is streamed, never read whole for a token)."""
    exempt = {"/connexion", "/deconnexion", "nir", "/reprise/controle"}
    templates = Path(__file__).parent.parent / "api" / "templates"
    checked = 0
    for template in templates.glob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(), re.DOTALL):
            opening = form.split(">", 1)[0]
            if 'method="post"' not in opening:
                continue
            action = re.search(r'action="([^"]*)"', opening).group(1)  # type: ignore[union-attr]
            if action in exempt or action.rstrip("/").endswith("/nir"):
                continue
            checked += 1
            assert 'name="once" value="{{ once_token() }}"' in form, (template.name, action)
    assert checked >= 8


async def test_a_market_payment_retried_after_its_answer_was_lost_is_recorded_once(api: ApiHandle) -> None:
    """The first request's effect happened but its answer was not final (a 5xx: the key is
    given back, as the middleware does); the retry with the same key is still the same
    event — the market applies its identity once — and the same market for a creation."""
    from tests.test_market_api import market_payload

    async def answer_lost(key: dict[str, str]) -> None:
        await answer_not_final(api.database, key["Idempotency-Key"])

    async with api.client("marches") as manager:
        key, payload = _key(), market_payload()
        created = await manager.post("/api/markets", json=payload, headers=key)
        await answer_lost(key)
        recreated = await manager.post("/api/markets", json=payload, headers=key)
        assert created.status_code == 201 and recreated.status_code == 201, recreated.text
        market_id = created.json()["market_id"]
        assert recreated.json()["market_id"] == market_id
        for name, data in (("validate", {"notification_date": "2025-12-15"}),
                           ("enter", {"start_date": "2026-01-05"})):
            assert (await manager.post(f"/api/markets/{market_id}/events/{name}", json=data,
                                       headers=_key())).status_code == 200
        key, url = _key(), f"/api/markets/{market_id}/events/pay"
        data = {"payment_date": "2026-01-10", "amount": "1000.00", "kind": "advance"}
        first = await manager.post(url, json=data, headers=key)
        await answer_lost(key)
        retried = await manager.post(url, json=data, headers=key)
        other = await manager.post(url, json={**data, "kind": "instalment"}, headers=_key())
    assert first.status_code == 200 and retried.status_code == 200, retried.text
    assert "idempotency-replayed" not in retried.headers  # run again, applied once
    assert retried.json()["total_paid"] == "1000.00"
    assert [t["event"] for t in retried.json()["timeline"]].count("pay") == 1
    assert other.json()["total_paid"] == "2000.00"  # another key: another payment


async def test_the_closing_event_resent_after_the_dossier_closed_answers_its_final_view(
        api: ApiHandle, temporal_env: Any) -> None:
    """A settled dossier's workflow has completed: the settlement resent (its answer lost)
    answers the final view, not "unknown dossier"; any other event is a 409 naming the state."""
    from contracts.dossier import DossierView, workflow_id_for

    async with api.client("gestionnaire") as client:
        dossier_id = (await client.post("/api/dossiers", json=create_payload())).json()["dossier_id"]
        await registered(client, dossier_id)
        for name, data in factories.LIFECYCLE:
            key = _key()
            answer = await client.post(f"/api/dossiers/{dossier_id}/events/{name}", json=data, headers=key)
            assert answer.status_code == 200, answer.text
        # The workflow has completed with the settled view.
        handle = temporal_env.client.get_workflow_handle(workflow_id_for(dossier_id), result_type=DossierView)
        assert (await handle.result()).state == "settled"
        await answer_not_final(api.database, key["Idempotency-Key"])
        resent = await client.post(f"/api/dossiers/{dossier_id}/events/settle",
                                   json=factories.LIFECYCLE[-1][1], headers=key)
        late_payment = await client.post(f"/api/dossiers/{dossier_id}/events/pay", json={
            "payment_date": "2026-07-20", "amount": "10.00"}, headers=_key())
    assert resent.status_code == 200, resent.text
    assert resent.json()["state"] == "settled"
    assert [t["event"] for t in resent.json()["timeline"]].count("settle") == 1
    assert late_payment.status_code == 409, late_payment.text
    assert late_payment.json()["detail"]["code"] == "IllegalEvent"
    assert late_payment.json()["detail"]["state"] == "settled"


async def test_a_market_settlement_resent_after_the_market_closed_answers_its_final_view(
        api: ApiHandle, temporal_env: Any) -> None:
    """A settled market's workflow has completed: the settlement resent (its answer lost)
    answers the final view; any other event is a 409."""
    from contracts.market import MarketView, workflow_id_for
    from tests.test_market_api import market_payload

    async with api.client("marches") as manager:
        market_id = (await manager.post("/api/markets", json=market_payload())).json()["market_id"]
        for name, data in (("validate", {"notification_date": "2025-12-15"}),
                           ("enter", {"start_date": "2026-01-05"}),
                           ("exit", {"end_date": "2026-06-30"})):
            assert (await manager.post(f"/api/markets/{market_id}/events/{name}", json=data,
                                       headers=_key())).status_code == 200
        key, url = _key(), f"/api/markets/{market_id}/events/settle"
        settled = await manager.post(url, json={"settlement_date": "2026-07-31"}, headers=key)
        assert settled.status_code == 200, settled.text
        handle = temporal_env.client.get_workflow_handle(workflow_id_for(market_id), result_type=MarketView)
        assert (await handle.result()).facts.state == "settled"  # the workflow has completed
        await answer_not_final(api.database, key["Idempotency-Key"])
        resent = await manager.post(url, json={"settlement_date": "2026-07-31"}, headers=key)
        late = await manager.post(f"/api/markets/{market_id}/events/pay", headers=_key(), json={
            "payment_date": "2026-08-01", "amount": "10.00", "kind": "balance"})
    assert resent.status_code == 200, resent.text
    assert [t["event"] for t in resent.json()["timeline"]].count("settle") == 1
    assert late.status_code == 409 and late.json()["detail"]["code"] == "IllegalEvent"
