"""What business users ask of markets, as Temporal calls: register, send an event, reserve a
place for a dossier, read. The only place that talks to Temporal for markets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from contracts.dossier import workflow_id_for as dossier_workflow_id
from contracts.market import (
    ILLEGAL_EVENT,
    MarketEventRequest,
    MarketInput,
    MarketView,
    PlaceRequest,
    SessionView,
    workflow_id_for,
)
from contracts.market import WORKFLOW_ID_PREFIX as MARKET_PREFIX
from contracts.reconcile import ReconcileReport, ReconcileRequest, ReleasedPlace
from temporal_client import EventRefused, completed_result, run_update
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
    AgoraBusinessFault, UnknownMarket) when the market refuses. A settled market's workflow
    has completed: its settlement sent again (the first answer lost) answers the final
    view, any other event is refused as not allowed once settled (409)."""
    handle = client.get_workflow_handle(workflow_id_for(market_id), result_type=MarketView)
    try:
        return await run_update(handle, MarketWorkflow.apply_event, request, _unknown(market_id))
    except EventRefused as refused:
        if refused.kind != UNKNOWN_MARKET:
            raise
        final = await completed_result(handle)
        if final is None:
            raise
    if request.event == "settle":  # the only event that completes a market's workflow
        return final
    raise EventRefused(ILLEGAL_EVENT, f"le marché est soldé : « {request.event} » n'est plus possible",
                       {"state": final.facts.state, "allowed": []})


async def reserve_place(client: Client, market_id: str, request: PlaceRequest) -> SessionView:
    return await run_update(client.get_workflow_handle(workflow_id_for(market_id)),
                            MarketWorkflow.reserve_place, request, _unknown(market_id))


async def dossier_started(client: Client, dossier_id: str) -> bool:
    """Whether the dossier's workflow exists (RPCError when Temporal does not answer)."""
    try:
        await client.get_workflow_handle(dossier_workflow_id(dossier_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def release_place_if_not_started(client: Client, market_id: str, dossier_id: str) -> bool:
    """Give back the place held for ``dossier_id`` if its workflow never started (and the
    dossier never reported a state to the market); True when a place was freed."""
    if await dossier_started(client, dossier_id):
        return False
    return await run_update(client.get_workflow_handle(workflow_id_for(market_id)),
                            MarketWorkflow.release_place, PlaceRequest(dossier_id, ""),
                            _unknown(market_id))


async def release_orphan_places(client: Client, request: ReconcileRequest) -> ReconcileReport:
    """Every running market of ``request.task_queue``: release the places reserved more than
    ``grace_seconds`` ago for dossiers whose workflow never started (an API process that
    died between the reservation and the start)."""
    report = ReconcileReport()
    cutoff = datetime.now(UTC) - timedelta(seconds=request.grace_seconds)
    query = (f'WorkflowType = "MarketWorkflow" AND ExecutionStatus = "Running" '
             f'AND TaskQueue = "{request.task_queue}"')
    async for execution in client.list_workflows(query):
        market_id = execution.id.removeprefix(MARKET_PREFIX)
        report.markets_checked += 1
        places = await client.get_workflow_handle(execution.id).query(MarketWorkflow.unconfirmed_places)
        for place in places:
            if place.reserved_at and datetime.fromisoformat(place.reserved_at) > cutoff:
                continue  # its creation may still be under way
            if await release_place_if_not_started(client, market_id, place.dossier_id):
                report.released.append(ReleasedPlace(market_id, place.session_id, place.dossier_id,
                                                     place.reserved_at))
    return report


async def view_market(client: Client, market_id: str) -> MarketView:
    return await client.get_workflow_handle(workflow_id_for(market_id)).query(MarketWorkflow.view)
