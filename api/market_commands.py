"""What business users ask of markets, as Temporal calls: start, send an event, reserve a
place for a dossier, read. The only place that talks to Temporal for markets."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from api.commands import run_update
from workflows.market import MarketWorkflow
from workflows.market_types import (
    QUERY_VIEW,
    UPDATE_APPLY_EVENT,
    UPDATE_RESERVE_PLACE,
    MarketEventRequest,
    MarketInput,
    MarketView,
    PlaceRequest,
    SessionView,
    workflow_id_for,
)

UNKNOWN_MARKET = "UnknownMarket"


async def start_market(client: Client, market: MarketInput, task_queue: str) -> None:
    await client.start_workflow(MarketWorkflow.run, market, id=workflow_id_for(market.market_id),
                                task_queue=task_queue)


async def _update(client: Client, market_id: str, name: str, argument: Any, result_type: type) -> Any:
    """Run an update; raise EventRefused (IllegalEvent, InvalidEventData, MarketHasOpenDossiers,
    PlaceRefused, AgoraBusinessFault, UnknownMarket) when the market refuses."""
    return await run_update(client.get_workflow_handle(workflow_id_for(market_id)), name, argument,
                            result_type, unknown=(UNKNOWN_MARKET, f"marché inconnu : {market_id}"))


async def send_market_event(client: Client, market_id: str, request: MarketEventRequest) -> MarketView:
    return await _update(client, market_id, UPDATE_APPLY_EVENT, request, MarketView)


async def reserve_place(client: Client, market_id: str, request: PlaceRequest) -> SessionView:
    return await _update(client, market_id, UPDATE_RESERVE_PLACE, request, SessionView)


async def view_market(client: Client, market_id: str) -> MarketView:
    return await client.get_workflow_handle(workflow_id_for(market_id)).query(
        QUERY_VIEW, result_type=MarketView)
