"""A data-subject request's legal clock on a real Temporal server, days shrunk: reminders
two weeks and three days before the one-month deadline, escalation once it passes; an
extension moves the deadline and is bounded; the DPO's action answers and ends it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

import worker as agora_worker
from contracts.subject_request import INVALID, DpoAction, Extension, SubjectRequest
from settings import Settings
from state_models import subject_requests as rules
from temporal_client import EventRefused
from temporal_client.subject_requests import (
    carry_out,
    extend,
    start_subject_request,
    subject_request_view,
)
from tests.fixtures_smtp import SmtpServer
from workflows.subject_request import SubjectRequestWorkflow


def _request(day_seconds: float, kind: str = rules.ACCESS) -> SubjectRequest:
    now = datetime.now(UTC).isoformat()
    return SubjectRequest(
        request_id=uuid.uuid4().hex[:12], kind=kind, requester="la personne (courrier)",
        identity_check="copie de la carte d'identité", received_at=now, recorded_by="dpd",
        recorded_at=now, found_by="nir", dpo_email="dpd@region.example",
        escalation_emails=["direction@region.example"], page_url="http://x/demandes-rgpd",
        partner_name="Collectivité de Corse", day_seconds=day_seconds)


@pytest.fixture
def settings(agora_settings: Settings, tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return dataclasses.replace(agora_settings, database_url=f"sqlite:///{tmp_path / 'dsr.sqlite3'}",
                               smtp_port=smtp_server.config.port)


async def test_reminders_then_escalation_then_the_answer_closes_it(
        temporal_client: Client, settings: Settings, task_queue: str,
        smtp_server: SmtpServer) -> None:
    request = _request(day_seconds=0.05)  # a month in about a second and a half
    async with agora_worker.build_worker(temporal_client, settings, task_queue=task_queue):
        view = await start_subject_request(temporal_client, task_queue, request)
        received = datetime.fromisoformat(request.received_at)
        assert view.deadline == rules.legal_deadline(received).isoformat()
        await smtp_server.wait_for(
            lambda ms: any(request.request_id in m.subject and "Escalade" in m.subject for m in ms))
        for _ in range(100):  # the email is out; the workflow records it once the activity returns
            view = await subject_request_view(temporal_client, request.request_id)
            if "escalation" in view.emails:
                break
            await asyncio.sleep(0.1)
        assert view.emails == ["reminder_2w", "reminder_3d", "escalation"] and view.late
        mine = [m for m in smtp_server.messages if request.request_id in m.subject]
        assert [m.subject.split(" : ")[0].split("] ")[1] for m in mine] == ["Rappel", "Rappel", "Escalade"]
        assert "un mois, RGPD art. 12.3" in mine[0].text

        answered = await carry_out(temporal_client, request.request_id, DpoAction("dpd", "remise en main propre"))
        assert answered.state == rules.ANSWERED
        result = await temporal_client.get_workflow_handle_for(
            SubjectRequestWorkflow.run, f"subject-request-{request.request_id}").result()
        assert [s.who for s in result.steps] == ["dpd", "système", "dpd"]
        assert "remise en main propre" in result.steps[-1].what
        with pytest.raises(Exception):  # noqa: B017 - a closed workflow takes no update
            await carry_out(temporal_client, request.request_id, DpoAction("dpd"))


async def test_an_extension_moves_the_deadline_up_to_two_months(
        temporal_client: Client, settings: Settings, task_queue: str) -> None:
    request = _request(day_seconds=60.0)  # no timer fires during this test
    async with agora_worker.build_worker(temporal_client, settings, task_queue=task_queue):
        await start_subject_request(temporal_client, task_queue, request)
        received = datetime.fromisoformat(request.received_at)
        view = await extend(temporal_client, request.request_id,
                            Extension("dpd", 1, "demande portant sur dix ans de dossiers"))
        assert view.extension_months == 1
        assert view.deadline == rules.legal_deadline(received, 1).isoformat()
        assert "prolongé de 1 mois : demande portant sur dix ans" in view.steps[-1].what
        with pytest.raises(EventRefused) as refused:
            await extend(temporal_client, request.request_id, Extension("dpd", 2, "encore"))
        assert refused.value.kind == INVALID and refused.value.details["field"] == "months"
        with pytest.raises(EventRefused):
            await extend(temporal_client, request.request_id, Extension("dpd", 1, ""))
        view = await carry_out(temporal_client, request.request_id, DpoAction("dpd"))
        assert view.state == rules.ANSWERED and view.emails == []
