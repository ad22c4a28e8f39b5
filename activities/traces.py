"""The trace log's activities: sign each log's head, purge expired traces (both periodic),
and place an incident's legal hold.

All are safe to retry: a second checkpoint signs the same head again; a second purge
finds nothing more to remove and signs a checkpoint saying so. The store is imported when
an activity runs, so that the workflow can name these methods without loading SQLAlchemy.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from contracts.traces import (
    CHECKPOINT_ACTIVITY,
    INCIDENT_HOLD_ACTIVITY,
    PURGE_ACTIVITY,
    IncidentHold,
    TraceMaintenance,
    TraceMaintenanceResult,
)
from settings import Settings


class TraceActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name=CHECKPOINT_ACTIVITY)
    def checkpoint(self, _: TraceMaintenance) -> TraceMaintenanceResult:
        from store.traces import region_identity, trace_store_for

        made = trace_store_for(self._settings).checkpoint(region_identity(self._settings))
        return TraceMaintenanceResult(checkpoints=len(made), purged={})

    @activity.defn(name=PURGE_ACTIVITY)
    def purge(self, job: TraceMaintenance) -> TraceMaintenanceResult:
        from store.traces import MODELS, region_identity, trace_store_for

        purged = trace_store_for(self._settings).purge(
            region_identity(self._settings), timedelta(days=job.retention_days))
        return TraceMaintenanceResult(checkpoints=len(MODELS), purged=purged)

    @activity.defn(name=INCIDENT_HOLD_ACTIVITY)
    def hold_incident_traces(self, hold: IncidentHold) -> int:
        """Place (or, at resolution, close the window of) an incident's legal hold; the same
        hold whatever the retries. Returns the hold's number."""
        from store.traces import trace_store_for

        return trace_store_for(self._settings).hold_for_incident(
            hold.ticket, hold.starts_at, hold.ends_at, hold.dossier_ids)

    def all(self) -> list:
        return [self.checkpoint, self.purge, self.hold_incident_traces]
