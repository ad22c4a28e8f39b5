"""Periodic work as Temporal Schedules, created idempotently at worker start-up."""

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

from contracts.reconcile import RECONCILE_SCHEDULE_ID, ReconcileRequest
from workflows.reconcile import ReconcileWorkflow


async def ensure_reconcile_schedule(client: Client, task_queue: str, every_seconds: float,
                                    grace_seconds: float, schedule_id: str = RECONCILE_SCHEDULE_ID) -> None:
    """The reconciliation of market places every ``every_seconds``; an existing schedule is
    kept as it is (several workers start it, one exists)."""
    try:
        await client.create_schedule(
            schedule_id,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    ReconcileWorkflow.run, ReconcileRequest(task_queue, grace_seconds),
                    id=f"{schedule_id}-run", task_queue=task_queue),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_seconds))]),
                policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            ),
        )
    except ScheduleAlreadyRunningError:
        pass
