"""pytest fixtures for the API: a migrated SQLite database in tmp, a worker on its own
task queue, and the app served by uvicorn in a background thread on a free port.

One stack per test module (creating users and a worker per test would cost seconds);
every test creates its own dossiers, so tests do not depend on each other.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import temporal_client
import worker as agora_worker
from api.app import create_app
from settings import Settings
from store.db import Database
from store.users import create_user
from tests.conftest import FAST_RETRY
from tests.fixtures_agora import SimulatorHandle

PASSWORD = "mot-de-passe-de-test"
# One user per role; "multi" holds two roles.
USERS: dict[str, list[str]] = {
    "gestionnaire": ["dossier_manager"],
    "marches": ["market_manager"],
    "operateur": ["operator"],
    "auditeur": ["auditor"],
    "admin": ["administrator"],
    "dpd": ["dpo"],
}


@dataclasses.dataclass
class ApiHandle:
    base_url: str
    settings: Settings
    database: Database
    _tokens: dict[str, str] = dataclasses.field(default_factory=dict)

    def client(self, username: str | None = None) -> httpx.AsyncClient:
        """An HTTP client signed in as ``username`` with a bearer token (None: anonymous)."""
        headers = {"Authorization": f"Bearer {self.token(username)}"} if username else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=60)

    def token(self, username: str) -> str:
        if username not in self._tokens:
            response = httpx.post(f"{self.base_url}/api/token",
                                  data={"username": username, "password": PASSWORD}, timeout=30)
            response.raise_for_status()
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]


def serve_in_thread(app: object, **options: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    """Serve ``app`` on a free port; ``options`` for uvicorn (e.g. the API's own
    ``api.server.server_options()``) replace the quiet defaults."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no race for the port
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        app, **{"log_level": "warning", "timeout_graceful_shutdown": 1, **options}))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="api")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture(scope="module")
def api_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite in tmp; test_postgres.py overrides it to run the same tests on PostgreSQL."""
    return f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.sqlite3'}"


def seed_users(database: Database) -> None:
    with database.sessions.begin() as session:
        for username, roles in USERS.items():
            create_user(session, username, PASSWORD, roles)


@pytest_asyncio.fixture(scope="module")
async def api(
    temporal_env: WorkflowEnvironment, agora_settings: Settings, api_database_url: str
) -> AsyncIterator[ApiHandle]:
    """The API and UI, a worker for its task queue, and one user per role."""
    task_queue = f"api-{uuid.uuid4().hex[:12]}"
    # data_dir stays the AGORA one: the worker signs with the PKI kept there.
    settings = dataclasses.replace(agora_settings, database_url=api_database_url, task_queue=task_queue,
                                   link_workflow_id=f"agora-link-{task_queue}")
    target = temporal_env.client.service_client.config.target_host
    namespace = temporal_env.client.namespace

    async def connect() -> Client:
        # A client of the server thread's own event loop.
        return await temporal_client.connect(settings, target, namespace)

    app = create_app(settings, connect, retry=FAST_RETRY)
    database: Database = app.state.context.db
    seed_users(database)
    base_url, server, thread = serve_in_thread(app)
    async with agora_worker.build_worker(temporal_env.client, settings, task_queue=task_queue):
        yield ApiHandle(base_url, settings, database)
    server.should_exit = True
    thread.join(timeout=5)
    database.dispose()


@pytest.fixture
def faults(simulator: SimulatorHandle) -> Iterator[SimulatorHandle]:
    """The simulator, its injected faults cleared after the test."""
    yield simulator
    simulator.clear_faults()
