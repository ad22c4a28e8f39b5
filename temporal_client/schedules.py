"""Periodic work as Temporal Schedules, created idempotently at worker start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

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


async def ensure_schedule(client: Client, schedule_id: str,
                          run: Callable[[Any, Any], Awaitable[Any]], argument: Any,
                          task_queue: str, every: timedelta,
                          offset: timedelta = timedelta(0)) -> None:
    """A Schedule starting ``run(argument)`` every ``every`` (a run still going when the next
    is due is skipped), unless it exists: an existing one is kept as it is (several workers
    start it, one exists)."""
    try:
        await client.create_schedule(schedule_id, Schedule(
            action=ScheduleActionStartWorkflow(run, argument, id=f"{schedule_id}-run",
                                               task_queue=task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every, offset=offset)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)))
    except ScheduleAlreadyRunningError:
        pass


async def ensure_reconcile_schedule(client: Client, task_queue: str, every_seconds: float,
                                    grace_seconds: float, schedule_id: str = RECONCILE_SCHEDULE_ID) -> None:
    """The reconciliation of market places every ``every_seconds``."""
    await ensure_schedule(client, schedule_id, ReconcileWorkflow.run,
                          ReconcileRequest(task_queue, grace_seconds), task_queue,
                          timedelta(seconds=every_seconds))
