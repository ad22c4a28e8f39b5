"""Personal-data retention (SPEC §8), started daily by a Temporal Schedule: the persons whose
dossiers all closed more than the retention period ago are crypto-erased (their data keys
destroyed, their identity blanked in the store). What was erased — counts and dossier ids,
never a name — is the workflow's result, hence in its history."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.subject_requests import SubjectRequestActivities
    from contracts.subject_request import ErasureReport, RetentionRun


@workflow.defn
class PersonalDataRetentionWorkflow:
    @workflow.run
    async def run(self, job: RetentionRun) -> ErasureReport:
        report = await workflow.execute_activity_method(
            SubjectRequestActivities.erase_expired, job,
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            summary=f"effacement après {job.retention_days} jours")
        workflow.logger.info("retention: %d person(s) erased, %d dossier(s)",
                             report.persons, len(report.dossier_ids))
        return report
