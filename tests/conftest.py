"""Session-wide servers for the tests: a real Temporal dev server and the AGORA simulator.

Each test gets its own task queue and its own worker, so tests never share work.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import devstack
import worker as agora_worker
from contracts import search_attributes
from contracts.dossier import RetryConfig
from settings import Settings
from temporal_client import product_data_converter

# No AGORA maintenance window unless a test asks for one: a run on a Sunday evening
# (Paris) must not wait an hour. Set before any Settings() is built.
os.environ["AGORA_FLOW_MAINTENANCE_WINDOWS"] = ""
# The tests run in development mode (production refuses the test conveniences).
os.environ["AGORA_FLOW_ENV"] = "development"
# Every Settings() of the run shares one development keyring and person-key folder,
# never the developer's own .data/keys.
os.environ["AGORA_FLOW_KEYS_DIR"] = tempfile.mkdtemp(prefix="agora-flow-keys-")

pytest_plugins = ["tests.fixtures_agora", "tests.fixtures_api", "tests.fixtures_backfill",
                  "tests.fixtures_smtp"]

# AGORA retries shrunk so that retry tests take about a second, not minutes.
FAST_RETRY = RetryConfig(
    initial_interval_seconds=0.1,
    backoff_coefficient=1.5,
    maximum_interval_seconds=0.5,
    attempt_timeout_seconds=5.0,
)


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=devstack.temporal_binary(),
        search_attributes=list(search_attributes.ALL),
        data_converter=product_data_converter(Settings()),
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def worker(
    temporal_client: Client, agora_settings: Settings, task_queue: str
) -> AsyncIterator[None]:
    """A worker on this test's task queue, talking to the session's simulator."""
    async with agora_worker.build_worker(temporal_client, agora_settings, task_queue=task_queue):
        yield
