"""The market JSON API over a real Temporal dev server, worker and AGORA simulator."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from agora import operations
from tests.api_helpers import create_payload
from tests.fixtures_api import ApiHandle

pytestmark = pytest.mark.usefixtures("clean_simulator")


def market_payload(places: tuple[int, ...] = (2, 1, 1), **changes: Any) -> dict[str, Any]:
    payload = {
        "reference": f"MP-{uuid.uuid4().hex[:8].upper()}", "lot_number": "2",
        "lot_title": "Agent de restauration", "siret": "73282932000074",
        "amount_excl_tax": "10000.00", "amount_incl_tax": "12000.00", "funding_source": "region",
        "sessions": [{"session_id": f"S{n}", "places": count, "start_date": f"2026-0{n}-05",
                      "end_date": f"2026-0{n + 3}-30"} for n, count in enumerate(places, start=1)],
    }
    payload.update(changes)
    return payload


async def create_market(client: httpx.AsyncClient, **changes: Any) -> str:
    response = await client.post("/api/markets", json=market_payload(**changes))
    assert response.status_code == 201, response.text
    return response.json()["market_id"]


async def event(client: httpx.AsyncClient, market_id: str, name: str, data: dict) -> httpx.Response:
    return await client.post(f"/api/markets/{market_id}/events/{name}", json=data)


async def counts(client: httpx.AsyncClient, market_id: str, expected: dict[str, int]) -> dict[str, Any]:
    """The market once its dossiers' reports arrived (signals are asynchronous)."""
    for _ in range(100):
        detail = (await client.get(f"/api/markets/{market_id}")).json()
        if {s: n for s, n in detail["dossier_counts"].items() if n} == expected:
            return detail
        await asyncio.sleep(0.05)
    raise AssertionError(detail)


async def test_only_market_managers_act_and_every_role_reads(api: ApiHandle) -> None:
    async with api.client("marches") as manager, api.client() as anonymous:
        market_id = await create_market(manager)
        assert (await anonymous.get("/api/markets")).status_code == 401
        assert (await anonymous.post("/api/markets", json=market_payload())).status_code == 401
    for username in ("gestionnaire", "operateur", "auditeur", "admin"):
        async with api.client(username) as other:
            refused = await other.post("/api/markets", json=market_payload())
            assert refused.status_code == 403 and refused.json()["detail"]["code"] == "Forbidden"
            event_refused = await event(other, market_id, "validate", {"notification_date": "2025-12-15"})
            assert event_refused.status_code == 403
            detail = await other.get(f"/api/markets/{market_id}")
            assert detail.status_code == 200 and detail.json()["state"] == "created"
            listed = (await other.get("/api/markets", params={"page_size": 100})).json()
            assert market_id in [item["market_id"] for item in listed["items"]]


@pytest.mark.parametrize(("changes", "loc"), [
    ({"siret": "73282932000075"}, ["body", "siret"]),
    ({"amount_incl_tax": "9000.00"}, ["body", "amount_incl_tax"]),
    ({"amount_excl_tax": "12,345"}, ["body", "amount_excl_tax"]),
    ({"sessions": [{"session_id": "S1", "places": 3, "start_date": "2026-03-01",
                    "end_date": "2026-01-01"}]}, ["body", "sessions", "0", "end_date"]),
    ({"funding_source": "loto"}, ["body", "funding_source"]),
])
async def test_bad_registration_is_422_naming_the_field(api: ApiHandle, changes: dict, loc: list) -> None:
    async with api.client("marches") as manager:
        response = await manager.post("/api/markets", json=market_payload(**changes))
    assert response.status_code == 422
    assert [str(part) for part in response.json()["detail"][0]["loc"]] == loc
    assert response.json()["detail"][0]["msg"]


async def test_events_refusals_and_amendments(api: ApiHandle) -> None:
    async with api.client("marches") as manager:
        payload = market_payload()
        response = await manager.post("/api/markets", json=payload)
        market_id = response.json()["market_id"]
        again = await manager.post("/api/markets", json=payload)
        assert again.status_code == 409 and again.json()["detail"]["code"] == "MarketExists"

        early = await event(manager, market_id, "settle", {"settlement_date": "2026-07-31"})
        assert early.status_code == 409
        assert early.json()["detail"]["code"] == "IllegalEvent"
        assert early.json()["detail"]["state"] == "created"
        assert "settle" in early.json()["detail"]["message"]

        assert (await event(manager, market_id, "validate", {"notification_date": "2025-12-15"})).status_code == 200
        assert (await event(manager, market_id, "enter", {"start_date": "2026-01-05"})).status_code == 200
        missing = await event(manager, market_id, "pay", {"payment_date": "2026-01-10", "amount": "100"})
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "kind"]
        big = {"payment_date": "2026-01-10", "amount": "12000.50", "kind": "advance"}
        over = await event(manager, market_id, "pay", big)
        assert over.status_code == 422
        assert over.json()["detail"][0]["loc"] == ["body", "amount"]
        assert "avenant" in over.json()["detail"][0]["msg"]

        amended = await event(manager, market_id, "amend", {
            "amendment_date": "2026-01-08", "reason": "places supplémentaires",
            "amount_excl_tax": "10500.00", "amount_incl_tax": "12600.00"})
        assert amended.status_code == 200
        assert amended.json()["amendments"][0]["changes"][-1]["after"] == "12600.00"
        paid = await event(manager, market_id, "pay", big)
        assert paid.status_code == 200
        detail = paid.json()
        assert detail["state"] == "paid" and detail["total_paid"] == "12000.50"
        assert detail["remaining"] == "599.50"
        assert [t["event"] for t in detail["timeline"]] == ["validate", "enter", "amend", "pay"]


async def test_dossiers_take_places_are_counted_and_hold_the_settlement(api: ApiHandle) -> None:
    async with api.client("marches") as manager, api.client("gestionnaire") as dossiers:
        market_id = await create_market(manager, places=(1, 1))
        for name, data in [("validate", {"notification_date": "2025-12-15"}),
                           ("enter", {"start_date": "2026-01-05"})]:
            assert (await event(manager, market_id, name, data)).status_code == 200

        first = await dossiers.post("/api/dossiers", json={**create_payload(), "market_id": market_id,
                                                           "session_id": "S1"})
        assert first.status_code == 201, first.text
        dossier_id = first.json()["dossier_id"]
        full = await dossiers.post("/api/dossiers", json={**create_payload(), "market_id": market_id,
                                                          "session_id": "S1"})
        assert full.status_code == 409
        assert full.json()["detail"]["code"] == "PlaceRefused"
        assert full.json()["detail"]["session_id"] == "S1" and "S1" in full.json()["detail"]["message"]
        unknown = await dossiers.post("/api/dossiers", json={**create_payload(), "market_id": "M-NONE",
                                                             "session_id": "S1"})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "market_id"]
        alone = await dossiers.post("/api/dossiers", json={**create_payload(), "market_id": market_id})
        assert alone.status_code == 422 and alone.json()["detail"][0]["loc"] == ["body", "session_id"]

        detail = await counts(manager, market_id, {"created": 1})
        assert [s["places_used"] for s in detail["sessions"]] == [1, 0]
        listed = (await manager.get("/api/dossiers", params={"market": market_id})).json()
        assert [item["dossier_id"] for item in listed["items"]] == [dossier_id]
        assert (await manager.get("/api/dossiers", params={"market": market_id, "state": "settled"})
                ).json()["total"] == 0

        assert (await event(manager, market_id, "exit", {"end_date": "2026-06-30"})).status_code == 200
        refused = await event(manager, market_id, "settle", {"settlement_date": "2026-07-31"})
        assert refused.status_code == 409
        assert refused.json()["detail"]["code"] == "MarketHasOpenDossiers"
        assert refused.json()["detail"]["open_dossiers"] == [dossier_id]
        assert dossier_id in refused.json()["detail"]["message"]


async def test_agora_refusal_of_the_settlement_is_502_with_its_fault_code(api: ApiHandle, faults) -> None:
    async with api.client("marches") as manager:
        market_id = await create_market(manager)
        for name, data in [("validate", {"notification_date": "2025-12-15"}),
                           ("enter", {"start_date": "2026-01-05"}),
                           ("exit", {"end_date": "2026-06-30"})]:
            assert (await event(manager, market_id, name, data)).status_code == 200
        faults.inject("soap_fault", operation="SolderAction", count=1,
                      fault_code=operations.FAULT_INVALID_DATA, message="Montant incohérent")
        refused = await event(manager, market_id, "settle", {"settlement_date": "2026-07-31"})
        assert refused.status_code == 502
        assert refused.json()["detail"]["code"] == operations.FAULT_INVALID_DATA
        assert refused.json()["detail"]["operation"] == "SolderAction"
        detail = (await manager.get(f"/api/markets/{market_id}")).json()
        assert detail["state"] == "exited" and detail["timeline"][-1]["outcome"] == "refused"

        settled = await event(manager, market_id, "settle", {"settlement_date": "2026-07-31"})
        assert settled.status_code == 200, settled.text
        assert settled.json()["state"] == "settled" and settled.json()["timeline"][-1]["ack_id"]
        unknown = await manager.get("/api/markets/M-UNKNOWN")
        assert unknown.status_code == 404 and unknown.json()["detail"]["code"] == "UnknownMarket"
