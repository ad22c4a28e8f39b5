"""Starts and stops the parts a benchmark or a chaos run needs, as child processes.

Everything listens on 127.0.0.1 on free ports, under a temporary data folder.
The worker is a subprocess so that its CPU time and memory can be measured
(and so that it can be killed for real). Every wait is bounded in time, and
:meth:`Stack.close` stops whatever was started, also on Ctrl-C or failure.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Self

import psutil
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

import devstack
import temporal_client
from settings import Settings, as_environment
from store.db import Database
from store.users import create_user

ROOT = Path(__file__).resolve().parent.parent
# Stacks not closed yet: what a signal must stop before the process ends.
_LIVE: set[Stack] = set()
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ProcessMeter:
    """CPU seconds and memory of one child process (Linux's VmHWM gives the exact peak)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._process = psutil.Process(pid)
        self._cpu_at_start = self.cpu_seconds()

    def cpu_seconds(self) -> float:
        times = self._process.cpu_times()
        return times.user + times.system

    def cpu_since_start(self) -> float:
        return self.cpu_seconds() - self._cpu_at_start

    def rss_bytes(self) -> int:
        return self._process.memory_info().rss

    def peak_rss_bytes(self) -> int:
        status = Path(f"/proc/{self._process.pid}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return self.rss_bytes()


class Stack:
    """A Temporal dev server (or an existing one), the AGORA simulator, an SMTP sink and
    workers, each a child process with its log file under ``work_dir``."""

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        server: str | None = None,
        file_backed_server: bool = False,
        agora_timeout_seconds: float = 10.0,
    ) -> None:
        self._own_dir = tempfile.TemporaryDirectory(prefix="agora-bench-") if work_dir is None else None
        self.work_dir = Path(self._own_dir.name) if self._own_dir else work_dir
        self.logs = self.work_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._external_server = server is not None
        self._db_file = self.work_dir / "temporal.sqlite3" if file_backed_server else None
        run_id = uuid.uuid4().hex[:8]
        simulator_port = free_port()
        channel_port = free_port()
        self.settings = dataclasses.replace(
            Settings(),
            data_dir=self.work_dir,
            temporal_address=server or f"{HOST}:{free_port()}",
            temporal_ui_port=free_port(),
            task_queue=f"bench-{run_id}",
            link_workflow_id=f"agora-link-bench-{run_id}",
            # Plain HTTP: the figures of earlier runs were measured without TLS.
            agora_url=f"http://{HOST}:{simulator_port}/agora",
            simulator_tls=False,
            simulator_host=HOST,
            simulator_port=simulator_port,
            file_channel_url=f"https://{HOST}:{channel_port}/sfe",
            file_channel_port=channel_port,
            smtp_host=HOST,
            smtp_port=free_port(),
            api_host=HOST,
            api_port=free_port(),
            agora_timeout_seconds=agora_timeout_seconds,
            # A benchmark must not stall in AGORA's Sunday-evening window.
            maintenance_windows=(),
            # Its own throw-away stack: development mode (its simulator's admin reads effects).
            env="development",
            # Several workers side by side, and maybe `make dev` too: no metrics addresses to
            # compete for (the business metrics are still recorded, as in production).
            worker_metrics_address="", api_engine_metrics_address="",
            worker_business_metrics_address="",
            simulator_admin=True,
        )
        self._processes: dict[str, subprocess.Popen] = {}
        atexit.register(self.close)
        _LIVE.add(self)

    # --- the parts ---------------------------------------------------------------------

    def start_temporal(self) -> None:
        if self._external_server:
            return
        command = devstack.temporal_server_command(self.settings, self._db_file) + ["--headless"]
        process = self._spawn("temporal", command)
        devstack.wait_for_port(HOST, int(self.settings.temporal_address.rsplit(":", 1)[1]),
                                START_TIMEOUT_SECONDS, process)

    def stop_temporal(self) -> None:
        """Stops the dev server (its SQLite file, if any, keeps the state)."""
        self._stop("temporal")

    def start_simulator(self) -> None:
        process = self._spawn("simulator", [sys.executable, "-m", "cli", "simulator"])
        devstack.wait_for_port(HOST, self.settings.simulator_port, START_TIMEOUT_SECONDS, process)
        devstack.wait_for_port(HOST, self.settings.file_channel_port, START_TIMEOUT_SECONDS, process)

    def stop_simulator(self) -> None:
        self._stop("simulator")

    def start_smtp_sink(self) -> None:
        process = self._spawn("smtp", [sys.executable, "-m", "cli", "smtp-sink"])
        devstack.wait_for_port(HOST, self.settings.smtp_port, START_TIMEOUT_SECONDS, process)

    def start_api(self, username: str, password: str) -> str:
        """The API and UI process, with one dossier manager ``username``; its base URL."""
        database = Database(self.settings.effective_database_url)  # migrated here, first
        try:
            with database.sessions.begin() as session:
                create_user(session, username, password, ["dossier_manager"])
        finally:
            database.dispose()
        process = self._spawn("api", [sys.executable, "-m", "cli", "api"])
        devstack.wait_for_port(HOST, self.settings.api_port, START_TIMEOUT_SECONDS, process)
        return f"http://{HOST}:{self.settings.api_port}"

    def start_worker(self, name: str = "worker") -> ProcessMeter:
        """A worker process; give each one its own ``name`` to run several side by side."""
        process = self._spawn(name, [sys.executable, "-m", "cli", "worker"])
        return ProcessMeter(process.pid)

    def kill_worker(self, name: str = "worker") -> None:
        """SIGKILL: no graceful shutdown, in-flight activities die with it."""
        process = self._processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def worker_alive(self) -> bool:
        process = self._processes.get("worker")
        return process is not None and process.poll() is None

    def start_bare_worker(self, task_queue: str) -> ProcessMeter:
        process = self._spawn("bare-worker", [
            sys.executable, "-m", "bench.bare_worker",
            "--server", self.settings.temporal_address,
            "--namespace", self.settings.temporal_namespace,
            "--task-queue", task_queue,
        ])
        return ProcessMeter(process.pid)

    def meter(self, name: str) -> ProcessMeter | None:
        """The meter of child ``name`` ("temporal", "simulator"…), None if not running here."""
        process = self._processes.get(name)
        return ProcessMeter(process.pid) if process is not None and process.poll() is None else None

    def stop_worker(self, name: str = "worker") -> None:
        self._stop(name)

    def close(self) -> None:
        _LIVE.discard(self)
        for name in reversed(list(self._processes)):
            self._stop(name)
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- Temporal ----------------------------------------------------------------------

    async def connect(self) -> Client:
        """The product's own client (same data converter as the API), once the server answers."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                return await temporal_client.connect(self.settings)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def wait_for_poller(self, client: Client, task_queue: str, pid: int) -> None:
        """Returns once the worker of process ``pid`` polls ``task_queue`` (pollers are named pid@host)."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        request = DescribeTaskQueueRequest(
            namespace=self.settings.temporal_namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        while time.monotonic() < deadline:
            described = await client.workflow_service.describe_task_queue(request)
            if any(p.identity.startswith(f"{pid}@") for p in described.pollers):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"no worker of process {pid} polls {task_queue}")

    # --- processes ---------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        env = {**os.environ, **as_environment(self.settings)}
        with open(self.logs / f"{name}.log", "ab") as log:
            # A session of its own: Ctrl-C reaches the bench only, which stops its children.
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self._processes[name] = process
        return process

    def _stop(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)


def stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP stop every child this run started, then end the process at
    once: waiting for in-flight Temporal calls to a server just stopped could take minutes."""

    def interrupt(signum: int, _frame: object) -> None:
        for stack in list(_LIVE):
            stack.close()
        print(f"\ninterrupted ({signal.Signals(signum).name}): every process this run started "
              "is stopped", file=sys.stderr, flush=True)
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
