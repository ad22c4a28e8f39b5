"""The side effects of data-subject requests (SPEC §8) and of the personal-data retention:
read the person's dossiers, correct the person's rows, send a correction to a dossier's
workflow (through the Temporal client the worker hands in), crypto-erase persons.

Each is idempotent: a retry finds the rows corrected, the event already applied (same
event id), the person already erased. The store (SQLAlchemy) is imported when the worker
builds these, so workflows can name the methods without loading it.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio import activity

from contracts.subject_request import (
    DossierOutcome,
    ErasureReport,
    PersonsInput,
    RectifyDossier,
    RetentionRun,
    SubjectDossier,
)
from settings import Settings

Rectify = Callable[[RectifyDossier], Awaitable[DossierOutcome]]


class SubjectRequestActivities:
    def __init__(self, settings: Settings, rectify: Rectify) -> None:
        from store.crypto import cipher_for

        self._settings = settings
        self._rectify = rectify
        self._cipher = cipher_for(settings)
        self._database = None
        self._open = threading.Lock()

    def _db(self):  # type: ignore[no-untyped-def]
        from store.db import Database

        with self._open:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
        return self._database

    @activity.defn(name="DossiersDeLaPersonne")
    def dossiers_of(self, persons: PersonsInput) -> list[SubjectDossier]:
        from store.subject_requests import dossiers_of

        with self._db().sessions() as session:
            return [SubjectDossier(d.id, d.state, d.agora_dossier_id is not None)
                    for d in dossiers_of(session, persons.person_ids)]

    @activity.defn(name="RectifierPersonne")
    def correct_persons(self, persons: PersonsInput) -> int:
        """The Region's own rows corrected first: every dossier shows the corrected values."""
        from store.subject_requests import correct_persons

        with self._db().sessions.begin() as session:
            return correct_persons(session, persons.person_ids, persons.corrections)

    @activity.defn(name="RectifierDossier")
    async def rectify_dossier(self, request: RectifyDossier) -> DossierOutcome:
        """The correction as a re-engineering event of the dossier's workflow, which sends
        ReingenierieDossier to AGORA and keeps the corrected values."""
        return await self._rectify(request)

    @activity.defn(name="EffacerPersonnes")
    def erase_persons(self, persons: PersonsInput) -> ErasureReport:
        return self._erase(persons.person_ids)

    @activity.defn(name="EffacerDonneesExpirees")
    def erase_expired(self, run: RetentionRun) -> ErasureReport:
        """The retention Schedule's work: persons whose dossiers all closed more than
        ``retention_days`` ago are crypto-erased."""
        from store.subject_requests import due_for_erasure

        with self._db().sessions() as session:
            due = due_for_erasure(session, datetime.now(UTC), run.retention_days)
        return self._erase(due)

    def _erase(self, person_ids: list[int]) -> ErasureReport:
        """Store identity blanked and data keys destroyed before the transaction commits: if
        the commit fails, the retry finds the rows still there (their NIR readable with the
        store's key, not the person's) and blanks them; a key already gone is skipped."""
        from crypto.codec import open_keys
        from store.subject_requests import dossiers_of, erase_persons

        with self._db().sessions.begin() as session:
            dossier_ids = [d.id for d in dossiers_of(session, person_ids)]
            nirs = erase_persons(session, self._cipher, person_ids, datetime.now(UTC))
            session.flush()
            keys = open_keys(self._settings) if nirs else None
            destroyed = sum(keys.erase_person(nir) for nir in nirs) if keys else 0
        return ErasureReport(persons=len(nirs), keys_destroyed=destroyed,
                             dossier_ids=dossier_ids)

    def all(self) -> list[Callable[..., object]]:
        return [self.dossiers_of, self.correct_persons, self.rectify_dossier,
                self.erase_persons, self.erase_expired]
