"""A worker killed in the middle of a lifecycle: the dossier finishes, nothing applied twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.client import Client

from contracts.dossier import OUTCOME_REPLAY, EventRequest
from settings import Settings, as_environment
from temporal_client.dossiers import create_dossier, send_event
from tests import factories
from tests.conftest import FAST_RETRY

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def worker_process(settings: Settings) -> Iterator[subprocess.Popen]:
    env = {**os.environ, **as_environment(settings)}
    process = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


async def _until(predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


@pytest.mark.usefixtures("clean_simulator")
async def test_worker_killed_mid_call_finishes_without_duplicate(
    temporal_client: Client, task_queue: str, simulator, agora_settings: Settings
) -> None:
    settings = replace(
        agora_settings,
        task_queue=task_queue,
        link_workflow_id=f"agora-link-{task_queue}",
        temporal_address=temporal_client.service_client.config.target_host,
    )
    dossier = factories.dossier(replace(FAST_RETRY, attempt_timeout_seconds=2.0))
    with worker_process(settings) as first:
        await create_dossier(temporal_client, dossier, task_queue)
        await send_event(temporal_client, dossier.dossier_id,
                         EventRequest("validate", data=factories.LIFECYCLE[0][1]))
        # AGORA applies the entry, then its answer is lost while the worker dies.
        simulator.inject(operation="EntrerEnFormation", kind="timeout_after_apply", count=1,
                         delay_seconds=4)
        entry = asyncio.create_task(send_event(temporal_client, dossier.dossier_id,
                                               EventRequest("enter", data=factories.LIFECYCLE[1][1])))
        await _until(lambda: simulator.effects(operation="EntrerEnFormation"))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    with worker_process(settings):
        view = await asyncio.wait_for(entry, timeout=60)
        assert view.state == "entered"
        assert view.history[-1].outcome == OUTCOME_REPLAY
        for event, data in factories.LIFECYCLE[2:]:
            view = await send_event(temporal_client, dossier.dossier_id, EventRequest(event, data=data))
    assert view.state == "settled"

    effects = simulator.effects(dossier=view.agora_dossier_id)
    per_request = [e["request_id"] for e in effects]
    assert len(per_request) == len(set(per_request))
    assert [e["operation"] for e in effects].count("EntrerEnFormation") == 2  # entry + resume
