"""What business users ask of markets, as Temporal calls: register, send an event, reserve a
place for a dossier, read. The only place that talks to Temporal for markets."""

from __future__ import annotations

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from contracts.market import (
    MarketEventRequest,
    MarketInput,
    MarketView,
    PlaceRequest,
    SessionView,
    workflow_id_for,
)
from temporal_client import run_update
from workflows.market import MarketWorkflow

UNKNOWN_MARKET = "UnknownMarket"


async def create_market(client: Client, market: MarketInput, task_queue: str) -> MarketView:
    """Start the market's workflow; answers once the market is in the store."""
    start = WithStartWorkflowOperation(
        MarketWorkflow.run, market, id=workflow_id_for(market.market_id), task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return await client.execute_update_with_start_workflow(
        MarketWorkflow.stored, start_workflow_operation=start)


def _unknown(market_id: str) -> tuple[str, str]:
    return UNKNOWN_MARKET, f"marché inconnu : {market_id}"


async def send_market_event(client: Client, market_id: str, request: MarketEventRequest) -> MarketView:
    """Raise EventRefused (IllegalEvent, InvalidEventData, MarketHasOpenDossiers,
    AgoraBusinessFault, UnknownMarket) when the market refuses."""
    return await run_update(client.get_workflow_handle(workflow_id_for(market_id)),
                            MarketWorkflow.apply_event, request, _unknown(market_id))


async def reserve_place(client: Client, market_id: str, request: PlaceRequest) -> SessionView:
    return await run_update(client.get_workflow_handle(workflow_id_for(market_id)),
                            MarketWorkflow.reserve_place, request, _unknown(market_id))


async def view_market(client: Client, market_id: str) -> MarketView:
    return await client.get_workflow_handle(workflow_id_for(market_id)).query(MarketWorkflow.view)
