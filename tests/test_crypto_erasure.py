"""Crypto-erasure on a real dev server: once a person's data key is destroyed, no copy of
their dossier's history decodes to their data, while the other people's workflows still
replay (the engine's needs)."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from contracts.dossier import EventRequest, workflow_id_for
from crypto.codec import KEY_ID, open_keys
from crypto.person_keys import PersonKeyErased
from settings import Settings
from temporal_client.dossiers import create_dossier, send_event
from tests import factories
from tests.conftest import FAST_RETRY
from worker import WORKFLOWS


async def cancelled_dossier(client: Client, task_queue: str) -> factories.DossierInput:
    dossier = factories.dossier(FAST_RETRY)
    await create_dossier(client, dossier, task_queue)
    await send_event(client, dossier.dossier_id, EventRequest("cancel", "agent", {"reason": "désistement"}))
    await client.get_workflow_handle(workflow_id_for(dossier.dossier_id)).result()
    return dossier


@pytest.mark.usefixtures("worker", "simulator")
async def test_an_erased_person_no_longer_decodes_anywhere_and_others_still_replay(
        temporal_client: Client, task_queue: str) -> None:
    erased, kept = (await cancelled_dossier(temporal_client, task_queue),
                    await cancelled_dossier(temporal_client, task_queue))
    keys = open_keys(Settings())
    erased_key = keys.for_person(erased.person.nir)

    histories: dict[str, WorkflowHistory] = {}
    for dossier in (erased, kept):
        handle = temporal_client.get_workflow_handle(workflow_id_for(dossier.dossier_id))
        histories[dossier.dossier_id] = await handle.fetch_history()
    start = histories[erased.dossier_id].events[0].workflow_execution_started_event_attributes
    assert start.input.payloads[0].metadata[KEY_ID].decode() == erased_key
    # Before erasure: the history decodes to the person.
    [before] = await temporal_client.data_converter.decode(start.input.payloads)
    assert before["person"]["nir"] == erased.person.nir

    assert keys.erase(erased_key)

    # Temporal's copy and a copy kept elsewhere (a backup, an export) no longer decode.
    with pytest.raises(PersonKeyErased):
        await temporal_client.data_converter.decode(start.input.payloads)
    with pytest.raises(PersonKeyErased):
        await temporal_client.get_workflow_handle(workflow_id_for(erased.dossier_id)).result()
    # The other person's workflow still replays; the erased one cannot any more.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=temporal_client.data_converter)
    await replayer.replay_workflow(histories[kept.dossier_id])
    outcome = await replayer.replay_workflow(histories[erased.dossier_id], raise_on_replay_failure=False)
    assert outcome.replay_failure is not None
