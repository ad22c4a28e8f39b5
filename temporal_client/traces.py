"""The trace log's two daily Schedules, created at worker start-up if missing (so several
workers starting together, or a restart, never duplicate them); trace exports' workflows."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from contracts.trace_export import (
    WORKFLOW_TYPE,
    TraceExportRequest,
    TraceExportView,
    workflow_id_for,
)
from contracts.traces import CHECKPOINT_SCHEDULE_ID, PURGE_SCHEDULE_ID, TraceMaintenance
from settings import Settings
from temporal_client.schedules import ensure_schedule
from workflows.trace_export import TraceExportWorkflow
from workflows.trace_maintenance import TraceMaintenanceWorkflow

DAY = timedelta(days=1)


async def ensure_trace_schedules(client: Client, settings: Settings, task_queue: str,
                                 prefix: str = "") -> list[str]:
    """Create the checkpoint and purge Schedules unless they exist; returns their ids."""
    jobs = {
        prefix + CHECKPOINT_SCHEDULE_ID: (TraceMaintenance(purge=False), timedelta(0)),
        # An hour after the checkpoint: the two never run together.
        prefix + PURGE_SCHEDULE_ID: (
            TraceMaintenance(purge=True, retention_days=settings.trace_retention_days),
            timedelta(hours=1)),
    }
    for schedule_id, (job, offset) in jobs.items():
        await ensure_schedule(client, schedule_id, TraceMaintenanceWorkflow.run, job, task_queue,
                              DAY, offset)
    return list(jobs)


async def start_trace_export(client: Client, task_queue: str,
                             request: TraceExportRequest) -> TraceExportView:
    """Start the export's durable workflow (15-day clock) and answer its first view; the
    same export id again (a retried request) answers the export already started."""
    handle = await client.start_workflow(
        TraceExportWorkflow.run, request, id=workflow_id_for(request.export_id),
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return await handle.query(TraceExportWorkflow.view)


async def trace_export_view(client: Client, export_id: str) -> TraceExportView:
    return await client.get_workflow_handle(workflow_id_for(export_id)).query(
        TraceExportWorkflow.view)


async def list_trace_exports(client: Client, task_queue: str,
                             limit: int = 100) -> list[TraceExportView]:
    """The exports started on ``task_queue`` (this deployment's): another deployment's
    exports, served by other workers, are not ours to query."""
    views = []
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{task_queue}'"
    async for execution in client.list_workflows(query, limit=limit):
        views.append(await client.get_workflow_handle(execution.id).query(
            TraceExportWorkflow.view))
    return views


async def deliver_trace_export(client: Client, export_id: str, who: str) -> TraceExportView:
    return await client.get_workflow_handle(workflow_id_for(export_id)).execute_update(
        TraceExportWorkflow.deliver, who)
