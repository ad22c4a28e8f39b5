"""The trace log moved from SQLite to PostgreSQL with ``traces export-archive`` /
``import-archive``: ``traces verify`` passes on the new store, and fails there once a record
is changed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import update

from cli import main as cli_main
from settings import Settings
from store.authorisations import history
from store.trace_models import TraceRecord
from store.traces import TraceStore, region_identity
from store.users import create_user
from tests.test_postgres import _new_database, pg_server  # noqa: F401
from tests.test_traces import _fill

pytestmark = pytest.mark.postgres


def test_sqlite_log_moved_to_postgresql_still_verifies(
        agora_settings: Settings, pg_server: str, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'traces.sqlite3'}"
    settings = dataclasses.replace(agora_settings, database_url=sqlite_url)
    store = TraceStore(settings)
    _fill(store)
    with store.database.sessions.begin() as session:  # the authorisation history moves too
        create_user(session, "camille", "un mot de passe long", ["auditor"], partner="REGION-CORSE")
    store.checkpoint(region_identity(settings))
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(settings.data_dir))
    archive = str(tmp_path / "traces.jsonl")
    postgres_url = _new_database(pg_server)

    cli_main(["traces", "export-archive", archive, "--database-url", sqlite_url])
    cli_main(["traces", "import-archive", archive, "--database-url", postgres_url])
    cli_main(["traces", "verify", "--database-url", postgres_url])
    assert "intègres" in capsys.readouterr().out
    with TraceStore(dataclasses.replace(settings, database_url=postgres_url)).reading() as session:
        assert [r.username for r in history(session)] == ["camille"]
    with pytest.raises(SystemExit):  # an import never merges into a log already there
        cli_main(["traces", "import-archive", archive, "--database-url", postgres_url])

    moved = TraceStore(dataclasses.replace(settings, database_url=postgres_url))
    with moved.database.sessions.begin() as session:
        session.execute(update(TraceRecord).where(TraceRecord.seq == 2).values(attempt=9))
    with pytest.raises(SystemExit) as failed:
        cli_main(["traces", "verify", "--database-url", postgres_url])
    assert failed.value.code == 1 and "traces n° 2 (modifié)" in capsys.readouterr().err
