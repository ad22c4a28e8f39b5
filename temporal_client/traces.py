"""The trace log's two daily Schedules, created at worker start-up if missing (so several
workers starting together, or a restart, never duplicate them)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from contracts.traces import CHECKPOINT_SCHEDULE_ID, PURGE_SCHEDULE_ID, TraceMaintenance
from settings import Settings

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
        try:
            await client.create_schedule(schedule_id, Schedule(
                action=ScheduleActionStartWorkflow(
                    "TraceMaintenanceWorkflow", job, id=f"{schedule_id}-run",
                    task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=DAY, offset=offset)]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
        except ScheduleAlreadyRunningError:
            pass
    return list(jobs)
