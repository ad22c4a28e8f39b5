"""One dossier end to end: real Temporal dev server, real signed SOAP to the AGORA simulator."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from temporalio.client import Client

from agora import operations
from contracts.dossier import (
    OUTCOME_ACKNOWLEDGED,
    OUTCOME_REFUSED,
    OUTCOME_REPLAY,
    DossierView,
    EventRequest,
    workflow_id_for,
)
from store.traces import trace_store_for
from temporal_client.dossiers import EventRefused, create_dossier, send_event, view_dossier
from tests import factories
from tests.conftest import FAST_RETRY
from workflows.dossier import DossierWorkflow

pytestmark = pytest.mark.usefixtures("worker", "clean_simulator")

OPERATION_OF = {
    "validate": "ValiderDossier",
    "enter": "EntrerEnFormation",
    "pay": "DeclarerRemuneration",
    "interrupt": "SortirDeFormation",
    "resume": "EntrerEnFormation",
    "exit": "SortirDeFormation",
    "settle": "SolderAction",
}


async def _started(client: Client, task_queue: str, **changes) -> factories.DossierInput:
    dossier = factories.dossier(FAST_RETRY)
    for name, value in changes.items():
        setattr(dossier, name, value)
    await create_dossier(client, dossier, task_queue)
    return dossier


async def _event(client: Client, dossier_id: str, event: str, data: dict) -> DossierView:
    return await send_event(client, dossier_id, EventRequest(event, "agent.dupont", data))


async def test_full_lifecycle_reaches_settled_with_one_effect_per_transition(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    for event, data in factories.LIFECYCLE:
        view = await _event(temporal_client, dossier.dossier_id, event, data)
    assert view.state == "settled"
    assert view.allowed_events == []

    result = await temporal_client.get_workflow_handle_for(
        DossierWorkflow.run, workflow_id_for(dossier.dossier_id)).result()
    assert result.state == "settled"
    assert [entry.event for entry in result.history] == ["create"] + [e for e, _ in factories.LIFECYCLE]
    assert all(entry.outcome == OUTCOME_ACKNOWLEDGED and entry.ack_id for entry in result.history)

    effects = simulator.effects(dossier=view.agora_dossier_id)
    applied = Counter(effect["operation"] for effect in effects)
    expected = Counter(OPERATION_OF[e] for e, _ in factories.LIFECYCLE)
    expected["RechercherOuCreerDossier"] = 1
    assert applied == expected
    assert len({effect["request_id"] for effect in effects}) == len(effects)


async def test_illegal_event_is_refused_without_calling_agora(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[0])
    received = len(simulator.requests())

    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, dossier.dossier_id, "settle",
                     {"settlement_date": "2026-07-15", "amount_paid": "10.00"})
    assert refusal.value.kind == "IllegalEvent"
    assert refusal.value.details["state"] == "validated"
    assert "settle" in refusal.value.message
    assert len(simulator.requests()) == received
    assert (await view_dossier(temporal_client, dossier.dossier_id)).state == "validated"


async def test_invalid_event_data_names_the_field(temporal_client: Client, task_queue: str) -> None:
    dossier = await _started(temporal_client, task_queue)
    for event, data in factories.LIFECYCLE[:2]:
        await _event(temporal_client, dossier.dossier_id, event, data)
    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, dossier.dossier_id, "exit",
                     {"exit_date": "2025-12-01", "reason": "abandon"})
    assert refusal.value.kind == "InvalidEventData"
    assert refusal.value.details["field"] == "exit_date"


async def test_outages_and_timeouts_are_retried_without_duplicate_effect(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    simulator.inject(operation="ValiderDossier", kind="http503", count=3)
    simulator.inject(operation="EntrerEnFormation", kind="timeout", count=1, delay_seconds=3)
    view = await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[0])
    view = await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[1])
    assert view.state == "entered"

    # The timed-out request is recorded once its slow answer ends, after the retry succeeded.
    for _ in range(50):
        injected = Counter(r["operation"] for r in simulator.requests(outcome="injected"))
        if injected["EntrerEnFormation"]:
            break
        await asyncio.sleep(0.1)
    assert injected["ValiderDossier"] == 3 and injected["EntrerEnFormation"] == 1
    effects = Counter(e["operation"] for e in simulator.effects(dossier=view.agora_dossier_id))
    assert effects["ValiderDossier"] == 1 and effects["EntrerEnFormation"] == 1


async def test_lost_answer_is_recognised_as_a_replay(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    simulator.inject(operation="ValiderDossier", kind="timeout_after_apply", count=1, delay_seconds=3)
    view = await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[0])

    assert view.state == "validated"
    assert view.history[-1].outcome == OUTCOME_REPLAY
    effects = simulator.effects(dossier=view.agora_dossier_id, operation="ValiderDossier")
    assert len(effects) == 1


async def test_agora_business_fault_reaches_the_caller_and_keeps_the_state(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[0])
    simulator.inject(operation="EntrerEnFormation", kind="soap_fault", count=1,
                     fault_code="agora:DonneesInvalides")

    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[1])
    assert refusal.value.kind == "AgoraBusinessFault"
    assert refusal.value.details["code"] == "agora:DonneesInvalides"
    assert refusal.value.details["operation"] == "EntrerEnFormation"

    view = await view_dossier(temporal_client, dossier.dossier_id)
    assert view.state == "validated"
    assert view.history[-1].outcome == OUTCOME_REFUSED
    assert view.history[-1].fault_code == "agora:DonneesInvalides"
    # Once AGORA accepts, the same event goes through.
    view = await _event(temporal_client, dossier.dossier_id, *factories.LIFECYCLE[1])
    assert view.state == "entered"


async def test_refused_registration_is_corrected_by_reengineering(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    first = await _started(temporal_client, task_queue)
    await _event(temporal_client, first.dossier_id, *factories.LIFECYCLE[0])
    # Same NIR, another surname: AGORA's NIR/surname check refuses the registration.
    impostor = factories.person()
    impostor.nir = first.person.nir
    second = await _started(temporal_client, task_queue, person=impostor)

    with pytest.raises(EventRefused) as refusal:
        await _event(temporal_client, second.dossier_id, *factories.LIFECYCLE[0])
    assert refusal.value.kind == "IllegalEvent"
    view = await view_dossier(temporal_client, second.dossier_id)
    assert not view.registered
    assert view.registration_fault and view.registration_fault.startswith("agora:IncoherenceNirNom")
    assert view.allowed_events == ["cancel", "reengineer"]

    # The corrected name matches, but the same person on the same action already is the
    # first Region dossier: AGORA refuses a second one (it used to merge them silently).
    with pytest.raises(EventRefused) as duplicate:
        await _event(temporal_client, second.dossier_id, "reengineer", {
            "reason": "erreur de saisie du nom",
            "corrections": [{"name": "birth_name", "value": first.person.birth_name}],
        })
    assert duplicate.value.kind == "AgoraBusinessFault"
    view = await view_dossier(temporal_client, second.dossier_id)
    assert not view.registered
    assert view.registration_fault and view.registration_fault.startswith(
        operations.FAULT_ALREADY_REGISTERED)
    assert first.dossier_id in view.registration_fault


async def test_cancel_before_entry_ends_the_workflow(
    temporal_client: Client, task_queue: str, simulator
) -> None:
    dossier = await _started(temporal_client, task_queue)
    view = await _event(temporal_client, dossier.dossier_id, "cancel", {"reason": "désistement"})
    assert view.state == "cancelled"
    result = await temporal_client.get_workflow_handle_for(
        DossierWorkflow.run, workflow_id_for(dossier.dossier_id)).result()
    assert result.state == "cancelled"
    cancellation = simulator.effects(dossier=view.agora_dossier_id, operation="ReingenierieDossier")
    assert len(cancellation) == 1


def test_agora_request_ids_come_from_the_event_identity() -> None:
    from workflows.dossier_requests import request_id_for

    event_id = "0b7f6c1e-7a51-4c4f-9c2e-5f0d3c8a9e11"
    assert request_id_for("dossier-D-1", 7, event_id) == "dossier-D-1:E0b7f6c1e7a514c4f9c2e5f0d3c8a9e11"
    assert request_id_for("dossier-D-1", 9, event_id) == request_id_for("dossier-D-1", 7, event_id)
    assert request_id_for("dossier-D-1", 7, "") == "dossier-D-1:7"  # no identity: the position
    assert len(request_id_for("dossier-" + "X" * 60, 1, event_id)) == 64  # AGORA's idRequete limit


async def test_a_correction_sticks_and_payments_end_with_the_settlement(
    temporal_client: Client, task_queue: str, simulator, agora_settings
) -> None:
    dossier = await _started(temporal_client, task_queue)
    for event, data in factories.LIFECYCLE[:2]:
        await _event(temporal_client, dossier.dossier_id, event, data)
    await _event(temporal_client, dossier.dossier_id, "reengineer", {
        "reason": "nom de naissance mal saisi",
        "corrections": [{"name": "birth_name", "value": "CASANOVA-CORRIGE"}]})
    # AGORA checks the payment's NIR/name pair against its corrected dossier: the old name
    # would be refused.
    view = await _event(temporal_client, dossier.dossier_id, "pay",
                        {"payment_date": "2026-01-31", "amount": "652.02"})
    assert view.history[-1].outcome == OUTCOME_ACKNOWLEDGED
    traces = trace_store_for(agora_settings)
    with traces.database.sessions() as session:
        payment = traces.search(session, dossier_id=dossier.dossier_id,
                                operation="DeclarerRemuneration")[0]
        envelope = traces.envelopes(payment)["request"]
    assert "CASANOVA-CORRIGE" in envelope and dossier.person.birth_name not in envelope

    await _event(temporal_client, dossier.dossier_id, "exit",
                 {"exit_date": "2026-06-30", "reason": "fin de formation"})
    final = await _event(temporal_client, dossier.dossier_id, "pay",
                         {"payment_date": "2026-07-05", "amount": "120.00"})
    assert final.state == "exited" and final.history[-1].outcome == OUTCOME_ACKNOWLEDGED
    await _event(temporal_client, dossier.dossier_id, "settle",
                 {"settlement_date": "2026-07-15", "amount_paid": "772.02"})
    with pytest.raises(EventRefused) as refused:
        await _event(temporal_client, dossier.dossier_id, "pay",
                     {"payment_date": "2026-07-20", "amount": "10.00"})
    assert refused.value.kind == "IllegalEvent" and "soldé" in refused.value.message
    payments = simulator.effects(dossier=view.agora_dossier_id, operation="DeclarerRemuneration")
    assert len(payments) == 2
