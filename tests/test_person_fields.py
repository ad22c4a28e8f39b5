"""A person's identity in the store (names, birth date, sex, e-mail, phone) sealed under
their own data key: nothing in clear in the database file, bound to its row, found only
by keyed hashes, unreadable in every copy once the person's key is destroyed, and rows
written in clear before converted by the migration."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from cryptography.exceptions import InvalidTag
from sqlalchemy import create_engine, select, text

import crypto.person_keys
import store.person_fields
from contracts.dossier import DossierInput
from contracts.subject_request import CORRECTIONS
from crypto.codec import open_keys
from crypto.person_keys import PersonKeyErased
from settings import Settings
from store.crypto import cipher_for, seal_nir
from store.db import Database, alembic_config
from store.models import Dossier, Person
from store.person_fields import ERASED_IDENTITY, person_fields_for
from store.queries import DossierFilter, list_dossiers
from store.subject_requests import erase_persons, find_persons
from store.writer import ProjectionWriter
from tests import factories
from tests.conftest import FAST_RETRY

CLEAR_COLUMNS = ("birth_name", "usage_name", "first_names", "birth_date", "sex", "email", "phone")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # The migration reads the process's settings from the environment: the same folder.
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(tmp_path))
    return dataclasses.replace(Settings(), data_dir=tmp_path,
                               database_url=f"sqlite:///{tmp_path}/t.sqlite3")


@pytest.fixture
def database(settings: Settings):
    database = Database(settings.effective_database_url)
    yield database
    database.dispose()


def _dossier(birth_name: str = "", usage_name: str | None = None, first_names: str = "",
             birth_date: str = "", phone: str | None = "0612345678") -> DossierInput:
    dossier = factories.dossier(FAST_RETRY)
    person = dataclasses.replace(
        dossier.person, birth_name=birth_name or dossier.person.birth_name,
        usage_name=usage_name, first_names=first_names or dossier.person.first_names,
        birth_date=birth_date or dossier.person.birth_date, phone=phone)
    return dataclasses.replace(dossier, person=person)


def _snapshot(settings: Settings, to: Path) -> bytes:
    """A backup of the live database (SQLite's online backup: the WAL's pages included), and
    its bytes."""
    with sqlite3.connect(settings.effective_database_url.split("///", 1)[1]) as live, \
            sqlite3.connect(to) as copy:
        live.backup(copy)
    return to.read_bytes()


def _clear_values(dossier: DossierInput) -> list[bytes]:
    p = dossier.person
    return [v.encode() for v in (p.birth_name, p.usage_name, p.first_names, p.birth_date,
                                 p.email, p.phone) if v]


def test_the_identity_is_sealed_under_the_persons_key_and_bound_to_its_row(
        database: Database, settings: Settings) -> None:
    first, second = _dossier(usage_name="CASANOVA"), _dossier()
    writer = ProjectionWriter(settings)
    writer.dossier(first)
    writer.dossier(second)
    raw = _snapshot(settings, settings.data_dir / "copy.sqlite3")
    assert cipher_for(settings).lookup_hash(first.person.nir).encode() in raw  # rows are there
    assert not [v for v in _clear_values(first) + _clear_values(second) if v in raw]
    with database.engine.connect() as connection:
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(persons)"))}
    assert not columns & set(CLEAR_COLUMNS)

    fields = person_fields_for(settings)
    keys = open_keys(settings)
    with database.sessions() as session:
        rows = {p.id: p for p in session.scalars(select(Person))}
        by_nir = {p.nir_hash: p for p in rows.values()}
        one = by_nir[fields.cipher.lookup_hash(first.person.nir)]
        two = by_nir[fields.cipher.lookup_hash(second.person.nir)]
        # The same key as the person's dossier workflows (crypto-erasure reaches both).
        assert one.key_id == keys.for_person(first.person.nir) != two.key_id
        opened = fields.open(one)
        assert (opened.birth_name, opened.usage_name, opened.first_names, opened.birth_date,
                opened.email, opened.phone) == (
            first.person.birth_name, "CASANOVA", first.person.first_names,
            first.person.birth_date, first.person.email, first.person.phone)
    # An attacker with write access copies the first identity into the second row.
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE persons SET identity_sealed = :blob, key_id = :kid "
                                "WHERE id = :id"),
                           {"blob": one.identity_sealed, "kid": one.key_id, "id": two.id})
    with database.sessions() as session:
        moved = session.get(Person, two.id)
        assert moved is not None
        with pytest.raises(InvalidTag):
            fields.open(moved)


def test_after_crypto_erasure_no_copy_of_the_database_opens_the_identity(
        database: Database, settings: Settings, tmp_path: Path) -> None:
    erased, kept = _dossier(), _dossier()
    writer = ProjectionWriter(settings)
    writer.dossier(erased)
    writer.dossier(kept)
    backup = tmp_path / "backup.sqlite3"
    _snapshot(settings, backup)  # last night's backup, taken before the erasure

    fields = person_fields_for(settings)
    with database.sessions.begin() as session:
        person_id = session.scalars(select(Person.id).where(
            Person.nir_hash == fields.cipher.lookup_hash(erased.person.nir))).one()
        answered = erase_persons(session, fields, [person_id], datetime.now(UTC))
        assert answered == [(erased.person.nir, open_keys(settings).of_person(erased.person.nir))]
        assert open_keys(settings).erase_person(erased.person.nir)
    with database.sessions() as session:
        assert fields.open(session.get(Person, person_id)) == ERASED_IDENTITY

    copy = Database(f"sqlite:///{backup}")
    try:
        with copy.sessions() as session:
            persons = {p.nir_hash: p for p in session.scalars(select(Person))}
            old = persons[fields.cipher.lookup_hash(erased.person.nir)]
            assert old.identity_sealed is not None  # the backup still holds the ciphertext…
            with pytest.raises(PersonKeyErased):
                open_keys(settings).key(old.key_id)  # …whose key is gone
            assert fields.open(old) == ERASED_IDENTITY
            assert fields.nir(old) == "[effacé]"  # the NIR was sealed under that key too
            assert fields.open(persons[fields.cipher.lookup_hash(kept.person.nir)]).birth_name \
                == kept.person.birth_name
    finally:
        copy.dispose()
    assert not [v for v in _clear_values(erased) if v in backup.read_bytes()]


def test_names_are_searched_by_keyed_hashes_of_whole_words(database: Database,
                                                           settings: Settings) -> None:
    tag = factories.valid_nir(7)[-4:]
    accented = _dossier(birth_name=f"Pérétti-Santucci{tag}", usage_name=f"ORSONI{tag}",
                        first_names="Éloïse Marie", birth_date="1990-02-03")
    other = _dossier(birth_name=f"PERETTI{tag}X", first_names="Jean", birth_date="1990-02-03")
    writer = ProjectionWriter(settings)
    writer.dossier(accented)
    writer.dossier(other)
    cipher = cipher_for(settings)

    def found(query: str) -> set[str]:
        with database.sessions() as session:
            rows, _ = list_dossiers(session, cipher, DossierFilter(name=query), 1, 50)
            return {row.id for row in rows}

    assert found(f"santucci{tag}") == {accented.dossier_id}  # one word of a compound name
    assert found("eloise pérétti") == {accented.dossier_id}  # accents and case ignored
    assert found("eloise casanova") == set()  # every word typed must match
    assert found(f"ELOISE orsoni{tag}") == {accented.dossier_id}  # usage name, accents ignored
    assert found(f"peretti{tag}x") == {other.dossier_id}
    assert found("peret") == set()  # whole words only: a hash says nothing of a prefix

    with database.sessions() as session:
        [person] = find_persons(session, cipher, birth_name=f"  PERETTI santucci{tag} ",
                                birth_date="1990-02-03")
        assert person.nir_hash == cipher.lookup_hash(accented.person.nir)
        assert find_persons(session, cipher, birth_name=f"Pérétti-Santucci{tag}",
                            birth_date="1990-02-04") == []


def test_the_writer_seals_twice_per_write_and_keys_live_a_bounded_time(
        database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    sealed: list[int] = []
    real_seal = store.person_fields.seal

    def counting_seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
        sealed.append(len(plaintext))
        return real_seal(key, plaintext, associated)

    monkeypatch.setattr(store.person_fields, "seal", counting_seal)
    writer = ProjectionWriter(settings)
    dossier = _dossier()
    writer.dossier(dossier)
    writer.dossier(dossier)  # a correction of an existing person: sealed again
    # Per write: the NIR, then every identity field in one box.
    assert sealed == [len(dossier.person.nir), sealed[1]] * 2 and sealed[1] > 50

    keys = open_keys(settings)
    kid = keys.for_person(dossier.person.nir)
    assert keys.key(kid)
    path = keys.folder / "persons" / f"{kid}.json"
    original = path.read_text()
    path.write_text(original.replace('"wrapped": "', '"wrapped": "AAAA'))  # tampered on disk
    assert keys.key(kid)  # still the cached key…
    now = crypto.person_keys.time.monotonic()
    monkeypatch.setattr(crypto.person_keys.time, "monotonic",
                        lambda: now + crypto.person_keys.KEY_CACHE_SECONDS + 1)
    with pytest.raises(PersonKeyErased):
        keys.key(kid)  # …until its lifetime ends: read (and found altered) again
    path.write_text(original)
    assert keys.key(kid)


def test_rows_written_in_clear_before_are_sealed_by_the_migration(settings: Settings) -> None:
    url = settings.effective_database_url
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    cipher = cipher_for(settings)
    person = factories.person()
    nir_hash = cipher.lookup_hash(person.nir)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO persons (nir_hash, nir_encrypted, birth_name, usage_name, first_names, "
            "birth_date, sex, email, phone) VALUES (:h, :n, :b, NULL, :f, :d, :s, :e, NULL)"),
            {"h": nir_hash, "n": seal_nir(cipher, person.nir, nir_hash), "b": person.birth_name,
             "f": person.first_names, "d": person.birth_date, "s": person.sex,
             "e": person.email})
    engine.dispose()

    database = Database(url)  # migrates to head, as every process does at start-up
    try:
        with database.sessions() as session:
            row = session.scalars(select(Person)).one()
            opened = person_fields_for(settings).open(row)
            assert (opened.birth_name, opened.first_names, opened.birth_date, opened.email) == (
                person.birth_name, person.first_names, person.birth_date, person.email)
            assert row.key_id == open_keys(settings).for_person(person.nir)
            assert fields_nir(settings, row) == person.nir
            assert session.scalars(select(Dossier)).all() == []
            assert find_persons(session, cipher, birth_name=person.birth_name.lower(),
                                birth_date=person.birth_date) == [row]
    finally:
        database.dispose()
    with sqlite3.connect(url.split("///", 1)[1]) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(persons)")}
    assert not columns & set(CLEAR_COLUMNS)
    # Now under the person's key: erasing it erases the converted NIR and identity.
    assert open_keys(settings).erase_person(person.nir)
    database = Database(url)
    try:
        with database.sessions() as session:
            row = session.scalars(select(Person)).one()
            assert fields_nir(settings, row) == "[effacé]"
            assert person_fields_for(settings).open(row) == ERASED_IDENTITY
    finally:
        database.dispose()


def fields_nir(settings: Settings, row: Person) -> str:
    return person_fields_for(settings).nir(row)


def test_values_sealed_for_another_payload_are_gone_with_the_persons_key(
        settings: Settings) -> None:
    keys = open_keys(settings)
    person = factories.person()
    kid = keys.for_person(person.nir)
    sealed = keys.seal_text(kid, '{"first_names": "Anna"}', CORRECTIONS)
    assert "Anna" not in sealed and sealed.startswith(f"{kid}:")
    assert keys.open_text(sealed, CORRECTIONS) == '{"first_names": "Anna"}'
    with pytest.raises(PersonKeyErased):
        keys.open_text(sealed, "another-purpose")  # bound to what it was sealed for
    assert keys.erase_person(person.nir)
    with pytest.raises(PersonKeyErased):
        keys.open_text(sealed, CORRECTIONS)
