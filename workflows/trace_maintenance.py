"""The trace log's daily work, started by a Temporal Schedule (DESIGN.md: periodic work is a
Schedule, not a cron): a signed checkpoint, or the retention purge (which signs one too).
What was removed is in the workflow's result, hence in its history, as well as in the
signed checkpoint."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.traces import TraceActivities
    from contracts.traces import TraceMaintenance, TraceMaintenanceResult


@workflow.defn
class TraceMaintenanceWorkflow:
    @workflow.run
    async def run(self, job: TraceMaintenance) -> TraceMaintenanceResult:
        activity = TraceActivities.purge if job.purge else TraceActivities.checkpoint
        return await workflow.execute_activity_method(
            activity, job,
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            summary="purge des traces expirées" if job.purge else "point de contrôle signé")
