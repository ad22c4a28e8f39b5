"""The store and the API suite on a real PostgreSQL server, started for this module.

Uses Debian's PostgreSQL binaries (installed by .ci/run) and the psycopg driver;
skipped, saying why, when either is missing.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from settings import Settings

psycopg = pytest.importorskip("psycopg", reason="the psycopg driver is not installed")

# Re-run the store and API tests here, with the database fixtures overridden below; and
# the tests of one effect per request, where the unique constraints decide between
# concurrent requests.
from tests.fixtures_api import api  # noqa: F401
from tests.test_api import *
from tests.test_funders import (  # noqa: F401  (the dossier's JSON columns)
    test_a_correction_of_the_funders_reaches_agora_and_the_store,
    test_the_page_shows_funders_entry_and_exit_from_the_store_without_the_workflow,
)
from tests.test_idempotency import (  # noqa: F401
    test_a_form_submitted_twice_is_one_event,
    test_concurrent_creations_with_one_key_make_one_dossier,
    test_same_key_same_body_answers_the_first_answer_again,
    test_two_concurrent_creations_of_one_person_on_one_action_make_one_dossier,
)
from tests.test_store import (  # noqa: F401
    database,
    test_migrations_create_the_schema_and_the_roles,
    test_nir_is_encrypted_at_rest_and_found_by_keyed_hash,
    test_processes_starting_together_migrate_a_fresh_database_once,
    test_projection_is_idempotent_and_never_rewinds,
    test_record_dossier_step_activity_upserts,
    test_users_passwords_and_tokens,
)

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("clean_simulator")]


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A throwaway cluster; returns the admin URL. PostgreSQL refuses to run as root,
    so under root it runs as the ``postgres`` system user."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    # Not under pytest's tmp: that is private to root, and the server may run as postgres.
    base = Path(tempfile.mkdtemp(prefix="agora-flow-pg-"))
    data = base / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        shutil.chown(base, account.pw_uid, account.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "agora",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = _free_port()
    server = subprocess.Popen(
        [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1",
         "-k", str(data), "-c", "fsync=off", "-c", "synchronous_commit=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"postgresql+psycopg://agora@127.0.0.1:{port}/postgres"
    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(f"host=127.0.0.1 port={port} user=agora dbname=postgres").close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)
    shutil.rmtree(base, ignore_errors=True)


def _new_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:10]}"
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="module")
def api_database_url(pg_server: str) -> str:
    return _new_database(pg_server)


@pytest.fixture
def settings(tmp_path: Path, pg_server: str) -> Settings:
    return dataclasses.replace(Settings(), data_dir=tmp_path, database_url=_new_database(pg_server))
