"""The RecordDossier and RecordMarket activities: write the projections business users read.

Synchronous (SQLAlchemy), run in the worker's thread pool. Idempotent: a retry,
or an older view arriving after a newer one, never duplicates nor rewinds rows.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

from temporalio import activity

from activities.projection_types import RECORD_DOSSIER, RECORD_MARKET, DossierRecord, MarketRecord
from settings import Settings
from store.crypto import cipher_for
from store.db import Database
from store.market_projection import record_market
from store.projection import record_dossier


class ProjectionActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._database: Database | None = None
        self._cipher = cipher_for(settings)
        self._lock = threading.Lock()
        # SQLite has one writer at a time: threads queue here instead of in SQLite's
        # busy handler, which sleeps and backs off. PostgreSQL needs no such lock.
        self._sqlite_writer = threading.Lock()

    def _db(self) -> Database:
        # Opened on first use: a worker that never records does not touch the database.
        with self._lock:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
            return self._database

    def _writer(self, database: Database) -> threading.Lock | nullcontext[None]:
        return self._sqlite_writer if database.engine.dialect.name == "sqlite" else nullcontext()

    @activity.defn(name=RECORD_DOSSIER)
    def record_dossier(self, record: DossierRecord) -> None:
        database = self._db()
        with self._writer(database), database.sessions.begin() as session:
            record_dossier(session, self._cipher, record.dossier, record.view)

    @activity.defn(name=RECORD_MARKET)
    def record_market(self, record: MarketRecord) -> None:
        database = self._db()
        with self._writer(database), database.sessions.begin() as session:
            record_market(session, record.view, record.acting_user)

    def all(self) -> list:
        return [self.record_dossier, self.record_market]
