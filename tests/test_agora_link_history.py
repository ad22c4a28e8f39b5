"""The AGORA link workflow lives for years: its history stays bounded by continuing as new,
and the link's state (counters, open incidents, cut-offs) crosses over intact."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.worker import Worker

from contracts.agora_link import (
    SIGNAL_TRANSPORT_FAILURE,
    FailureReport,
    LinkConfig,
    LinkState,
)
from notifications.contacts import load_contacts
from state_models.calendar import MaintenanceWindow, WorkingCalendar
from temporal_client.link import ensure_link_workflow
from workflows.agora_link import AgoraLinkWorkflow
from workflows.incident import IncidentWorkflow

SIGNALS = 120
LIMIT = 40  # events: far below what one history may hold, to force several runs


async def test_continue_as_new_bounds_the_history_and_keeps_the_state(
    temporal_client: Client, task_queue: str
) -> None:
    # Failures inside a maintenance window are only counted as ignored: no incident, no email,
    # so the state is one counter the test can check exactly.
    always = [MaintenanceWindow(weekday=d, starts="00:00", ends="23:59:59", time_zone="UTC")
              for d in range(7)]
    config = replace(
        LinkConfig(contacts=load_contacts(), calendar=WorkingCalendar()),
        maintenance_windows=always,
        continue_as_new_after_events=LIMIT,
    )
    link_id = f"agora-link-history-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_client, task_queue=task_queue,
                      workflows=[AgoraLinkWorkflow, IncidentWorkflow]):
        await ensure_link_workflow(temporal_client, task_queue, config, link_id)
        handle = temporal_client.get_workflow_handle(link_id)
        first_run = (await handle.describe()).run_id
        at = datetime(2026, 12, 7, 12, tzinfo=UTC).isoformat()  # inside the windows
        for n in range(SIGNALS):
            await handle.signal(SIGNAL_TRANSPORT_FAILURE,
                                FailureReport(at, "ValiderDossier", f"HTTP 503 #{n}"))
        state = await handle.query(AgoraLinkWorkflow.link_state, result_type=LinkState)
        description = await handle.describe()

    assert state.ignored_failures == SIGNALS
    assert description.run_id != first_run
    # Each run's history stays near the limit, never growing with the signals.
    assert description.raw_description.workflow_execution_info.history_length < LIMIT + 10
    await handle.terminate()
