"""What business users ask of markets, as Temporal calls: start, send an event, reserve a
place for a dossier, read. The only place that talks to Temporal for markets."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.commands import EventRefused
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
    handle = client.get_workflow_handle(workflow_id_for(market_id))
    try:
        return await handle.execute_update(name, argument, result_type=result_type)
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise EventRefused(cause.type or "Refused", cause.message, details) from failed
        raise
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise EventRefused(UNKNOWN_MARKET, f"marché inconnu : {market_id}", {}) from error
        raise


async def send_market_event(client: Client, market_id: str, request: MarketEventRequest) -> MarketView:
    return await _update(client, market_id, UPDATE_APPLY_EVENT, request, MarketView)


async def reserve_place(client: Client, market_id: str, request: PlaceRequest) -> SessionView:
    return await _update(client, market_id, UPDATE_RESERVE_PLACE, request, SessionView)


async def view_market(client: Client, market_id: str) -> MarketView:
    return await client.get_workflow_handle(workflow_id_for(market_id)).query(
        QUERY_VIEW, result_type=MarketView)
