"""The Temporal worker: registers every workflow and activity of agora-flow.

Run several of these (on several machines) against a Temporal cluster to scale out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging

import prometheus_client
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import temporal_client
from activities.agora_calls import AgoraActivities
from activities.agora_link_guard import AgoraLinkGuard
from activities.agora_reads import AgoraReadActivities
from activities.alerts import AlertActivities
from activities.backfill import BackfillActivities
from activities.notify import NotifyActivities
from activities.projections import ProjectionActivities
from activities.reconcile import ReconcileActivities
from activities.subject_requests import SubjectRequestActivities
from activities.trace_export import TraceExportActivities
from activities.traces import TraceActivities
from agora import operations
from observability import correlation, logs, metrics
from settings import Settings
from store.db import Database
from store.production import refuse_unsafe_start
from store.writer import ProjectionWriter
from temporal_client import gauges
from temporal_client.dossiers import start_backfilled
from temporal_client.link import ensure_link_workflow, link_config_from_environment
from temporal_client.markets import release_orphan_places
from temporal_client.schedules import ensure_reconcile_schedule
from temporal_client.subject_requests import ensure_retention_schedule, rectify_dossier
from temporal_client.traces import ensure_trace_schedules
from workflows.agora_link import AgoraLinkWorkflow
from workflows.agora_read import AgoraReadWorkflow
from workflows.backfill import BackfillWorkflow
from workflows.dossier import DossierWorkflow
from workflows.incident import IncidentWorkflow
from workflows.market import MarketWorkflow
from workflows.personal_data_retention import PersonalDataRetentionWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.settled_correction import SettledCorrectionWorkflow
from workflows.subject_request import SubjectRequestWorkflow
from workflows.trace_export import TraceExportWorkflow
from workflows.trace_maintenance import TraceMaintenanceWorkflow

log = logging.getLogger(__name__)

# Deterministic modules every workflow run shares instead of re-importing them into its own
# sandbox (a new import per dossier otherwise): the domain, the shared types, the protocol's
# dataclasses and the workflows' helpers, none of which holds mutable module state.
PASSED_THROUGH = (
    "statemachine", "state_models", "contracts", "agora", "notifications", "activities",
    # The SDK's tracing interceptor (AGORA_FLOW_OTLP_ENDPOINT) runs inside workflows.
    "opentelemetry",
    "workflows.agora_call", "workflows.agora_gate", "workflows.dossier_requests",
    "workflows.escalation", "workflows.notify_call",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker (and the replay tests) runs workflows in."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH))


WORKFLOWS = [DossierWorkflow, MarketWorkflow, AgoraLinkWorkflow, IncidentWorkflow,
             ReconcileWorkflow, TraceMaintenanceWorkflow, TraceExportWorkflow,
             SubjectRequestWorkflow, PersonalDataRetentionWorkflow, AgoraReadWorkflow,
             SettledCorrectionWorkflow, BackfillWorkflow]


def build_worker(
    client: Client,
    settings: Settings,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Worker:
    """A worker for every agora-flow workflow and activity on one task queue."""
    writer = ProjectionWriter(settings)  # the worker's one writer of projections
    metrics.declare_agora_operations(sorted(operations.BY_SOAP_NAME))
    metrics.declare_backfill_stages()
    activities = [
        *AgoraActivities(settings, writer).all(),
        *AgoraReadActivities(settings).all(),
        *ProjectionActivities(writer).all(),
        *NotifyActivities(settings).all(),
        *AlertActivities(settings).all(),
        *ReconcileActivities(lambda request: release_orphan_places(client, request)).all(),
        *TraceActivities(settings).all(),
        *TraceExportActivities(settings).all(),
        *SubjectRequestActivities(settings, functools.partial(rectify_dossier, client)).all(),
        *BackfillActivities(settings, functools.partial(start_backfilled, client)).all(),
    ]
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=activities,
        # The request id first (outermost), so the guard's own lines carry it too; the guard
        # holds AGORA calls while the link is cut off and reports transport failures.
        interceptors=[correlation.WorkerInterceptor(),
                      AgoraLinkGuard(client, settings.link_workflow_id)],
        # Sync activities (zeep) run here; sized for I/O-bound SOAP calls.
        activity_executor=executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.worker_activity_threads),
        max_concurrent_activities=settings.worker_activity_threads,
        # Bounds the worker's memory however many dossiers wait for months.
        max_cached_workflows=settings.worker_max_cached_workflows,
    )


async def run(settings: Settings) -> None:
    database = Database(settings.effective_database_url)
    try:
        refuse_unsafe_start(settings, database, "worker")
    finally:
        database.dispose()
    client = await temporal_client.connect(settings,
                                           metrics_address=settings.worker_metrics_address)
    if settings.worker_business_metrics_address:
        host, port = settings.worker_business_metrics_address.rsplit(":", 1)
        prometheus_client.start_http_server(int(port), host, registry=metrics.REGISTRY)
    worker = build_worker(client, settings)
    await ensure_link_workflow(client, settings.task_queue, link_config_from_environment(settings),
                               settings.link_workflow_id)
    await ensure_reconcile_schedule(client, settings.task_queue, settings.reconcile_every_seconds,
                                    settings.reconcile_grace_seconds)
    await ensure_trace_schedules(client, settings, settings.task_queue)
    await ensure_retention_schedule(client, settings.task_queue,
                                    settings.personal_data_retention_days)
    log.info("worker polling task queue %s on %s", settings.task_queue, settings.temporal_address)
    refresher = asyncio.create_task(gauges.run_refresher(client, settings))
    try:
        await worker.run()
    finally:
        refresher.cancel()


def main() -> None:
    logs.configure("worker", "json")
    asyncio.run(run(Settings()))


if __name__ == "__main__":
    main()
