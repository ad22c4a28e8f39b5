"""The page *Reprise d'antériorité*: upload, validation report, start, progress, report."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

import temporal_client
import worker as agora_worker
from api.app import create_app
from backfill.held import HeldDossiers
from backfill.validate import validate_export
from settings import Settings
from tests.fixtures_api import PASSWORD, seed_users, serve_in_thread
from tests.fixtures_backfill import sample_export


@pytest_asyncio.fixture
async def site(temporal_env: WorkflowEnvironment, backfill_settings: Settings,
               tmp_path: Path) -> AsyncIterator[str]:
    settings = dataclasses.replace(
        backfill_settings, database_url=f"sqlite:///{tmp_path / 'api.sqlite3'}",
        backfill_starts_per_second=100.0)
    target = temporal_env.client.service_client.config.target_host

    async def connect():  # type: ignore[no-untyped-def]
        return await temporal_client.connect(settings, target, temporal_env.client.namespace)

    app = create_app(settings, connect)
    seed_users(app.state.context.db)
    base_url, server, thread = serve_in_thread(app)
    async with agora_worker.build_worker(temporal_env.client, settings):
        yield base_url
    server.should_exit = True
    thread.join(timeout=5)
    app.state.context.db.dispose()


@asynccontextmanager
async def signed_in(base_url: str, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as browser:
        response = await browser.post("/connexion", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303
        yield browser


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


@pytest.mark.usefixtures("clean_simulator", "clean_file_channel")
async def test_upload_check_start_follow_and_download(site: str, tmp_path: Path) -> None:
    export = sample_export(tmp_path, 150)
    expected = validate_export(export, HeldDossiers()).as_json()
    async with signed_in(site, "gestionnaire") as browser:
        page = await browser.get("/reprise")
        assert page.status_code == 200 and "Reprise d'antériorité" in page.text
        checked = await browser.post("/reprise/controle", data={"csrf": csrf_of(page.text)},
                                     files={"export": ("export.csv", export.read_bytes(), "text/csv")})
        assert checked.status_code == 200, checked.text
        assert f"<td>prêtes à charger</td><td>{expected['ready']}</td>" in checked.text
        assert f"<td>lignes lues</td><td>{expected['rows']}</td>" in checked.text
        token = re.search(r'name="token" value="([0-9a-f]{32})"', checked.text).group(1)  # type: ignore[union-attr]
        report = await browser.get(f"/reprise/controle/{token}/rapport.csv")
        assert report.text.lstrip("\ufeff").startswith("ligne;num_dossier;classe;colonne;motif")

        started = await browser.post("/reprise/demarrer", data={
            "csrf": csrf_of(checked.text), "token": token, "once": "a" * 32})
        assert started.status_code == 303
        campaign_url = started.headers["location"]
        for _ in range(120):
            page = await browser.get(campaign_url)
            if "terminée" in page.text:
                break
            assert 'http-equiv="refresh"' in page.text  # redrawn while it runs
            await asyncio.sleep(0.5)
        assert "<strong>terminée</strong>" in page.text
        assert "<progress" in page.text and 'http-equiv="refresh"' not in page.text
        final = await browser.get(f"{campaign_url}/rapport.csv")
        assert final.status_code == 200
        assert final.text.lstrip("\ufeff").startswith("section;ligne;num_dossier")
        listed = await browser.get("/reprise")
        assert campaign_url.rsplit("/", 1)[1] in listed.text
        # The upload was consumed by the campaign.
        again = await browser.post("/reprise/demarrer", data={
            "csrf": csrf_of(checked.text), "token": token, "once": "b" * 32})
        assert again.status_code == 422 and "plus disponible" in again.text


async def test_an_unreadable_upload_is_explained_in_french(site: str) -> None:
    async with signed_in(site, "gestionnaire") as browser:
        page = await browser.get("/reprise")
        checked = await browser.post("/reprise/controle", data={"csrf": csrf_of(page.text)},
                                     files={"export": ("export.csv", b"num_dossier,nir,nom_naissance\n1,2,3\n", "text/csv")})
        assert checked.status_code == 422
        assert "Mauvais séparateur" in checked.text, checked.text[checked.text.find("alert"):][:300]


@pytest.mark.parametrize("username", ["marches", "auditeur", "admin"])
async def test_other_roles_may_not_run_a_backfill(site: str, username: str) -> None:
    async with signed_in(site, username) as browser:
        page = await browser.get("/reprise")
        assert page.status_code == 403
