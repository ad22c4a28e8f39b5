"""The worker's one writer of the projections business users read.

Used by the activities only (the API reads). One database per process, opened on first
use; SQLite has one writer at a time, so threads queue on the database's writer lock
(``store.db.sqlite_writer``, shared with the trace log) instead of in SQLite's busy handler,
which sleeps and backs off. PostgreSQL needs no such lock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from contracts.dossier import DossierInput
from contracts.projection import DossierStep, MarketRecord
from settings import Settings
from store.db import Database, sqlite_writer
from store.market_projection import record_market
from store.person_fields import person_fields_for
from store.projection import record_corrections, record_input, record_step


class ProjectionWriter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fields = person_fields_for(settings)
        self._database: Database | None = None
        self._open = threading.Lock()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._open:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
        database = self._database
        writer = sqlite_writer(database.engine)
        with writer or contextlib.nullcontext(), database.sessions.begin() as session:
            yield session

    def dossier(self, dossier: DossierInput) -> None:
        """The dossier's row (person, organisation, action), created or corrected."""
        with self._session() as session:
            record_input(session, self._fields, dossier)

    def step(self, step: DossierStep) -> None:
        with self._session() as session:
            self.write_step(session, step)

    def write_step(self, session: Session, step: DossierStep) -> None:
        """``step`` written in the caller's transaction: the AGORA activity writes it with
        the exchange's trace, in one transaction (store/traces.py ``write_exchanges``)."""
        if step.dossier is not None:
            record_corrections(session, self._fields, step)
            record_input(session, self._fields, step.dossier)
            session.flush()
        record_step(session, step)

    def market(self, record: MarketRecord) -> None:
        with self._session() as session:
            record_market(session, record.view, record.acting_user)
