"""The front door holds under bad input, load and outages (issue 11): Temporal or the
database out → 503 with Retry-After, never a 500; security headers; bodies limited before
being read; sign-in throttled and off the event loop; no NIR in errors or access logs;
production refuses the development conveniences; the simulator is as strict as a provider.

The app here is served over real HTTP (uvicorn in a thread) with a Temporal address
nobody listens on, so "Temporal unreachable" is the real connection error."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import shutil
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from sqlalchemy import select

import temporal_client
from agora import operations
from agora.simulator.app import create_app as create_simulator_app
from agora.simulator.config import ADMIN_TOKEN_HEADER, SimulatorConfig
from api.app import create_app
from api.errors import InvalidFields, Refused
from api.signin import throttle
from settings import Settings
from store.crypto import KEY_ENV
from store.db import Database
from store.production import DEMO_PASSWORD, UnsafeConfiguration, problems, refuse_unsafe_start
from store.sign_in_log import FAILURE, LOCKOUT, SignInAttempt
from store.users import create_user
from tests.api_helpers import create_payload, registered
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, USERS, ApiHandle, seed_users, serve_in_thread

TEMPLATES = Path(__file__).parent.parent / "api" / "templates"


@dataclasses.dataclass
class Offline:
    """The API with Temporal unreachable."""

    base_url: str
    app: Any
    database: Database

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30, **kwargs)


def _settings(tmp: Path, **changes: Any) -> Settings:
    return dataclasses.replace(Settings(), data_dir=tmp, database_url=f"sqlite:///{tmp / 'db' / 'api.sqlite3'}",
                               task_queue="front-door", **changes)


def _serve(settings: Settings) -> tuple[Offline, Any]:
    async def unreachable() -> Any:  # port 1: nothing listens there
        return await temporal_client.connect(settings, "127.0.0.1:1")

    app = create_app(settings, unreachable)
    seed_users(app.state.context.db)
    base_url, server, thread = serve_in_thread(app)
    return Offline(base_url, app, app.state.context.db), (server, thread)


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    handle, (server, thread) = _serve(_settings(tmp_path_factory.mktemp("front-door")))
    yield handle
    server.should_exit = True
    thread.join(timeout=5)
    handle.database.dispose()


@pytest.fixture(autouse=True)
def _fresh_sign_in_log(request: pytest.FixtureRequest) -> None:
    # Each test starts with no failed sign-in (the throttle would carry over).
    if "offline" in request.fixturenames:
        database: Database = request.getfixturevalue("offline").database
        with database.sessions.begin() as session:
            session.query(SignInAttempt).delete()


@asynccontextmanager
async def _signed_in(offline: Offline, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with offline.client() as client:
        answer = await client.post("/connexion", data={"username": username, "password": PASSWORD})
        assert answer.status_code == 303, answer.text
        yield client


async def _token(offline: Offline, username: str) -> str:
    async with offline.client() as client:
        answer = await client.post("/api/token", data={"username": username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def _routes(app: Any) -> list[APIRoute]:
    found: list[APIRoute] = []
    for route in app.routes:
        inner = getattr(route, "original_router", None)  # an included router
        found += [r for r in (inner.routes if inner else [route]) if isinstance(r, APIRoute)]
    return found


# --- Temporal or the database out: 503 with Retry-After, never 500 ---------------------


async def test_with_temporal_unreachable_sign_in_and_store_pages_work(offline: Offline) -> None:
    async with offline.client() as anonymous:
        assert (await anonymous.get("/connexion")).status_code == 200
        assert (await anonymous.get("/static/style.css")).status_code == 200
    async with _signed_in(offline, "gestionnaire") as browser:
        listing = await browser.get("/dossiers")
        assert listing.status_code == 200 and "Dossiers" in listing.text
        form = await browser.get("/dossiers/nouveau")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        person, action = create_payload()["person"], create_payload()["action"]
        incomplete = await browser.post("/dossiers/nouveau", data={"csrf": csrf})
        assert incomplete.status_code == 422, incomplete.text  # bad input: named, never a 500
        submitted = await browser.post("/dossiers/nouveau", data={"csrf": csrf, **person, **action})
        assert submitted.status_code == 503, submitted.text
        assert "indisponible" in submitted.text and "Traceback" not in submitted.text
        assert submitted.headers["retry-after"].isdigit()


async def test_with_temporal_unreachable_the_api_answers_503_with_retry_after(offline: Offline) -> None:
    token = await _token(offline, "gestionnaire")
    async with offline.client(headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/api/dossiers")).status_code == 200  # the store alone
        created = await client.post("/api/dossiers", json=create_payload())
    assert created.status_code == 503, created.text
    assert created.json()["detail"]["code"] == "TemporalUnavailable"
    assert int(created.headers["retry-after"]) > 0


async def test_with_temporal_unreachable_no_route_answers_500(offline: Offline) -> None:
    """Every route of the app, for a user of each role, pages and API: a 503 at worst."""
    answers: list[tuple[str, str, str, int]] = []
    for username in USERS:
        # The walk posts empty sign-in forms (failures): each user starts unthrottled.
        with offline.database.sessions.begin() as session:
            session.query(SignInAttempt).delete()
        token = await _token(offline, username)
        async with _signed_in(offline, username) as browser, offline.client(headers={"Authorization": f"Bearer {token}"}) as api:
            for route in _routes(offline.app):
                if route.path in ("/deconnexion",):
                    continue  # would sign the browser out for the next routes
                path = re.sub(r"\{[^}]+\}", "X-1", route.path)
                for method in sorted(route.methods - {"HEAD"}):
                    if path.startswith("/api/"):
                        answer = await api.request(method, path, json={} if method != "GET" else None)
                    else:
                        answer = await browser.request(method, path, data={} if method != "GET" else None)
                    answers.append((username, method, path, answer.status_code))
                    if answer.status_code == 503:
                        assert "retry-after" in answer.headers, (method, path)
    assert [a for a in answers if a[3] >= 500 and a[3] != 503] == []
    assert any(a[3] == 503 for a in answers)  # the Temporal-backed ones did say so


@pytest_asyncio.fixture
async def database_gone(tmp_path: Path) -> AsyncIterator[Offline]:
    """The API whose database has gone away after it started (its folder removed)."""
    settings = _settings(tmp_path)
    handle, (server, thread) = _serve(settings)
    token = await _token(handle, "gestionnaire")
    async with _signed_in(handle, "gestionnaire") as browser:
        shutil.rmtree(tmp_path / "db")
        handle.database.engine.dispose()  # no open connection keeps the old file alive
        handle.app.state.token, handle.app.state.browser = token, browser
        yield handle
    server.should_exit = True
    thread.join(timeout=5)


async def test_with_the_database_unreachable_answers_are_503_without_a_stack_trace(
        database_gone: Offline) -> None:
    headers = {"Authorization": f"Bearer {database_gone.app.state.token}"}
    async with database_gone.client(headers=headers) as client:
        listing = await client.get("/api/dossiers")
        created = await client.post("/api/dossiers", json=create_payload())
    for answer in (listing, created):
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"]["code"] == "DatabaseUnavailable"
        assert "Traceback" not in answer.text and "sqlite" not in answer.text.lower()
        assert answer.headers["retry-after"].isdigit()
    page = await database_gone.app.state.browser.get("/dossiers")
    assert page.status_code == 503 and "Base de données indisponible" in page.text
    async with database_gone.client() as anonymous:
        assert (await anonymous.get("/connexion")).status_code == 200


# --- security headers --------------------------------------------------------------------


async def test_pages_carry_security_headers_and_no_store(offline: Offline) -> None:
    async with offline.client() as client:
        page = await client.get("/connexion")
        static = await client.get("/static/style.css")
        api = await client.get("/api/dossiers")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src
    assert page.headers["referrer-policy"] and page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert api.headers["cache-control"] == "no-store"  # 401, but the headers are there
    assert "no-store" not in static.headers.get("cache-control", "")


def test_templates_hold_no_inline_script() -> None:
    # The policy forbids inline scripts: a page relying on one would silently break.
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template.name
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert "javascript:" not in text, template.name


# --- request bodies limited --------------------------------------------------------------


async def _raw_post(base_url: str, path: str, headers: dict[str, str],
                    chunks: list[bytes] = (),  # type: ignore[assignment]
                    verify: bool | str = True) -> tuple[int, bytes]:
    """POST over a bare socket: the headers, then ``chunks`` (chunked encoding) for as long
    as the server reads them; the answer's status and body. Without chunks, the body
    declared by Content-Length is never sent: an answer proves the server did not wait
    for it."""
    secure = base_url.startswith("https://")
    host, port = base_url.removeprefix("https://").removeprefix("http://").split(":")
    context = (ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
               if secure else None)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    head = "".join(f"{k}: {v}\r\n" for k, v in {"host": host, **headers}.items())
    writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())

    async def send_chunks() -> None:
        try:
            for chunk in chunks:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                # As a client uploading: the server reads each chunk before the next comes,
                # so it closes with nothing unread (else its close resets the connection
                # and drops the answer).
                await asyncio.sleep(0.005)
        except ConnectionError:
            pass  # the server answered and closed: the rest was never read

    # Read while sending: the answer comes as soon as the limit is passed, and the sending
    # stops there (a socket closed with unread data would be reset before we read it).
    sending = asyncio.create_task(send_chunks())
    try:
        head_bytes = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    finally:
        sending.cancel()
    length = re.search(rb"(?i)content-length: *(\d+)", head_bytes)
    body = await asyncio.wait_for(reader.readexactly(int(length.group(1)) if length else 0), 20)
    writer.close()
    return int(head_bytes.split(b" ", 2)[1]), body


async def test_a_body_over_the_limit_is_refused_before_being_read_or_authenticated(
        offline: Offline) -> None:
    two_mib = str(2 * 1024 * 1024)
    declared = await _raw_post(offline.base_url, "/api/dossiers", {
        "content-type": "application/json", "content-length": two_mib})
    form = await _raw_post(offline.base_url, "/connexion", {
        "content-type": "application/x-www-form-urlencoded", "content-length": two_mib})
    streamed = await _raw_post(offline.base_url, "/api/dossiers", {
        "content-type": "application/json", "transfer-encoding": "chunked"}, [b" " * 16384] * 160)
    assert declared[0] == 413 and b"BodyTooLarge" in declared[1]
    assert form[0] == 413 and streamed[0] == 413, (form, streamed)
    async with offline.client() as anonymous:
        small = await anonymous.post("/api/dossiers", json=create_payload())
    assert small.status_code == 401  # under the limit: authentication decides


async def test_a_page_form_over_the_limit_gets_a_page_in_french(offline: Offline) -> None:
    status, body = await _raw_post(offline.base_url, "/reprise/controle", {
        "content-type": "multipart/form-data; boundary=x",
        "content-length": str(400 * 1024 * 1024)})
    assert status == 413
    page = body.decode()
    assert page.startswith("<!doctype html>") and "Envoi trop volumineux" in page
    assert "rien n&#x27;a été enregistré" in page and 'href="/reprise"' in page
    api_status, api_body = await _raw_post(offline.base_url, "/api/dossiers", {
        "content-type": "application/json", "content-length": str(2 * 1024 * 1024)})
    assert api_status == 413 and b"BodyTooLarge" in api_body


async def test_the_body_limit_is_configurable(tmp_path: Path) -> None:
    handle, (server, thread) = _serve(_settings(tmp_path, max_body_bytes=2048))
    try:
        async with handle.client() as anonymous:
            answer = await anonymous.post("/api/dossiers", content=b"x" * 4096,
                                          headers={"content-type": "application/json"})
        assert answer.status_code == 413
        assert "2048" in answer.json()["detail"]["message"]
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        handle.database.dispose()


async def test_the_simulator_refuses_a_body_over_the_limit(simulator: SimulatorHandle) -> None:
    declared = await _raw_post(simulator.base_url, "/agora", verify=simulator.verify, headers={
        "content-type": "text/xml", "content-length": str(2 * 1024 * 1024)})
    streamed = await _raw_post(simulator.base_url, "/agora", verify=simulator.verify, headers={
        "content-type": "text/xml", "transfer-encoding": "chunked"}, chunks=[b" " * 16384] * 160)
    assert declared[0] == 413 and streamed[0] == 413


# --- sign-in -----------------------------------------------------------------------------


async def test_after_five_failures_even_the_right_password_waits(offline: Offline) -> None:
    async with offline.client() as client:
        for _ in range(5):
            wrong = await client.post("/api/token", data={"username": "auditeur", "password": "faux"})
            assert wrong.status_code == 401
        right = await client.post("/api/token", data={"username": "auditeur", "password": PASSWORD})
        page = await client.post("/connexion", data={"username": "auditeur", "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    assert "access_token" not in right.text
    assert page.status_code == 429 and "session" not in page.headers.get("set-cookie", "")
    assert "Trop de tentatives" in page.text
    with offline.database.sessions() as session:
        rows = session.scalars(select(SignInAttempt).where(SignInAttempt.username == "auditeur")
                               .order_by(SignInAttempt.id)).all()
    assert [r.outcome for r in rows] == [FAILURE] * 5 + [LOCKOUT] * 2
    assert {r.address for r in rows} == {"127.0.0.1"} and all(r.at for r in rows)


async def test_failures_from_one_address_lock_that_address_out(offline: Offline) -> None:
    async with offline.client() as client:
        for username in ("u1", "u2", "u3", "u4", "u5"):
            await client.post("/api/token", data={"username": username, "password": "faux"})
        other_user = await client.post("/api/token", data={"username": "marches", "password": PASSWORD})
    assert other_user.status_code == 429


async def test_the_wait_grows_with_each_failure_and_ends(offline: Offline) -> None:
    from datetime import timedelta

    from store.sign_in_log import wait_seconds

    window = timedelta(minutes=15)
    waits = []
    with offline.database.sessions.begin() as session:
        for _ in range(8):
            session.add(SignInAttempt(username="admin", address="10.0.0.9", outcome=FAILURE))
            session.flush()
            waits.append(round(wait_seconds(session, "admin", "10.0.0.9", 5, window)))
    assert waits[:4] == [0, 0, 0, 0] and waits[4:] == [1, 2, 4, 8]
    with offline.database.sessions.begin() as session:  # the failures are now old: free again
        for row in session.scalars(select(SignInAttempt)):
            row.at = row.at - timedelta(hours=1)
    async with offline.client() as client:
        ok = await client.post("/api/token", data={"username": "admin", "password": PASSWORD})
    assert ok.status_code == 200


async def test_sign_in_records_no_password_in_logs(offline: Offline, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with offline.client() as client:
            await client.post("/api/token", data={"username": "operateur", "password": "secret-123456"})
    assert "operateur" in caplog.text and "127.0.0.1" in caplog.text
    assert "secret-123456" not in caplog.text


async def test_a_nir_typed_as_a_username_is_recorded_masked(
        offline: Offline, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with offline.client() as client:
            refused = await client.post("/api/token", data={"username": NIR, "password": "faux"})
    assert refused.status_code == 401
    with offline.database.sessions() as session:
        recorded = session.scalars(select(SignInAttempt.username)).all()
    assert recorded == [f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} ** *** *** **"]
    assert NIR not in caplog.text


async def test_password_checks_run_off_the_event_loop(offline: Offline, monkeypatch: pytest.MonkeyPatch) -> None:
    """While one sign-in is held inside its password check, the server still answers."""
    entered, release = threading.Event(), threading.Event()
    real = throttle.authenticate

    def held(*args: Any) -> Any:
        entered.set()
        release.wait(30)
        return real(*args)

    monkeypatch.setattr(throttle, "authenticate", held)
    async with offline.client() as signing, offline.client() as other:
        sign_in = asyncio.create_task(signing.post("/api/token", data={
            "username": "gestionnaire", "password": PASSWORD}))
        try:
            assert await asyncio.to_thread(entered.wait, 30)
            # On the event loop, the check would hold this answer until the release.
            static = await asyncio.wait_for(other.get("/static/style.css"), 20)
            assert static.status_code == 200 and not release.is_set()
        finally:
            release.set()
        assert (await sign_in).status_code == 200


async def test_the_session_cookie_is_secure_behind_https(offline: Offline) -> None:
    context = offline.app.state.context
    plain = context.settings
    try:
        context.settings = dataclasses.replace(plain, public_url="https://agora-flow.example.fr")
        async with offline.client() as client:  # HTTP here: TLS ends at the proxy
            behind_proxy = await client.post("/connexion", data={"username": "gestionnaire",
                                                                 "password": PASSWORD})
    finally:
        context.settings = plain
    async with offline.client() as client:
        local = await client.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
    assert "secure" in behind_proxy.headers["set-cookie"].lower()
    assert "httponly" in behind_proxy.headers["set-cookie"].lower()
    assert "secure" not in local.headers["set-cookie"].lower()


# --- personal data out of side channels -------------------------------------------------


NIR = create_payload()["person"]["nir"]


async def test_a_nir_never_comes_back_in_an_error(offline: Offline) -> None:
    token = await _token(offline, "gestionnaire")
    wrong_key = NIR[:13] + f"{(int(NIR[13:]) % 97) + 1:02d}"
    payload = create_payload()
    payload["person"] = {**payload["person"], "nir": wrong_key, "birth_date": wrong_key}
    async with offline.client(headers={"Authorization": f"Bearer {token}"}) as client:
        refused = await client.post("/api/dossiers", json=payload)
        wrong_type = await client.post("/api/dossiers", json={**payload, "person": wrong_key})
    assert refused.status_code == 422 and wrong_type.status_code == 422
    for answer in (refused, wrong_type):
        assert wrong_key not in answer.text


def test_refusals_mask_a_nir_they_quote() -> None:
    # AGORA's fault messages, and reasons, may quote a NIR: shown masked wherever they go.
    refused = Refused(502, "agora:Inconnu", f"Titulaire {NIR} inconnu")
    invalid = InvalidFields([(("body", "person", "nir"), f"{NIR} déjà pris")])
    for text in (refused.message, invalid.errors[0][1]):
        assert NIR not in text and f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} **" in text


# --- production refuses the development conveniences -----------------------------------


def _production(tmp: Path, **changes: Any) -> Settings:
    base = {"env": "production", "simulator_admin": False,
            "public_url": "https://agora-flow.region.example.fr",
            "metrics_token": "jeton-de-collecte",
            "vi_signing_cert": "/etc/agora-flow/region.cert.pem",
            "vi_signing_key": "/etc/agora-flow/region.key.pem"}
    return dataclasses.replace(_settings(tmp), **{**base, **changes})


def test_production_refuses_each_development_convenience(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    database = Database(_production(tmp_path).effective_database_url)
    try:
        monkeypatch.setenv(KEY_ENV, "configured-by-the-operator")
        assert problems(_production(tmp_path), database) == []
        refuse_unsafe_start(_production(tmp_path), database, "API")  # a clean start

        unsafe = _production(tmp_path, public_url="http://agora-flow.region.example.fr",
                             simulator_admin=True)
        with database.sessions.begin() as session:
            create_user(session, "gestionnaire", DEMO_PASSWORD, ["dossier_manager"])
        monkeypatch.delenv(KEY_ENV)
        with pytest.raises(UnsafeConfiguration) as refused:
            refuse_unsafe_start(unsafe, database, "worker")
        text = str(refused.value)
        for french, english in (("clé de données", "data key"), ("HTTPS", "HTTPS"),
                                ("simulateur", "simulator"), ("démonstration", "demo users")):
            assert french in text and english in text
        assert len(problems(unsafe, database)) == 4
        # Development mode lets the same configuration start.
        refuse_unsafe_start(dataclasses.replace(unsafe, env="development"), database, "API")
    finally:
        database.dispose()


async def test_the_api_and_the_worker_refuse_to_start_unsafe_in_production(tmp_path: Path) -> None:
    import worker

    unsafe = _production(tmp_path, public_url="http://agora-flow.region.example.fr")

    async def never() -> Any:
        raise AssertionError("Temporal must not even be asked")

    with pytest.raises(UnsafeConfiguration, match="API"):
        create_app(unsafe, never)
    # Refused before connecting to Temporal (nothing listens at this address anyway).
    with pytest.raises(UnsafeConfiguration, match="worker"):
        await worker.run(dataclasses.replace(unsafe, temporal_address="127.0.0.1:1"))


def test_production_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGORA_FLOW_ENV")
    assert Settings().env == "production" and not Settings().simulator_admin


def test_check_config_lists_every_problem_in_french_and_english(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    for name, value in {"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}",
                        "PUBLIC_URL": "http://127.0.0.1:8000", "SIMULATOR_ADMIN": "true",
                        "DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(f"AGORA_FLOW_{name}", value)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["check-config"])
    out = capsys.readouterr().out
    assert exited.value.code == 1
    assert "5 problème(s)" in out and "problem(s) for production" in out
    assert "pas en HTTPS" in out and "not HTTPS" in out
    assert "(/metrics) sont ouvertes à tous" in out
    assert "signés par la PKI de développement" in out and "development PKI" in out
    monkeypatch.setenv("AGORA_FLOW_VI_SIGNING_CERT", "/etc/agora-flow/region.cert.pem")
    monkeypatch.setenv("AGORA_FLOW_VI_SIGNING_KEY", "/etc/agora-flow/region.key.pem")
    monkeypatch.setenv("AGORA_FLOW_PUBLIC_URL", "https://agora-flow.region.example.fr")
    monkeypatch.setenv("AGORA_FLOW_METRICS_ALLOWED_ADDRESSES", "10.1.0.0/16")
    monkeypatch.setenv("AGORA_FLOW_SIMULATOR_ADMIN", "false")
    monkeypatch.setenv(KEY_ENV, "configured-by-the-operator")
    main(["check-config"])  # no SystemExit: ready
    assert "prête pour la production" in capsys.readouterr().out


# --- the simulator, as strict as a provider ----------------------------------------------


async def test_the_simulator_admin_needs_its_token_and_is_off_outside_development(
        simulator: SimulatorHandle, tmp_path: Path) -> None:
    assert simulator.config.admin_token
    async with httpx.AsyncClient(base_url=simulator.admin_url, timeout=10,
                                 verify=simulator.ssl_context) as admin:
        assert (await admin.get("/effects")).status_code == 403
        assert (await admin.get("/effects", headers={ADMIN_TOKEN_HEADER: "devine"})).status_code == 403
        assert (await admin.get("/effects", headers=simulator.admin_headers)).status_code == 200
    production = SimulatorConfig.from_settings(_production(tmp_path))
    assert production.admin_token is None
    app = create_simulator_app(production)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        assert (await client.get("/admin/effects")).status_code == 404
        assert (await client.post("/admin/faults", json={"kind": "http503"})).status_code == 404
        assert (await client.get("/admin/docs")).status_code == 404


def test_a_dtd_in_a_request_gets_a_soap_fault(simulator: SimulatorHandle) -> None:
    envelope = b"""<?xml version="1.0"?>
<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><x>&lol2;</x></soap:Body></soap:Envelope>"""
    answer = httpx.post(simulator.url, content=envelope, timeout=10, verify=simulator.ssl_context,
                        headers={"content-type": "text/xml; charset=utf-8"})
    # A SOAP fault (a business refusal the client does not retry), not a bare 500.
    assert answer.status_code == 500 and "Fault" in answer.text
    assert operations.FAULT_INVALID_DATA.split(":")[1] in answer.text
    assert "DTD" in answer.text and "lollol" not in answer.text


async def test_every_state_changing_json_endpoint_takes_an_idempotency_key(offline: Offline) -> None:
    """The key is read on every POST/PUT/PATCH/DELETE of the JSON API (sign-in aside): an
    unusable one is refused on each, naming the header, before anything else happens."""
    routes = [(method, re.sub(r"\{[^}]+\}", "X-1", route.path))
              for route in _routes(offline.app) if route.path.startswith("/api/")
              for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(routes) >= 10
    token = await _token(offline, "admin")
    async with offline.client(headers={"Authorization": f"Bearer {token}",
                                       "Idempotency-Key": "k" * 300}) as client:
        for method, path in routes:
            answer = await client.request(method, path, json={})
            if path == "/api/token":
                assert answer.status_code != 422 or "Idempotency-Key" not in answer.text
                continue
            assert answer.status_code == 422, (method, path, answer.text)
            assert answer.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"], (method, path)


async def test_with_temporal_unreachable_a_dossier_still_shows_from_the_store(api: ApiHandle) -> None:
    """A dossier created while Temporal was up; then an API process that cannot reach
    Temporal (same database): its page and its JSON render from the store, its events
    answer 503."""
    async with api.client("gestionnaire") as client:
        created = await client.post("/api/dossiers", json=create_payload())
        assert created.status_code == 201, created.text
        dossier_id = created.json()["dossier_id"]
        await registered(client, dossier_id)

    async def unreachable() -> Any:
        return await temporal_client.connect(api.settings, "127.0.0.1:1")

    app = create_app(api.settings, unreachable)
    base_url, server, thread = serve_in_thread(app)
    handle = Offline(base_url, app, app.state.context.db)
    try:
        token = await _token(handle, "gestionnaire")
        async with handle.client(headers={"Authorization": f"Bearer {token}"}) as client:
            detail = await client.get(f"/api/dossiers/{dossier_id}")
            event = await client.post(f"/api/dossiers/{dossier_id}/events/validate",
                                      json={"validation_date": "2026-01-05"})
        async with _signed_in(handle, "gestionnaire") as browser:
            page = await browser.get(f"/dossiers/{dossier_id}")
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        handle.database.dispose()
    assert detail.status_code == 200 and detail.json()["dossier_id"] == dossier_id
    assert page.status_code == 200 and dossier_id in page.text
    assert event.status_code == 503 and event.headers["retry-after"].isdigit()
