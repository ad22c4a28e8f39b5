"""Nothing personal in clear in Temporal: dossiers (every event kind, a refusal, a
re-engineering), a market through its whole lifecycle and an incident are run through
the API; then every workflow history of the run is read through the raw Temporal API (no
codec) and searched for the test people's NIR, names, birth date and e-mail, and for the
staff directory's addresses; every search attribute and memo is listed and checked too."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryRequest,
)

from contracts import search_attributes
from contracts.subject_request import CORRECTIONS
from contracts.subject_request import WORKFLOW_ID_PREFIX as SUBJECT_REQUEST_PREFIX
from crypto.codec import EncryptionCodec, is_sealed, open_keys
from crypto.person_keys import PersonKeyErased, PersonKeys
from notifications.contacts import load_contacts
from observability import correlation
from tests.api_helpers import create_payload, registered
from tests.test_incident_api import Stack, stack  # noqa: F401  (the module's stack fixture)
from tests.test_market_api import counts, create_market, event

pytestmark = pytest.mark.usefixtures("clean_simulator")

DOSSIER_LIFECYCLE = [
    ("validate", {"validation_date": "2026-01-02"}),
    ("enter", {"entry_date": "2026-01-05", "job_seeker_since": "2025-06-01"}),
    ("pay", {"payment_date": "2026-01-31", "amount": "652.02"}),
    ("interrupt", {"interruption_date": "2026-02-10", "reason": "maladie"}),
    ("resume", {"resume_date": "2026-02-24"}),
    ("exit", {"exit_date": "2026-06-30", "reason": "fin de formation"}),
    ("settle", {"settlement_date": "2026-07-15", "amount_paid": "652.02"}),
]


@dataclass
class Run:
    personal: list[str]  # every personal value of the test data
    executions: list[WorkflowExecution]


def person_changes(tag: str) -> dict[str, str]:
    return {"birth_name": f"ZUCCARELLI{tag}", "usage_name": f"PERETTI{tag}",
            "first_names": f"Annunziata{tag}", "birth_date": "1979-11-23",
            "email": f"annunziata.{tag.lower()}@example.org", "phone": "0612345678"}


def personal_values(payload: dict) -> list[str]:
    person = payload["person"]
    return [person["nir"], person["nir"][:13], person["birth_name"], person["usage_name"],
            person["first_names"], person["birth_date"], person["email"], person["phone"]]


@pytest_asyncio.fixture(scope="module")
async def run(stack: Stack) -> Run:  # noqa: F811
    personal: list[str] = []
    api = stack.api
    async with api.client("marches") as markets, api.client("gestionnaire") as dossiers, \
            api.client("operateur") as operator:
        market_id = await create_market(markets, places=(2, 1))
        for name, data in [("validate", {"notification_date": "2025-12-15"}),
                           ("enter", {"start_date": "2026-01-05"}),
                           ("pay", {"payment_date": "2026-01-10", "amount": "3600.00",
                                    "kind": "advance"})]:
            assert (await event(markets, market_id, name, data)).status_code == 200

        # A dossier of the market through every lifecycle event.
        tag = uuid.uuid4().hex[:6].upper()
        payload = {**create_payload(**person_changes(tag)), "market_id": market_id, "session_id": "S1"}
        personal += personal_values(payload)
        created = await dossiers.post("/api/dossiers", json=payload)
        assert created.status_code == 201, created.text
        full_id = created.json()["dossier_id"]
        await registered(dossiers, full_id)
        for name, data in DOSSIER_LIFECYCLE:
            response = await dossiers.post(f"/api/dossiers/{full_id}/events/{name}", json=data)
            assert response.status_code == 200, (name, response.text)

        # Same NIR, another birth name: AGORA refuses the registration (its fault message
        # is recorded), then a re-engineering corrects the name.
        impostor = create_payload(**person_changes(uuid.uuid4().hex[:6].upper()))
        impostor["person"]["nir"] = payload["person"]["nir"]
        personal += personal_values(impostor)
        created = await dossiers.post("/api/dossiers", json=impostor)
        assert created.status_code == 201, created.text
        fixed_id = created.json()["dossier_id"]
        assert (await registered(dossiers, fixed_id))["timeline"][0]["outcome"] == "refused"
        response = await dossiers.post(f"/api/dossiers/{fixed_id}/events/reengineer", json={
            "reason": "erreur de saisie", "corrections": [
                {"name": "birth_name", "value": payload["person"]["birth_name"]}]})
        assert response.status_code == 200, response.text

        # A dossier cancelled before entry.
        cancelled = create_payload(**person_changes(uuid.uuid4().hex[:6].upper()))
        personal += personal_values(cancelled)
        created = await dossiers.post("/api/dossiers", json=cancelled)
        assert created.status_code == 201, created.text
        await registered(dossiers, created.json()["dossier_id"])
        response = await dossiers.post(f"/api/dossiers/{created.json()['dossier_id']}/events/cancel",
                                       json={"reason": "désistement"})
        assert response.status_code == 200, response.text

        # The data-protection officer's rectification of the re-engineered dossier's person:
        # the new values are personal data too.
        async with api.client("dpd") as dpo:
            rectified = person_changes(uuid.uuid4().hex[:6].upper())
            corrections = {name: rectified[name] for name in ("first_names", "email")}
            personal += list(corrections.values())
            recorded = await dpo.post("/api/subject-requests", json={
                "kind": "rectification", "requester": "la personne",
                "identity_check": "pièce d'identité", "nir": payload["person"]["nir"],
                "corrections": corrections})
            assert recorded.status_code == 201, recorded.text
            done = await dpo.post(
                f"/api/subject-requests/{recorded.json()['request']['request_id']}/carry-out",
                json={})
            assert done.status_code == 200, done.text
            assert "acknowledged" in {d["outcome"] for d in done.json()["dossiers"]}

        for name, data in [("exit", {"end_date": "2026-06-30"}),
                           ("settle", {"settlement_date": "2026-07-31"})]:
            assert (await event(markets, market_id, name, data)).status_code == 200
        await counts(markets, market_id, {"settled": 1})

        # The staff directory's addresses (personal data too) travel in the contacts every
        # incident and the link carry.
        personal += [member.email for member in load_contacts().staff.values()]
        # An incident whose free text names a trainee (operators write what they see).
        incident = await operator.post("/api/incidents", json={
            "severity": "minor", "ticket": f"INC-{uuid.uuid4().hex[:6]}",
            "description": f"Dossier de {personal[2]} bloqué côté AGORA."})
        assert incident.status_code == 201, incident.text

    executions = [WorkflowExecution(workflow_id=w.id, run_id=w.run_id)
                  async for w in stack.client.list_workflows(
                      f'TaskQueue="{api.settings.task_queue}"')]
    assert {e.workflow_id.split("-")[0] for e in executions} >= {"dossier", "market", "subject"}
    return Run(personal, executions)


def payloads_in(message: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message but search attributes' (never encrypted: the
    server indexes them; checked by the next test) and the request id's header (an id the
    API made or a caller's hexadecimal one, in clear so that the engine's logs can quote it:
    checked here to be nothing else), and the SDK's patch markers (checked to hold only the
    patch's name)."""
    if isinstance(message, Payload):
        yield message
        return
    if isinstance(message, MarkerRecordedEventAttributes) and message.marker_name == "core_patch":
        # The SDK's own record of a ``workflow.patched`` call: the patch's name, in clear.
        for payloads in message.details.values():
            for payload in payloads.payloads:
                assert set(json.loads(payload.data)) <= {"id", "deprecated"}, payload.data
        return
    for field, value in message.ListFields():
        if field.message_type is None or field.name == "search_attributes":
            continue
        if field.name == "header" and correlation.TEMPORAL_HEADER in value.fields:
            request_id = json.loads(value.fields[correlation.TEMPORAL_HEADER].data)
            assert re.fullmatch(r"[0-9A-Fa-f][0-9A-Fa-f-]{7,63}", request_id), request_id
            yield from (p for k, p in value.fields.items() if k != correlation.TEMPORAL_HEADER)
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif isinstance(value, Message):
            values = [value]
        else:  # a repeated field
            values = list(value)
        for item in values:
            if isinstance(item, Message):
                yield from payloads_in(item)


async def test_no_history_holds_personal_data_in_clear(stack: Stack, run: Run) -> None:  # noqa: F811
    service = stack.client.workflow_service
    needles = [value.encode() for value in run.personal] + \
              [value.lower().encode() for value in run.personal]
    checked = 0
    for execution in run.executions:
        token = b""
        while True:
            page = await service.get_workflow_execution_history(GetWorkflowExecutionHistoryRequest(
                namespace=stack.client.namespace, execution=execution, next_page_token=token))
            raw = page.history.SerializeToString()
            found = [n.decode() for n in needles if n in raw]
            assert not found, f"{execution.workflow_id}: {found} in clear"
            for payload in payloads_in(page.history):
                checked += 1
                assert is_sealed(payload), (execution.workflow_id, payload.metadata)
            token = page.next_page_token
            if not token:
                break
    assert checked > 50  # inputs, results, updates, activities, signals: all were seen


async def test_no_search_attribute_or_memo_holds_personal_data(stack: Stack, run: Run) -> None:  # noqa: F811
    declared = {key.name for key in search_attributes.ALL}
    seen: set[str] = set()
    for execution in run.executions:
        described = await stack.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(namespace=stack.client.namespace, execution=execution))
        info = described.workflow_execution_info
        custom = {name: payload for name, payload in info.search_attributes.indexed_fields.items()
                  if name in declared}
        seen |= set(custom)
        for name, payload in custom.items():
            text = payload.data.decode()
            assert not any(value in text for value in run.personal), (name, text)
        assert not info.memo.fields, f"{execution.workflow_id} has a memo"
    assert seen == {"DossierId", "DossierState"}


async def test_no_subject_request_history_opens_to_personal_data_with_the_master_key(
        stack: Stack, run: Run) -> None:  # noqa: F811
    """A data-subject request's workflow is sealed under the master key (its record outlives
    an erasure it carried out): decoded with the master keyring alone — what remains once the
    person's key is destroyed — its history names no value of the person, the rectified
    values included (they travel sealed under the person's key)."""
    keys = open_keys(stack.api.settings)
    master_only = EncryptionCodec(PersonKeys(keys.keyring, stack.api.settings.data_dir / "none"))
    needles = [value.encode() for value in run.personal]
    opened = person_sealed = rectifications = 0
    for execution in run.executions:
        if not execution.workflow_id.startswith(SUBJECT_REQUEST_PREFIX):
            continue
        token = b""
        while True:
            page = await stack.client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(namespace=stack.client.namespace,
                                                   execution=execution, next_page_token=token))
            for payload in payloads_in(page.history):
                try:
                    data = master_only.decode_one(payload).data
                except PersonKeyErased:
                    person_sealed += 1
                    continue
                opened += 1
                found = [n.decode() for n in needles if n in data]
                assert not found, f"{execution.workflow_id}: {found} under the master key"
                for sealed in sealed_corrections(json.loads(data) if data else None):
                    # The values are there, and open with the person's key alone.
                    rectifications += 1
                    assert set(json.loads(keys.open_text(sealed, CORRECTIONS))) == {
                        "first_names", "email"}
            token = page.next_page_token
            if not token:
                break
    assert opened > 5 and person_sealed == 0
    assert rectifications >= 3  # the request's input, the store's and the dossier's corrections


def sealed_corrections(value: object) -> Iterator[str]:
    """Every non-empty ``corrections_sealed`` inside a decoded JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "corrections_sealed" and item:
                yield item
            else:
                yield from sealed_corrections(item)
    elif isinstance(value, list):
        for item in value:
            yield from sealed_corrections(item)
