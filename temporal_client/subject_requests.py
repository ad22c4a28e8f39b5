"""Data-subject requests' workflows (start, list, the DPO's actions), the daily retention
Schedule, and the correction a request sends a dossier's workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from contracts.dossier import EventRequest
from contracts.subject_request import (
    RETENTION_SCHEDULE_ID,
    WORKFLOW_TYPE,
    DossierOutcome,
    DpoAction,
    Extension,
    RectifyDossier,
    RetentionRun,
    SubjectRequest,
    SubjectRequestView,
    workflow_id_for,
)
from temporal_client import EventRefused, run_update
from temporal_client.dossiers import send_event
from temporal_client.schedules import ensure_schedule
from workflows.personal_data_retention import PersonalDataRetentionWorkflow
from workflows.subject_request import SubjectRequestWorkflow

# Two hours after the trace purge: the daily jobs never run together.
RETENTION_OFFSET = timedelta(hours=3)


async def ensure_retention_schedule(client: Client, task_queue: str, retention_days: int,
                                    schedule_id: str = RETENTION_SCHEDULE_ID) -> str:
    """Create the daily retention Schedule unless it exists (several workers starting
    together, or a restart, never duplicate it)."""
    await ensure_schedule(client, schedule_id, PersonalDataRetentionWorkflow.run,
                          RetentionRun(retention_days), task_queue, timedelta(days=1),
                          RETENTION_OFFSET)
    return schedule_id


async def start_subject_request(client: Client, task_queue: str,
                                request: SubjectRequest) -> SubjectRequestView:
    """Start the request's durable workflow (the legal month runs) and answer its view."""
    handle = await client.start_workflow(
        SubjectRequestWorkflow.run, request, id=workflow_id_for(request.request_id),
        task_queue=task_queue)
    return await handle.query(SubjectRequestWorkflow.view)


async def subject_request_view(client: Client, request_id: str) -> SubjectRequestView:
    return await client.get_workflow_handle(workflow_id_for(request_id)).query(
        SubjectRequestWorkflow.view)


async def list_subject_requests(client: Client, task_queue: str,
                                limit: int = 200) -> list[SubjectRequestView]:
    """This deployment's requests (those of its task queue), newest first."""
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{task_queue}'"
    views = []
    async for execution in client.list_workflows(query, limit=limit):
        views.append(await client.get_workflow_handle(execution.id).query(
            SubjectRequestWorkflow.view))
    return views


def _unknown(request_id: str) -> tuple[str, str]:
    return "UnknownSubjectRequest", f"demande inconnue : {request_id}"


async def carry_out(client: Client, request_id: str, action: DpoAction) -> SubjectRequestView:
    return await run_update(client.get_workflow_handle(workflow_id_for(request_id)),
                            SubjectRequestWorkflow.carry_out, action, _unknown(request_id))


async def extend(client: Client, request_id: str, extension: Extension) -> SubjectRequestView:
    return await run_update(client.get_workflow_handle(workflow_id_for(request_id)),
                            SubjectRequestWorkflow.extend, extension, _unknown(request_id))


async def lift(client: Client, request_id: str, action: DpoAction) -> SubjectRequestView:
    return await run_update(client.get_workflow_handle(workflow_id_for(request_id)),
                            SubjectRequestWorkflow.lift, action, _unknown(request_id))


async def rectify_dossier(client: Client, request: RectifyDossier,
                          corrections: list[dict[str, str]]) -> DossierOutcome:
    """A request's correction as the dossier's re-engineering event: AGORA's acknowledgement
    or refusal; a dossier whose workflow has ended is corrected in the store only. The event
    is the system's: AGORA is called with the application's profiles, the DPO who asked is
    recorded as the event's user (the DPO holds no AGORA write right)."""
    event = EventRequest("reengineer", request.acting_user,
                         {"reason": request.reason, "corrections": corrections},
                         request.event_id, system_authority=True)
    try:
        await send_event(client, request.dossier_id, event)
    except EventRefused as refused:
        if refused.kind in ("UnknownDossier", "IllegalEvent"):
            return DossierOutcome(request.dossier_id, "store_only",
                                  "dossier clos : corrigé dans les données de la Région")
        code = refused.details.get("code") or refused.kind
        return DossierOutcome(request.dossier_id, "refused",
                              f"{code} {refused.details.get('message') or refused.message}")
    return DossierOutcome(request.dossier_id, "acknowledged", "ReingenierieDossier acquittée")
