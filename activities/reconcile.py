"""The reconciliation's one activity. What it asks of Temporal (list the markets, check
each dossier, release a place) is handed in by the worker, which owns the client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import activity

from contracts.reconcile import ReconcileReport, ReconcileRequest

Reconcile = Callable[[ReconcileRequest], Awaitable[ReconcileReport]]


class ReconcileActivities:
    def __init__(self, reconcile: Reconcile) -> None:
        self._reconcile = reconcile

    @activity.defn
    async def release_orphan_places(self, request: ReconcileRequest) -> ReconcileReport:
        """Idempotent: a place already released is not found again."""
        return await self._reconcile(request)

    def all(self) -> list[Callable[..., object]]:
        return [self.release_orphan_places]
