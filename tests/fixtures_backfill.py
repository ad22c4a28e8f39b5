"""pytest fixtures for the backfill campaign: settings whose file channel is the session's,
and a worker on the test's task queue with those settings.

Registered with ``pytest_plugins`` in tests/conftest.py.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

import worker as agora_worker
from backfill.sample import write_sample
from settings import Settings
from tests.fixtures_agora import FileChannelHandle


@pytest.fixture
def backfill_settings(agora_settings: Settings, file_channel: FileChannelHandle, task_queue: str,
                      temporal_client: Client) -> Settings:
    return dataclasses.replace(
        agora_settings, file_channel_url=file_channel.base_url, task_queue=task_queue,
        backfill_chunk_rows=25, link_workflow_id=f"agora-link-{task_queue}",
        temporal_address=temporal_client.service_client.config.target_host)


@pytest_asyncio.fixture
async def backfill_worker(temporal_client: Client, backfill_settings: Settings) -> AsyncIterator[None]:
    async with agora_worker.build_worker(temporal_client, backfill_settings):
        yield


def sample_export(folder: Path, rows: int, seed: int = 14) -> Path:
    """A messy legacy export of ``rows`` rows, its dossier numbers its own: tests share one
    Temporal server, where a dossier brought to life keeps its legacy number. Its people are
    those of ``seed``: once brought to life, they are held by the store, so a test that needs
    fresh people takes another seed."""
    path = folder / f"export-{uuid.uuid4().hex[:6]}.csv"
    write_sample(path, rows, seed=seed)
    path.write_bytes(path.read_bytes().replace(b"PE-", f"PE{uuid.uuid4().hex[:6]}-".encode()))
    return path
