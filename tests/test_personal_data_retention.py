"""Personal-data retention: the daily Schedule's workflow crypto-erases the persons whose
dossiers all closed more than the retention period ago, and reports what it erased; a
person with an open dossier, or closed too recently, is kept."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from temporalio.client import Client, ScheduleActionStartWorkflow

import worker as agora_worker
from contracts.subject_request import RetentionRun
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased
from settings import Settings
from store.db import Database
from store.models import Dossier, Person
from store.person_fields import person_fields_for
from store.writer import ProjectionWriter
from temporal_client.subject_requests import ensure_retention_schedule
from tests import factories
from tests.conftest import FAST_RETRY
from workflows.personal_data_retention import PersonalDataRetentionWorkflow


def _dossier(writer: ProjectionWriter, database: Database, state: str, closed_days_ago: int) -> str:
    dossier = factories.dossier(FAST_RETRY)
    writer.dossier(dossier)
    with database.sessions.begin() as session:
        session.execute(update(Dossier).where(Dossier.id == dossier.dossier_id).values(
            state=state, updated_at=datetime.now(UTC) - timedelta(days=closed_days_ago)))
    return dossier.person.nir


async def test_closed_dossiers_past_retention_are_crypto_erased(
        temporal_client: Client, agora_settings: Settings, task_queue: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(agora_settings,
                                   database_url=f"sqlite:///{tmp_path / 'retention.sqlite3'}")
    database = Database(settings.effective_database_url)
    writer = ProjectionWriter(settings)
    keys = open_keys(settings)
    expired = _dossier(writer, database, "settled", closed_days_ago=400)
    recent = _dossier(writer, database, "cancelled", closed_days_ago=10)
    still_open = _dossier(writer, database, "entered", closed_days_ago=400)
    kids = {nir: keys.for_person(nir) for nir in (expired, recent, still_open)}
    try:
        async with agora_worker.build_worker(temporal_client, settings, task_queue=task_queue):
            report = await temporal_client.execute_workflow(
                PersonalDataRetentionWorkflow.run, RetentionRun(retention_days=365),
                id=f"retention-{task_queue}", task_queue=task_queue)
        assert (report.persons, report.keys_destroyed, len(report.dossier_ids)) == (1, 1, 1)
        with pytest.raises(PersonKeyErased):
            keys.key(kids[expired])
        assert keys.key(kids[recent]) and keys.key(kids[still_open])
        with database.sessions() as session:
            fields = person_fields_for(settings)
            persons = {fields.nir(p): p for p in session.query(Person)}
            assert expired not in persons  # its NIR is gone from the store too
            assert {recent, still_open} <= set(persons)
            erased = [p for p in persons.values() if p.erased_at is not None]
            assert [fields.open(p).birth_name for p in erased] == ["[effacé]"]
            assert [p.identity_sealed for p in erased] == [None]
    finally:
        database.dispose()


async def test_the_daily_schedule_is_created_once(
        temporal_client: Client, task_queue: str) -> None:
    schedule_id = f"{task_queue}-retention"
    assert await ensure_retention_schedule(temporal_client, task_queue, 3650, schedule_id) == schedule_id
    assert await ensure_retention_schedule(temporal_client, task_queue, 3650, schedule_id) == schedule_id
    handle = temporal_client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == timedelta(days=1)
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "PersonalDataRetentionWorkflow"
    finally:
        await handle.delete()
