"""Markets end to end: real Temporal dev server, real signed SOAP to the AGORA simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest
from temporalio.client import Client

from contracts.dossier import EventRequest, MarketLink
from contracts.market import (
    SIGNAL_DOSSIER_CHANGED,
    DossierReport,
    MarketEventRequest,
    MarketInput,
    MarketView,
    PlaceRequest,
    workflow_id_for,
)
from state_models import market as model
from temporal_client.dossiers import EventRefused, create_dossier, send_event
from temporal_client.markets import create_market, reserve_place, send_market_event, view_market
from tests import factories
from tests.conftest import FAST_RETRY
from workflows.market import MarketWorkflow

pytestmark = pytest.mark.usefixtures("worker", "clean_simulator")


async def _market(client: Client, task_queue: str, **options) -> MarketInput:  # type: ignore[no-untyped-def]
    market = factories.market(FAST_RETRY, **options)
    await create_market(client, market, task_queue)
    return market


async def _event(client: Client, market_id: str, event: str, data: dict) -> MarketView:
    return await send_market_event(client, market_id, MarketEventRequest(event, "agent.marches", data))


async def _dossier_in(client: Client, task_queue: str, market_id: str, session_id: str) -> str:
    """A dossier of the market: its place reserved first, then its workflow started."""
    dossier = replace(factories.dossier(FAST_RETRY), market=MarketLink(market_id, session_id))
    await reserve_place(client, market_id, PlaceRequest(dossier.dossier_id, session_id))
    await create_dossier(client, dossier, task_queue)
    return dossier.dossier_id


async def _dossier_events(client: Client, dossier_id: str, events: list[tuple[str, dict]]) -> None:
    for event, data in events:
        await send_event(client, dossier_id, EventRequest(event, "agent.dupont", data))


async def _until(client: Client, market_id: str, done: Callable[[MarketView], bool]) -> MarketView:
    """The market's view once the dossiers' signals have arrived (they are asynchronous)."""
    for _ in range(100):
        view = await view_market(client, market_id)
        if done(view):
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(view)


def _nonzero(view: MarketView) -> dict[str, int]:
    return {state: n for state, n in view.dossier_counts.items() if n}


def _market_settlements(simulator, market: MarketInput) -> list[dict]:  # type: ignore[no-untyped-def]
    """AGORA's effects of operation 10 for this market (a market's has no dossier id)."""
    reference = model.agora_reference(market.facts.terms)
    return [e for e in simulator.effects(operation="SolderAction")
            if e["dossier_id"] is None and reference in e["ack"]["message"]]


async def test_market_from_registration_to_settlement_with_three_sessions(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    market = await _market(temporal_client, task_queue)
    market_id = market.market_id
    for event, data in factories.MARKET_LIFECYCLE[:3]:
        await _event(temporal_client, market_id, event, data)
    trained = await _dossier_in(temporal_client, task_queue, market_id, "S1")
    training = await _dossier_in(temporal_client, task_queue, market_id, "S2")
    dropped = await _dossier_in(temporal_client, task_queue, market_id, "S3")
    await _dossier_events(temporal_client, trained, factories.LIFECYCLE)
    await _dossier_events(temporal_client, training, factories.LIFECYCLE[:3])
    await _dossier_events(temporal_client, dropped, [("cancel", {"reason": "désistement"})])

    view = await _until(temporal_client, market_id,
                        lambda v: _nonzero(v) == {"paid": 1, "settled": 1, "cancelled": 1})
    assert [(s.session_id, s.places_used) for s in view.sessions] == [("S1", 1), ("S2", 1), ("S3", 0)]
    await _event(temporal_client, market_id, *factories.MARKET_LIFECYCLE[3])  # execution ended

    # A dossier still in training stops the settlement, and is named.
    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, market_id, *factories.MARKET_LIFECYCLE[4])
    assert refusal.value.kind == "MarketHasOpenDossiers"
    assert refusal.value.details["open_dossiers"] == [training]
    assert training in refusal.value.message
    assert _market_settlements(simulator, market) == []

    # Exited but not settled: still named, as a dossier to settle first.
    await _dossier_events(temporal_client, training, [factories.LIFECYCLE[6]])
    await _until(temporal_client, market_id, lambda v: v.dossier_counts["exited"] == 1)
    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, market_id, *factories.MARKET_LIFECYCLE[4])
    assert refusal.value.details["unsettled_dossiers"] == [training]

    await _dossier_events(temporal_client, training, [factories.LIFECYCLE[7]])
    await _until(temporal_client, market_id, lambda v: v.dossier_counts["settled"] == 2)
    view = await _event(temporal_client, market_id, *factories.MARKET_LIFECYCLE[4])
    assert view.facts.state == "settled" and view.allowed_events == []
    settlement = view.history[-1]
    assert settlement.operation == "SolderAction" and settlement.outcome == "acknowledged"
    assert settlement.ack_id

    result = await temporal_client.get_workflow_handle_for(
        MarketWorkflow.run, workflow_id_for(market_id)).result()
    assert result.facts.state == "settled"
    assert [h.event for h in result.history] == [e for e, _ in factories.MARKET_LIFECYCLE]
    assert len(_market_settlements(simulator, market)) == 1


async def test_payments_over_the_amount_are_refused_until_an_amendment(
    temporal_client: Client, task_queue: str
) -> None:
    market = await _market(temporal_client, task_queue, amount_incl_tax="5000.00")
    for event, data in factories.MARKET_LIFECYCLE[:3]:  # 3600 paid
        await _event(temporal_client, market.market_id, event, data)
    instalment = {"payment_date": "2026-03-31", "amount": "1400.01", "kind": "instalment"}
    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, market.market_id, "pay", instalment)
    assert refusal.value.kind == "InvalidEventData"
    assert refusal.value.details["field"] == "amount"
    assert "5000.01 €" in refusal.value.details["reason"]

    view = await _event(temporal_client, market.market_id, "amend", {
        "amendment_date": "2026-03-15", "reason": "session supplémentaire",
        "amount_excl_tax": "5000.00", "amount_incl_tax": "6000.00"})
    assert view.facts.amendments[0].changes[-1] == {
        "name": "amount_incl_tax", "before": "5000.00", "after": "6000.00"}
    view = await _event(temporal_client, market.market_id, "pay", instalment)
    assert view.total_paid == "5000.01" and view.remaining == "999.99"
    assert [p.kind for p in view.facts.payments] == ["advance", "instalment"]


async def test_places_limit_is_enforced_and_reservations_are_idempotent(
    temporal_client: Client, task_queue: str
) -> None:
    market = await _market(temporal_client, task_queue, places=(1,))
    first = PlaceRequest("D-FIRST", "S1")
    assert (await reserve_place(temporal_client, market.market_id, first)).places_used == 1
    assert (await reserve_place(temporal_client, market.market_id, first)).places_used == 1
    with pytest.raises(EventRefused) as refusal:
        await reserve_place(temporal_client, market.market_id, PlaceRequest("D-SECOND", "S1"))
    assert refusal.value.kind == "PlaceRefused"
    assert refusal.value.details["session_id"] == "S1"
    assert "S1" in refusal.value.message and "complète" in refusal.value.message
    with pytest.raises(EventRefused) as unknown:
        await reserve_place(temporal_client, market.market_id, PlaceRequest("D-THIRD", "S7"))
    assert unknown.value.details["session_id"] == "S7"


async def test_counts_stay_exact_when_a_dossier_event_is_delivered_twice(
    temporal_client: Client, task_queue: str
) -> None:
    market = await _market(temporal_client, task_queue)
    dossier_id = await _dossier_in(temporal_client, task_queue, market.market_id, "S1")
    await _dossier_events(temporal_client, dossier_id, factories.LIFECYCLE[:2])
    view = await _until(temporal_client, market.market_id, lambda v: _nonzero(v) == {"entered": 1})

    handle = temporal_client.get_workflow_handle(workflow_id_for(market.market_id))
    # The entry delivered again, and the validation delivered late: nothing changes.
    await handle.signal(SIGNAL_DOSSIER_CHANGED, DossierReport(dossier_id, "entered", 3))
    await handle.signal(SIGNAL_DOSSIER_CHANGED, DossierReport(dossier_id, "validated", 2))
    await _dossier_events(temporal_client, dossier_id, [factories.LIFECYCLE[2]])
    after = await _until(temporal_client, market.market_id, lambda v: _nonzero(v) == {"paid": 1})
    assert after.version == view.version + 1  # only the payment moved the market's book


async def test_continue_as_new_bounds_the_history_and_loses_no_state(
    temporal_client: Client, task_queue: str
) -> None:
    limit = 60
    market = await _market(temporal_client, task_queue, places=(40, 40),
                           continue_as_new_after_events=limit)
    handle = temporal_client.get_workflow_handle(workflow_id_for(market.market_id))
    first_run = (await handle.describe()).run_id
    for event, data in factories.MARKET_LIFECYCLE[:3]:
        await _event(temporal_client, market.market_id, event, data)
    dossiers = [f"D-CAN-{n:03d}" for n in range(60)]
    # Reservations (updates) and reports (signals) interleaved, some in flight at each hand-over.
    for n, dossier_id in enumerate(dossiers):
        await reserve_place(temporal_client, market.market_id, PlaceRequest(dossier_id, f"S{n % 2 + 1}"))
        await asyncio.gather(*(
            handle.signal(SIGNAL_DOSSIER_CHANGED, DossierReport(dossier_id, state, seq))
            for seq, state in enumerate(("validated", "entered", "exited"), start=2)))
    await _event(temporal_client, market.market_id, "pay",
                 {"payment_date": "2026-02-10", "amount": "100.00", "kind": "instalment"})

    view = await _until(temporal_client, market.market_id, lambda v: v.dossier_counts["exited"] == 60)
    assert _nonzero(view) == {"exited": 60}
    assert [s.places_used for s in view.sessions] == [30, 30]
    assert view.total_paid == "3700.00" and view.facts.state == "paid"
    assert [h.event for h in view.history] == ["validate", "enter", "pay", "pay"]
    description = await handle.describe()
    assert description.run_id != first_run
    # Each run's history stays near the limit, never growing with the dossiers.
    assert description.raw_description.workflow_execution_info.history_length < limit + 30
    await handle.terminate()


async def test_an_event_applied_once_the_history_is_long_is_answered(
    temporal_client: Client, task_queue: str
) -> None:
    # So small a limit that every event (its AGORA call for the settlement) takes the history
    # past it while its update waits for the projection the run loop writes.
    market = await _market(temporal_client, task_queue, continue_as_new_after_events=12)
    handle = temporal_client.get_workflow_handle(workflow_id_for(market.market_id))
    first_run = (await handle.describe()).run_id
    for event, data in factories.MARKET_LIFECYCLE:
        view = await asyncio.wait_for(_event(temporal_client, market.market_id, event, data), 20)
    assert view.facts.state == "settled"
    assert [h.event for h in view.history] == [e for e, _ in factories.MARKET_LIFECYCLE]
    assert (await handle.describe()).run_id != first_run
