"""What business users ask of dossiers, as Temporal calls: start, send an event, read.

The API, the CLI and the benchmarks all go through here, so they share one code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.dossier import DossierWorkflow, search_attributes
from workflows.dossier_types import (
    QUERY_VIEW,
    UPDATE_APPLY_EVENT,
    DossierInput,
    DossierView,
    EventRequest,
    workflow_id_for,
)

T = TypeVar("T")


@dataclass
class EventRefused(Exception):
    """The dossier refused the event. ``kind`` says why: IllegalEvent, InvalidEventData,
    AgoraBusinessFault, or UnknownDossier; ``details`` carries the field, the state or AGORA's code."""

    kind: str
    message: str
    details: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


async def start_dossier(client: Client, dossier: DossierInput, task_queue: str) -> None:
    """Start the dossier's workflow; starting the same dossier twice is refused by Temporal."""
    await client.start_workflow(
        DossierWorkflow.run,
        dossier,
        id=workflow_id_for(dossier.dossier_id),
        task_queue=task_queue,
        search_attributes=search_attributes(dossier.dossier_id, "created"),
    )


async def send_event(client: Client, dossier_id: str, request: EventRequest) -> DossierView:
    """Apply one business event and wait for AGORA's answer; raise EventRefused when refused."""
    handle = client.get_workflow_handle(workflow_id_for(dossier_id))
    return await run_update(handle, UPDATE_APPLY_EVENT, request, DossierView,
                            unknown=("UnknownDossier", f"dossier inconnu : {dossier_id}"))


async def run_update(handle: WorkflowHandle, name: str, argument: Any, result_type: type[T],
                     unknown: tuple[str, str]) -> T:
    """Run a workflow update; its refusal (an ApplicationError of the validator or handler)
    becomes EventRefused with the error's type and details, an unknown workflow ``unknown``."""
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
            raise EventRefused(*unknown, {}) from error
        raise


async def view_dossier(client: Client, dossier_id: str) -> DossierView:
    handle = client.get_workflow_handle(workflow_id_for(dossier_id))
    return await handle.query(QUERY_VIEW, result_type=DossierView)
