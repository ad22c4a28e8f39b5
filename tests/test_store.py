"""The store: migrations, NIR protection at rest, idempotent projections, users."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import inspect, select, text
from temporalio.testing import ActivityEnvironment

from activities.projections import ProjectionActivities
from contracts.dossier import HistoryEntry
from contracts.projection import DossierStep
from crypto.codec import open_keys
from settings import Settings
from state_models.dossier import DossierFacts
from store.crypto import DataCipher, cipher_for
from store.db import Database, make_engine
from store.models import Dossier, Person, Role, TimelineEntry
from store.person_fields import person_fields_for
from store.users import authenticate, create_user, issue_token, user_for_token
from store.writer import ProjectionWriter
from tests import factories
from tests.conftest import FAST_RETRY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/t.sqlite3")


@pytest.fixture
def database(settings: Settings):
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _entry(seq: int, event: str, state: str) -> HistoryEntry:
    return HistoryEntry(seq=seq, event=event, at=f"2026-01-0{seq}T10:00:00+00:00", acting_user="agent",
                        operation="Op", request_id=f"r{seq}", outcome="acknowledged",
                        state_after=state, ack_id=f"ACK-{seq}")


def _step(dossier_id: str, entry: HistoryEntry | None) -> DossierStep:
    state = entry.state_after if entry else "created"
    return DossierStep(dossier_id, DossierFacts(state=state, agora_dossier_id="AG-1"), entry)


def test_migrations_create_the_schema_and_the_roles(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {"persons", "training_organisations", "dossiers", "timeline", "users", "roles",
            "user_roles", "auth_tokens", "nir_unmaskings"} <= tables
    with database.sessions() as session:
        assert set(session.scalars(select(Role.code))) == {
            "dossier_manager", "market_manager", "operator", "auditor", "administrator", "dpo"}
    # Running them again is a no-op.
    Database(str(database.engine.url)).dispose()


def test_processes_starting_together_migrate_a_fresh_database_once(settings: Settings) -> None:
    # The API and the workers start side by side on a database nobody has migrated yet:
    # each process is ready (imports done), then all are released at once.
    url, go = settings.effective_database_url, settings.data_dir / "go"
    script = ("import sys, time, pathlib; from store.db import Database\n"
              "while not pathlib.Path(sys.argv[2]).exists(): time.sleep(0.005)\n"
              "Database(sys.argv[1]).dispose()")
    processes = [subprocess.Popen([sys.executable, "-c", script, url, str(go)], cwd=ROOT,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
    time.sleep(3)
    go.touch()
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, errors
    database = Database(url)
    try:
        with database.sessions() as session:
            assert len(list(session.scalars(select(Role.code)))) == 6
    finally:
        database.dispose()


def test_nir_is_encrypted_at_rest_and_found_by_keyed_hash(database: Database, settings: Settings) -> None:
    cipher = cipher_for(settings)
    fields = person_fields_for(settings)
    dossier = factories.dossier(FAST_RETRY)
    ProjectionWriter(settings).dossier(dossier)
    with database.sessions() as session:
        raw = session.scalars(select(Person)).one()
    assert dossier.person.nir.encode() not in raw.nir_encrypted
    assert dossier.person.nir not in raw.nir_hash
    assert fields.nir(raw) == dossier.person.nir
    assert raw.nir_hash == cipher.lookup_hash(dossier.person.nir)
    other = DataCipher(b"\x00" * 32)
    assert other.lookup_hash(dossier.person.nir) != raw.nir_hash
    # Sealed under the person's own key, not the store's: gone with that key.
    assert open_keys(settings).erase_person(dossier.person.nir)
    assert fields.nir(raw) == "[effacé]"


def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "store.sqlite3"
    Database(f"sqlite:///{path}").dispose()
    assert path.stat().st_mode & 0o777 == 0o600
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in path.parent.glob("store.sqlite3*"))


# Another process's whole use of a database: open, read, close.
_READ_AND_CLOSE = ("import sqlite3, sys\n"
                   "c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM t'); c.close()")


def test_another_engine_on_the_file_keeps_the_locks_of_the_open_connections(tmp_path: Path) -> None:
    # The worker's trace store holds pooled connections while its projection writer (or any
    # later store of the process) makes its own engine on the same file; then another
    # process (a CLI command, a second worker) opens and closes the database. Had the second
    # engine dropped this process's SQLite locks, that process would take itself for the
    # last user, delete the WAL, and the pooled connection would read the deleted one.
    path = tmp_path / "shared.sqlite3"
    url = f"sqlite:///{path}"
    first = make_engine(url)
    with first.begin() as connection:
        connection.execute(text("CREATE TABLE t (x BLOB)"))
        for _ in range(100):  # a WAL longer than what follows writes into a new one
            connection.execute(text("INSERT INTO t VALUES (randomblob(3000))"))
    held = first.connect()
    held.execute(text("SELECT count(*) FROM t")).scalar()
    held.rollback()
    wal = path.with_name("shared.sqlite3-wal")
    wal_before = wal.stat().st_ino
    second = make_engine(url)
    try:
        subprocess.run([sys.executable, "-c", _READ_AND_CLOSE, str(path)], check=True, timeout=60)
        for _ in range(20):
            with second.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (randomblob(3000))"))
        assert held.execute(text("SELECT count(*) FROM t")).scalar() == 120
        assert wal.stat().st_ino == wal_before  # the other process left it in place
    finally:
        held.close()
        first.dispose()
        second.dispose()


def test_a_nir_copied_into_another_row_does_not_decrypt(database: Database,
                                                        settings: Settings) -> None:
    cipher = cipher_for(settings)
    first, second = factories.dossier(FAST_RETRY), factories.dossier(FAST_RETRY)
    writer = ProjectionWriter(settings)
    writer.dossier(first)
    writer.dossier(second)
    with database.engine.begin() as connection:
        rows = connection.execute(text("SELECT id, nir_encrypted, nir_hash FROM persons "
                                       "ORDER BY id")).all()
        # An attacker with write access swaps the first person's NIR into the second row.
        connection.execute(text("UPDATE persons SET nir_encrypted = :blob WHERE id = :id"),
                           {"blob": rows[-2].nir_encrypted, "id": rows[-1].id})
    with database.engine.connect() as connection:
        moved = connection.execute(text("SELECT nir_encrypted, nir_hash FROM persons "
                                        "WHERE id = :id"), {"id": rows[-1].id}).one()
    fields = person_fields_for(settings)
    with pytest.raises(InvalidTag):
        fields.nir(moved)
    assert fields.nir(rows[-2]) == first.person.nir
    # Values sealed before rows were bound still open.
    legacy = cipher.encrypt(first.person.nir)
    assert cipher.decrypt(legacy) == first.person.nir


def test_projection_is_idempotent_and_never_rewinds(database: Database, settings: Settings) -> None:
    writer = ProjectionWriter(settings)
    dossier = factories.dossier(FAST_RETRY)
    old = _step(dossier.dossier_id, _entry(1, "create", "created"))
    new = _step(dossier.dossier_id, _entry(2, "validate", "validated"))
    assert not _wrote(settings, old)  # no row yet: nothing written, the step is retried
    writer.dossier(dossier)
    for step in (old, new, new, old):  # retries, and an older step arriving late
        writer.step(step)
    with database.sessions() as session:
        row = session.get(Dossier, dossier.dossier_id)
        assert row.state == "validated" and row.last_seq == 2 and row.manager == "agent.dupont"
        assert [t.ack_id for t in session.scalars(select(TimelineEntry).order_by(TimelineEntry.seq))] == [
            "ACK-1", "ACK-2"]
        person = session.scalars(select(Person)).one()
        assert person_fields_for(settings).open(person).birth_name == dossier.person.birth_name


def _wrote(settings: Settings, step: DossierStep) -> bool:
    from store.projection import record_step

    database = Database(settings.effective_database_url)
    try:
        with database.sessions.begin() as session:
            return record_step(session, step)
    finally:
        database.dispose()


def test_record_dossier_step_activity_upserts(settings: Settings) -> None:
    activities = ProjectionActivities(ProjectionWriter(settings))
    dossier = factories.dossier(FAST_RETRY)
    step = dataclasses.replace(_step(dossier.dossier_id, _entry(1, "create", "created")), dossier=dossier)
    environment = ActivityEnvironment()
    environment.run(activities.record_dossier_step, step)
    environment.run(activities.record_dossier_step, step)  # a retry
    database = Database(settings.effective_database_url)
    with database.sessions() as session:
        assert session.scalar(select(Dossier.agora_dossier_id)) == "AG-1"
        assert len(session.scalars(select(TimelineEntry)).all()) == 1
    database.dispose()


def test_users_passwords_and_tokens(database: Database) -> None:
    with database.sessions.begin() as session:
        user = create_user(session, "camille", "un mot de passe long", ["dossier_manager", "auditor"])
        assert user.password_hash.startswith("$argon2id$")
    with database.sessions.begin() as session:
        assert authenticate(session, "camille", "faux") is None
        assert authenticate(session, "personne", "un mot de passe long") is None
        user = authenticate(session, "camille", "un mot de passe long")
        assert user is not None and user.role_codes == {"dossier_manager", "auditor"}
        token = issue_token(session, user, "api", timedelta(minutes=5))
    with database.sessions() as session:
        assert user_for_token(session, token, "api").username == "camille"
        assert user_for_token(session, token, "session") is None
        assert user_for_token(session, token + "x", "api") is None


def test_idempotency_keys_are_remembered_24_hours_then_forgotten(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from store.db import Database
    from store.exactly_once import IdempotencyKey, claim_key, remember_answer
    from store.models import utcnow

    database = Database(f"sqlite:///{tmp_path / 'keys.sqlite3'}")
    try:
        with database.sessions.begin() as session:
            assert claim_key(session, "u", "recent", "POST /api/x", "d1") is None
            remember_answer(session, "u", "recent", 201, "application/json", b"{}")
            assert claim_key(session, "v", "old", "POST /api/x", "d1") is None
            remember_answer(session, "v", "old", 201, "application/json", b"{}")
        with database.sessions.begin() as session:
            for row in session.query(IdempotencyKey):
                age = timedelta(hours=23) if row.key == "recent" else timedelta(hours=25)
                row.created_at = utcnow() - age
        with database.sessions.begin() as session:
            remembered = claim_key(session, "u", "recent", "POST /api/x", "d1")
            assert remembered is not None and remembered.status == 201  # 23 h: still a replay
            # Any claim forgets what is older than a day, whoever's it was.
            assert session.query(IdempotencyKey).filter_by(key="old").count() == 0
            assert claim_key(session, "v", "old", "POST /api/x", "d2") is None  # taken anew
    finally:
        database.dispose()
