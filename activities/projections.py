"""The RecordDossierStep and RecordMarket activities: projection writes that no AGORA call
carries (a dossier cancelled or corrected before AGORA registered it, a dossier whose first
call is held; every market event). Idempotent: a retry, or an older step arriving after a
newer one, never duplicates nor rewinds rows. Synchronous (SQLAlchemy), run in the
worker's thread pool.
"""

from __future__ import annotations

from temporalio import activity

from contracts.projection import DossierStep, MarketRecord
from store.writer import ProjectionWriter


class ProjectionActivities:
    def __init__(self, writer: ProjectionWriter) -> None:
        self._writer = writer

    @activity.defn(name="RecordDossierStep")
    def record_dossier_step(self, step: DossierStep) -> None:
        self._writer.step(step)

    @activity.defn(name="RecordMarket")
    def record_market(self, record: MarketRecord) -> None:
        self._writer.market(record)

    def all(self) -> list:
        return [self.record_dossier_step, self.record_market]
