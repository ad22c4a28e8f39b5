"""ReconcileWorkflow: run by a Temporal Schedule, gives back the market places reserved
for dossiers that never started (the API died between the reservation and the start), so
nothing can block a market's settlement for good. Its result is the report of what it
repaired (shown in Temporal Web, and logged)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from contracts.reconcile import ReconcileReport, ReconcileRequest


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileReport:
        report = await workflow.execute_activity_method(
            ReconcileActivities.release_orphan_places, request,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        for place in report.released:
            workflow.logger.warning("place released: market %s session %s dossier %s (reserved %s)",
                                    place.market_id, place.session_id, place.dossier_id,
                                    place.reserved_at)
        return report
