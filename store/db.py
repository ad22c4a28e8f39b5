"""Engine, sessions and programmatic Alembic migrations (no alembic.ini needed)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from crypto.keyring import write_private

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            database = Path(path)
            database.parent.mkdir(parents=True, exist_ok=True)
            if not database.exists():
                # Created readable by its owner only: it holds personal data. SQLite gives
                # its WAL and shared-memory files the database file's permissions.
                # Made under another name and linked into place, never by opening and
                # closing the database file: closing any descriptor of a file drops every
                # POSIX lock this process holds on it, SQLite's too, and another process
                # closing its last connection then takes itself for the last one, deletes
                # the WAL and leaves our open connections reading the deleted one ("file is
                # not a database").
                write_private(database, "", exclusive=True)
        # The API and the worker's activity threads write the same file: wait for locks.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # Safe in WAL mode against a process crash; a power cut may lose the last commits,
            # which the workflows (the source of truth) write again on their next event.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any constant shared by every process of the product: the advisory lock's key on PostgreSQL.
_MIGRATION_LOCK_KEY = 0x61676F7261  # "agora"


def migrate(engine: Engine) -> None:
    """Bring the schema to the latest revision (run at start-up and in tests).

    Several processes (the API, one or more workers) start together on the same database:
    each migrates under a lock, so the first creates the schema and the others find it at
    head (without the lock the second died on "table … already exists")."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _migration_lock(engine), engine.begin() as connection:
        _lock_in_transaction(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an exclusive lock on a file beside the database (its DDL runs outside any
    transaction, so the database itself cannot serialise the migrations)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with os.fdopen(os.open(f"{database}.migrate-lock", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                           0o600), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _lock_in_transaction(connection: Connection) -> None:
    """PostgreSQL: a transaction-scoped advisory lock, released with the migration's commit."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


_sqlite_writers: dict[str, threading.RLock] = {}
_sqlite_writers_guard = threading.Lock()


def sqlite_writer(engine: Engine) -> threading.RLock | None:
    """SQLite: the lock every writer of this database file in this process takes around its
    transaction (projections, trace log, …). SQLite has one writer at a time; writers that
    queue on their own locks instead met in SQLite, where a transaction that read before it
    wrote fails at once (busy snapshot) and is tried again. None for other databases."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.render_as_string(hide_password=False)
    with _sqlite_writers_guard:
        return _sqlite_writers.setdefault(name, threading.RLock())


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class Database:
    """One engine per process and URL, migrated once."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self.sessions = session_factory(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
