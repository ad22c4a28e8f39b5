"""The Temporal worker: registers every workflow and activity of agora-flow.

Run several of these (on several machines) against a Temporal cluster to scale out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from temporalio.client import Client
from temporalio.worker import Worker

import temporal_client
from activities.agora_calls import AgoraActivities
from activities.agora_link_guard import AgoraLinkGuard
from activities.notify import NotifyActivities
from activities.projections import ProjectionActivities
from activities.trace_export import TraceExportActivities
from activities.traces import TraceActivities
from settings import Settings
from store.writer import ProjectionWriter
from temporal_client.link import ensure_link_workflow, link_config_from_environment
from temporal_client.traces import ensure_trace_schedules
from workflows.agora_link import AgoraLinkWorkflow
from workflows.dossier import DossierWorkflow
from workflows.incident import IncidentWorkflow
from workflows.market import MarketWorkflow
from workflows.trace_export import TraceExportWorkflow
from workflows.trace_maintenance import TraceMaintenanceWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [DossierWorkflow, MarketWorkflow, AgoraLinkWorkflow, IncidentWorkflow,
             TraceMaintenanceWorkflow, TraceExportWorkflow]


def build_worker(
    client: Client,
    settings: Settings,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Worker:
    """A worker for every agora-flow workflow and activity on one task queue."""
    writer = ProjectionWriter(settings)  # the worker's one writer of projections
    activities = [
        *AgoraActivities(settings, writer).all(),
        *ProjectionActivities(writer).all(),
        *NotifyActivities(settings).all(),
        *TraceActivities(settings).all(),
        *TraceExportActivities(settings).all(),
    ]
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        # Holds AGORA calls while the link is cut off; reports transport failures.
        interceptors=[AgoraLinkGuard(client, settings.link_workflow_id)],
        # Sync activities (zeep) run here; sized for I/O-bound SOAP calls.
        activity_executor=executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.worker_activity_threads),
        max_concurrent_activities=settings.worker_activity_threads,
        # Bounds the worker's memory however many dossiers wait for months.
        max_cached_workflows=settings.worker_max_cached_workflows,
    )


async def run(settings: Settings) -> None:
    client = await temporal_client.connect(settings)
    worker = build_worker(client, settings)
    await ensure_link_workflow(client, settings.task_queue, link_config_from_environment(settings),
                               settings.link_workflow_id)
    await ensure_trace_schedules(client, settings, settings.task_queue)
    log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    await worker.run()


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()
