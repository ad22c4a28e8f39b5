"""What business users ask of dossiers, as Temporal calls: create, send an event, read.

The API, the CLI and the benchmarks all go through here, so they share one code path:
one Temporal round trip per creation and per event, each answering the dossier's view.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from contracts.dossier import (
    ILLEGAL_EVENT,
    INVALID_DATA,
    DossierInput,
    DossierView,
    EventRequest,
    SettledCorrection,
    search_attributes,
    settled_correction_workflow_id,
    workflow_id_for,
)
from state_models.dossier import OPEN_STATES, STATES, DossierFacts, closed_refusal
from state_models.dossier_events import validate_event_data
from state_models.validators import ValidationError
from temporal_client import EventRefused, completed_result, run_update
from temporal_client.sealing import bind_to_person
from workflows.dossier import DossierWorkflow
from workflows.settled_correction import SettledCorrectionWorkflow

__all__ = ["EventRefused", "correct_settled_dossier", "create_dossier", "normalised", "send_event", "start_backfilled",
           "view_dossier"]

UNKNOWN_DOSSIER = "UnknownDossier"
CLOSED_STATES = frozenset(STATES) - OPEN_STATES


async def create_dossier(client: Client, dossier: DossierInput, task_queue: str) -> DossierView:
    """Start the dossier's workflow and answer once AGORA was asked to register it (or the
    call waits for the link). Creating the same dossier id again answers the existing one."""
    workflow_id = workflow_id_for(dossier.dossier_id)
    bind_to_person(client, workflow_id, dossier.person.nir)
    start = WithStartWorkflowOperation(
        DossierWorkflow.run,
        dossier,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=search_attributes(dossier.dossier_id, "created"),
    )
    return await client.execute_update_with_start_workflow(
        DossierWorkflow.registration, start_workflow_operation=start)


async def start_backfilled(client: Client, dossier: DossierInput, task_queue: str) -> bool:
    """Start the workflow of an open dossier the backfill loaded into AGORA
    (``dossier.backfilled``): it starts in its state without registering again. Starting
    it again, running or closed, changes nothing: answer whether it started now."""
    assert dossier.backfilled is not None
    workflow_id = workflow_id_for(dossier.dossier_id)
    bind_to_person(client, workflow_id, dossier.person.nir)
    try:
        await client.start_workflow(
            DossierWorkflow.run, dossier, id=workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=search_attributes(dossier.dossier_id, dossier.backfilled.state))
    except WorkflowAlreadyStartedError:
        return False
    return True


def normalised(request: EventRequest) -> EventRequest:
    """The event with its data checked field by field and normalised (dates ISO, amounts as
    decimal text), as the workflow requires; EventRefused(InvalidEventData) names the field.
    The checks against the dossier's own dates are the workflow's."""
    try:
        clean = validate_event_data(request.event, request.data, DossierFacts())
    except ValidationError as invalid:
        raise EventRefused(INVALID_DATA, str(invalid),
                           {"field": invalid.field, "reason": invalid.reason}) from invalid
    return dataclasses.replace(request, data=clean)


async def send_event(client: Client, dossier_id: str, request: EventRequest) -> DossierView:
    """Apply one business event and wait for AGORA's answer; raise EventRefused when refused.

    A settled or cancelled dossier's workflow has completed and takes no update: the event
    that closed it, sent again (a resend whose first answer was lost), answers the final
    view; any other event is refused as not allowed in that state (409), not as unknown."""
    handle = client.get_workflow_handle(workflow_id_for(dossier_id), result_type=DossierView)
    try:
        return await run_update(handle, DossierWorkflow.apply_event, normalised(request),
                                unknown=(UNKNOWN_DOSSIER, f"dossier inconnu : {dossier_id}"))
    except EventRefused as refused:
        if refused.kind != UNKNOWN_DOSSIER:
            raise
        final = await completed_result(handle)
        if final is None:
            raise
    if _closed_by(final) == request.event:
        return final
    raise EventRefused(ILLEGAL_EVENT, closed_refusal(final.state, request.event),
                       {"state": final.state, "allowed": []})


async def correct_settled_dossier(client: Client, correction: SettledCorrection,
                                  task_queue: str) -> DossierView:
    """Send a correction of a settled dossier (its own workflow has ended) and wait for
    AGORA's answer; EventRefused when AGORA refuses it, or while another correction of the
    same dossier is under way (IllegalEvent: one at a time keeps the timeline's order)."""
    workflow_id = settled_correction_workflow_id(correction.dossier.dossier_id)
    bind_to_person(client, workflow_id, correction.dossier.person.nir)
    request = correction.request
    correction = replace(correction, request=normalised(request))
    try:
        handle = await client.start_workflow(
            SettledCorrectionWorkflow.run, correction, id=workflow_id, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
    except WorkflowAlreadyStartedError as running:
        raise EventRefused(ILLEGAL_EVENT, "une correction de ce dossier est déjà en cours : "
                           "réessayez dans un instant", {"state": "settled", "allowed": []}) from running
    try:
        return await handle.result()
    except WorkflowFailureError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise EventRefused(cause.type or "Refused", cause.message, details) from failed
        raise


def _closed_by(view: DossierView) -> str | None:
    """The event that closed the dossier (its last change into a closed state)."""
    closing = [h.event for h in view.history if h.state_after in CLOSED_STATES]
    return closing[-1] if closing else None


async def view_dossier(client: Client, dossier_id: str) -> DossierView:
    return await client.get_workflow_handle(workflow_id_for(dossier_id)).query(DossierWorkflow.view)
