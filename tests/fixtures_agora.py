"""pytest fixtures for the AGORA layer: a dev PKI, a live simulator, client settings.

Registered with ``pytest_plugins = ["tests.fixtures_agora"]`` in tests/conftest.py.

- ``agora_base_settings`` (session): Settings with a temporary data_dir
- ``dev_pki`` (session): the dev CA and the application's leaf in it
- ``simulator`` (session): the simulator served by uvicorn in a thread on a
  free 127.0.0.1 port; a :class:`SimulatorHandle`
- ``agora_settings`` (session): Settings pointing at that simulator
- ``clean_simulator`` (function): the simulator, with data and faults wiped
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from agora.file_channel import ChannelConfig, tls_context
from agora.messages import FindOrCreateDossier, Person, TrainingAction
from agora.pki import PkiPaths, ensure_dev_pki
from agora.simulator.app import create_app
from agora.simulator.config import ADMIN_TOKEN_HEADER, SimulatorConfig
from agora.simulator.file_channel import ChannelRules, create_file_channel_app
from agora.simulator.file_channel import tls_options as channel_tls_options
from agora.simulator.server import tls_options
from agora.simulator.store import Store
from settings import Settings


class SimulatorHandle:
    """A running simulator and its admin API."""

    def __init__(self, base_url: str, config: SimulatorConfig, verify: bool | str = True,
                 store: Store | None = None) -> None:
        self.base_url = base_url
        self.verify = verify  # the CA the simulator's HTTPS certificate is checked against
        # The same for httpx (which takes a context); True: the default checks.
        self.ssl_context: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify)
        self.store = store  # the simulator's own store (its file channel shares it)
        self.url = f"{base_url}/agora"  # the SOAP endpoint
        self.admin_url = f"{base_url}/admin"
        self.config = config
        self.admin_headers = {ADMIN_TOKEN_HEADER: config.admin_token or ""}
        self._http = httpx.Client(base_url=self.admin_url, timeout=10, headers=self.admin_headers,
                                  verify=self.ssl_context)

    def reset(self) -> None:
        """Wipe data and injected faults."""
        self._http.post("/reset").raise_for_status()
        self.clear_faults()

    def clear_faults(self) -> None:
        self._http.delete("/faults").raise_for_status()

    def inject(self, kind: str, operation: str = "*", **options: Any) -> dict[str, Any]:
        """``kind``: http503 | timeout | slow | soap_fault | timeout_after_apply;
        options: count, probability, delay_seconds, fault_code, retry_after, message."""
        response = self._http.post(
            "/faults", json={"kind": kind, "operation": operation, **options}
        )
        response.raise_for_status()
        return response.json()

    def effects(
        self, operation: str | None = None, dossier: str | None = None
    ) -> list[dict[str, Any]]:
        return self._get("/effects", operation=operation, dossier=dossier)

    def requests(
        self, operation: str | None = None, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        return self._get("/requests", operation=operation, outcome=outcome)

    def dossiers(self) -> list[dict[str, Any]]:
        return self._get("/dossiers")

    def stats(self) -> dict[str, Any]:
        return self._get("/stats")

    def _get(self, path: str, **params: str | None) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self._http.close()


def start_simulator(
    config: SimulatorConfig, tls: dict[str, Any] | None = None,
) -> tuple[SimulatorHandle, uvicorn.Server, threading.Thread]:
    """Serve ``config`` on a free port in a daemon thread; returns once it accepts calls.
    ``tls``: uvicorn's TLS options (``agora.simulator.server.tls_options``), else HTTP."""
    # proto=IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so,
    # and without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here and handed over: no race for the port
    port = sock.getsockname()[1]
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            # Injected "timeout" faults sleep for long: do not wait for them at shutdown.
            timeout_graceful_shutdown=1,
            **(tls or {}),
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="agora-simulator"
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the AGORA simulator did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    return (SimulatorHandle(f"{scheme}://127.0.0.1:{port}", config,
                            tls["ssl_ca_certs"] if tls else True, app.state.simulator.store),
            server, thread)


@pytest.fixture(scope="session")
def agora_base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir: Path = tmp_path_factory.mktemp("agora")
    return dataclasses.replace(
        Settings(), data_dir=data_dir, vi_mode="sign", agora_timeout_seconds=2.0
    )


@pytest.fixture(scope="session")
def dev_pki(agora_base_settings: Settings) -> PkiPaths:
    return ensure_dev_pki(agora_base_settings.pki_dir, agora_base_settings.application_id)


@pytest.fixture(scope="session")
def simulator(agora_base_settings: Settings, dev_pki: PkiPaths) -> Iterator[SimulatorHandle]:
    config = SimulatorConfig.from_settings(
        agora_base_settings, db_path=agora_base_settings.data_dir / "agora-simulator.sqlite3"
    )
    # Over HTTPS, as AGORA: the dev CA's server certificate, the client's leaf accepted.
    handle, server, thread = start_simulator(config, tls_options(agora_base_settings))
    yield handle
    handle.close()
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def agora_settings(agora_base_settings: Settings, simulator: SimulatorHandle) -> Settings:
    port = int(simulator.base_url.rsplit(":", 1)[1])
    return dataclasses.replace(
        agora_base_settings,
        agora_url=simulator.url,
        simulator_host="127.0.0.1",
        simulator_port=port,
        # Workers of different tests share one Temporal server: each stack its own link.
        link_workflow_id=f"agora-link-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def clean_simulator(simulator: SimulatorHandle) -> SimulatorHandle:
    simulator.reset()
    return simulator


def valid_nir(serial: int, sex: str = "1", department: str = "75") -> str:
    """A NIR with a correct key (tests): ``serial`` picks the person."""
    body = f"{sex}8501{department}{serial % 1_000_000:06d}"
    number = int(body.replace("2A", "19").replace("2B", "18"))
    return f"{body}{97 - number % 97:02d}"


def valid_siret(serial: int) -> str:
    """A SIRET passing the Luhn check (tests)."""
    base = f"{serial % 10**13:013d}"
    for last in "0123456789":
        candidate = base + last
        total = 0
        for index, char in enumerate(reversed(candidate)):
            digit = int(char) * (2 if index % 2 else 1)
            total += digit - 9 if digit > 9 else digit
        if total % 10 == 0:
            return candidate
    raise AssertionError("unreachable: one check digit always fits")


def find_or_create_request(
    serial: int, request_id: str | None = None, birth_name: str = "Dupont", action_id: str = "ACT-1"
) -> FindOrCreateDossier:
    """A valid RechercherOuCreerDossier request for person ``serial`` (tests)."""
    return FindOrCreateDossier(
        request_id=request_id or f"req-{uuid.uuid4().hex}",
        region_dossier_id=f"REG-{serial}-{action_id}",
        person=Person(
            nir=valid_nir(serial),
            birth_name=birth_name,
            first_names="Jean Marie",
            birth_date="1985-01-15",
            sex="1",
        ),
        action=TrainingAction(
            siret=valid_siret(serial),
            action_id=action_id,
            title="Soudure TIG",
            duration_hours=420,
            start_date="2025-01-06",
            end_date="2025-06-27",
            certification_code="RNCP12345",
            price="4200.00",
        ),
    )


class FileChannelHandle:
    """The simulator's secure file channel (mutual TLS) and its admin API."""

    def __init__(self, base_url: str, pki: PkiPaths, admin_token: str) -> None:
        self.base_url = base_url  # what AGORA_FLOW_FILE_CHANNEL_URL names
        self._http = httpx.Client(base_url=base_url.removesuffix("/sfe") + "/admin",
                                  verify=tls_context(ChannelConfig(
                                      base_url, str(pki.ca_cert), (str(pki.leaf_cert), str(pki.leaf_key)))),
                                  headers={ADMIN_TOKEN_HEADER: admin_token}, timeout=10)

    def deposits(self) -> list[dict[str, Any]]:
        response = self._http.get("/deposits")
        response.raise_for_status()
        return response.json()

    def inject(self, kind: str, **options: Any) -> None:
        """``kind``: refuse_file | late_answer | reject_records; options: count,
        delay_seconds, rate, code."""
        self._http.post("/faults", json={"kind": kind, **options}).raise_for_status()

    def reset(self) -> None:
        self._http.post("/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()


def start_file_channel(pki_dir: Path, pki: PkiPaths, admin_token: str, store: Store | None
                       ) -> tuple[FileChannelHandle, uvicorn.Server, threading.Thread]:
    """Serve the simulator's file channel (mutual TLS) on a free port in a daemon thread,
    sharing ``store`` with the SOAP side."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(
        create_file_channel_app(ChannelRules(), admin_token, store), log_level="warning",
        timeout_graceful_shutdown=1, **channel_tls_options(pki_dir, "127.0.0.1", pki.ca_cert)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="agora-file-channel")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the AGORA file channel did not start")
        time.sleep(0.01)
    return FileChannelHandle(f"https://127.0.0.1:{port}/sfe", pki, admin_token), server, thread


@pytest.fixture(scope="session")
def file_channel(agora_base_settings: Settings, dev_pki: PkiPaths,
                 simulator: SimulatorHandle) -> Iterator[FileChannelHandle]:
    handle, server, thread = start_file_channel(agora_base_settings.pki_dir, dev_pki,
                                                simulator.config.admin_token or "", simulator.store)
    yield handle
    handle.close()
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def clean_file_channel(file_channel: FileChannelHandle) -> FileChannelHandle:
    file_channel.reset()
    return file_channel
