"""The side effects of data-subject requests (SPEC §8) and of the personal-data retention:
read the person's dossiers, correct the person's rows, send a correction to a dossier's
workflow (through the Temporal client the worker hands in), crypto-erase persons.

Each is idempotent: a retry finds the rows corrected, the event already applied (same
event id), the person already erased. The store (SQLAlchemy) is imported when the worker
builds these, so workflows can name the methods without loading it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio import activity

from contracts.subject_request import (
    CORRECTIONS,
    DossierOutcome,
    ErasureReport,
    PersonsInput,
    RectifyDossier,
    RestrictionInput,
    RetentionRun,
    SubjectDossier,
)
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased
from settings import Settings

# Sends one dossier its correction: the request, and its corrections opened.
Rectify = Callable[[RectifyDossier, list[dict[str, str]]], Awaitable[DossierOutcome]]


class SubjectRequestActivities:
    def __init__(self, settings: Settings, rectify: Rectify) -> None:
        from store.person_fields import person_fields_for

        self._settings = settings
        self._rectify = rectify
        self._fields = person_fields_for(settings)
        self._database = None
        self._open = threading.Lock()

    def _corrections(self, sealed: str) -> dict[str, str]:
        """A rectification's values, sealed under the person's key for the request's
        history; an erased person's are gone (nothing to correct)."""
        if not sealed:
            return {}
        try:
            return json.loads(open_keys(self._settings).open_text(sealed, CORRECTIONS))
        except PersonKeyErased:
            return {}

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
            return correct_persons(session, self._fields, persons.person_ids,
                                   self._corrections(persons.corrections_sealed))

    @activity.defn(name="LimiterTraitement")
    def restrict_persons(self, restriction: RestrictionInput) -> int:
        """The restriction recorded by the persons' keyed hash: the API refuses a new dossier
        of theirs, and any event on a dossier the request's signals did not reach."""
        from store.subject_requests import restrict_persons

        with self._db().sessions.begin() as session:
            return restrict_persons(session, restriction.request_id, restriction.person_ids,
                                    datetime.now(UTC))

    @activity.defn(name="LeverLimitation")
    def lift_restriction(self, restriction: RestrictionInput) -> None:
        from store.subject_requests import lift_restriction

        with self._db().sessions.begin() as session:
            lift_restriction(session, restriction.request_id, datetime.now(UTC))

    @activity.defn(name="RectifierDossier")
    async def rectify_dossier(self, request: RectifyDossier) -> DossierOutcome:
        """The correction as a re-engineering event of the dossier's workflow, which sends
        ReingenierieDossier to AGORA and keeps the corrected values."""
        corrections = self._corrections(request.corrections_sealed)
        return await self._rectify(request, [{"name": name, "value": value}
                                             for name, value in sorted(corrections.items())])

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
        """Store rows blanked and data keys destroyed before the transaction commits: if the
        commit fails, the retry finds the rows still there and blanks them (their NIR no
        longer opens: the key named by the row is destroyed again, a no-op)."""
        from store.subject_requests import dossiers_of, erase_persons

        with self._db().sessions.begin() as session:
            dossier_ids = [d.id for d in dossiers_of(session, person_ids)]
            erased = erase_persons(session, self._fields, person_ids, datetime.now(UTC))
            session.flush()
            keys = open_keys(self._settings)
            destroyed = 0
            for nir, kid in erased:
                # The NIR also removes the index naming the key (a keyed hash of the NIR).
                gone = keys.erase_person(nir) if nir else False
                gone = (keys.erase(kid) if kid else False) or gone
                destroyed += gone
        return ErasureReport(persons=len(erased), keys_destroyed=destroyed,
                             dossier_ids=dossier_ids)

    def all(self) -> list[Callable[..., object]]:
        return [self.dossiers_of, self.correct_persons, self.rectify_dossier,
                self.restrict_persons, self.lift_restriction, self.erase_persons,
                self.erase_expired]
