"""Producing a trace export: idempotent (a retry writes the same files again).

The store (SQLAlchemy, lxml) is imported when the activity runs, so that the workflow can
name this method without loading it."""

from __future__ import annotations

from temporalio import activity

from contracts.trace_export import PRODUCE_ACTIVITY, TraceExportFiles, TraceExportRequest
from settings import Settings


class TraceExportActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn(name=PRODUCE_ACTIVITY)
    def produce(self, request: TraceExportRequest) -> TraceExportFiles:
        from store.trace_export import produce
        from store.traces import region_identity, trace_store_for

        return produce(trace_store_for(self._settings), region_identity(self._settings),
                       self._settings, request)

    def all(self) -> list:
        return [self.produce]
