"""The RecordDossier activity: writes a dossier's projection for business users.

Synchronous (SQLAlchemy), run in the worker's thread pool. Idempotent: a retry,
or an older view arriving after a newer one, never duplicates nor rewinds rows.
"""

from __future__ import annotations

import threading

from temporalio import activity

from activities.projection_types import RECORD_DOSSIER, DossierRecord
from settings import Settings
from store.crypto import cipher_for
from store.db import Database
from store.projection import record_dossier


class ProjectionActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._database: Database | None = None
        self._lock = threading.Lock()

    def _db(self) -> Database:
        # Opened on first use: a worker that never records does not touch the database.
        with self._lock:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
            return self._database

    @activity.defn(name=RECORD_DOSSIER)
    def record_dossier(self, record: DossierRecord) -> None:
        cipher = cipher_for(self._settings)
        with self._db().sessions.begin() as session:
            record_dossier(session, cipher, record.dossier, record.view)

    def all(self) -> list:
        return [self.record_dossier]
