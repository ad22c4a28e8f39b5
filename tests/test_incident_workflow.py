"""IncidentWorkflow on a real Temporal dev server, emails through a real SMTP server.

SLA durations are injected in seconds (the working-hour deadline itself is a
pure function, tested in test_calendar.py; one test checks it is used).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.traces import TraceActivities
from contracts.incident import (
    AttachedFailure,
    IncidentAction,
    IncidentInput,
    IncidentTimings,
    IncidentView,
    workflow_id_for,
)
from notifications.contacts import load_contacts
from settings import Settings
from state_models.calendar import WorkingCalendar
from store.trace_models import AuditRecord, LegalHold
from store.traces import OPEN_END, TraceStore, instant
from tests.fixtures_smtp import SmtpServer
from workflows.incident import IncidentWorkflow

CONTACTS = load_contacts()
ESCALATION = sorted(c.email for c in CONTACTS.escalation)
CDC = CONTACTS.cdc_support.email
REGION = CONTACTS.region_contact.email


@pytest_asyncio.fixture
async def incident_worker(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer, tmp_path: Path,
    agora_settings: Settings,
) -> AsyncIterator[None]:
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    traces = TraceActivities(hold_settings(agora_settings, tmp_path))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(temporal_client, task_queue=task_queue, workflows=[IncidentWorkflow],
                          activities=[*notify.all(), *traces.all()], activity_executor=executor):
            yield


def hold_settings(agora_settings: Settings, tmp_path: Path) -> Settings:
    """Where the incidents' legal holds go: a trace log of this test's own."""
    return dataclasses.replace(agora_settings,
                               database_url=f"sqlite:///{tmp_path / 'traces.sqlite3'}")


def incident(severity: str = "critical_major", detected_at: datetime | None = None,
             **timings: float) -> IncidentInput:
    return IncidentInput(
        ticket=f"INC-{uuid.uuid4().hex[:8].upper()}",
        severity=severity,
        kind="agora_unavailable",
        description="Le service ValiderDossier répond HTTP 503 à tous les appels.",
        detected_at=(detected_at or datetime.now(UTC)).isoformat(),
        contacts=CONTACTS,
        calendar=WorkingCalendar(),
        timings=IncidentTimings(**timings),
        attachments=["journal-503.txt"],
        opened_by="agent.dupont",
    )


async def start(client: Client, task_queue: str, data: IncidentInput) -> WorkflowHandle:
    return await client.start_workflow(IncidentWorkflow.run, data, id=workflow_id_for(data.ticket),
                                       task_queue=task_queue)


async def view_when(handle: WorkflowHandle, predicate: Callable[[IncidentView], bool],
                    timeout: float = 5.0) -> IncidentView:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate(view := await handle.query(IncidentWorkflow.view)):
        assert asyncio.get_running_loop().time() < deadline, f"view never matched: {view}"
        await asyncio.sleep(0.05)
    return view


def recipients(message) -> list[str]:
    return sorted(message.envelope_to)


@pytest.mark.usefixtures("incident_worker")
async def test_the_cdc_is_notified_at_once_with_every_required_item(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    data = incident(deadline_override_seconds=60, escalation_if_no_ack_seconds=60,
                    reminder_before_deadline_seconds=30)
    handle = await start(temporal_client, task_queue, data)
    [notification] = await smtp_server.wait_for(lambda m: len(m) == 1)

    assert recipients(notification) == sorted([CDC, REGION])
    assert notification.message["To"] == CDC and notification.message["Cc"] == REGION
    assert data.ticket in notification.subject
    contact = CONTACTS.region_contact
    for part in (notification.text, notification.html):
        for item in (CONTACTS.partner_name, contact.name, contact.user_code, contact.phone,
                     contact.email, "AGORA", data.domain, data.service, data.description,
                     "journal-503.txt", data.ticket):
            assert item in part

    # The SMTP server has the email a moment before the workflow records it.
    view = await view_when(handle, lambda v: v.state == "notified")
    assert view.notified_at
    assert [e.template for e in view.emails] == ["cdc_notification"]
    assert view.emails[0].incident_id == data.ticket

    resolved = await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    assert resolved.resolved.who == "cdc.support"
    assert (await handle.result()).state == "resolved"


@pytest.mark.usefixtures("incident_worker")
async def test_no_acknowledgement_escalates_then_the_deadline_escalates_again(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    # Escalation at 0.4 s, reminder at 1.4 s, deadline at 2 s: a second apart, so the order
    # holds on a loaded machine.
    data = incident(escalation_if_no_ack_seconds=0.4, reminder_before_deadline_seconds=0.6,
                    deadline_override_seconds=2.0)
    handle = await start(temporal_client, task_queue, data)
    messages = await smtp_server.wait_for(lambda m: len(m) == 4)

    templates = [m.subject for m in messages]
    assert "Signalement" in templates[0]
    escalation, reminder, deadline = messages[1:]
    assert "sans réponse" in escalation.subject and data.ticket in escalation.subject
    assert recipients(escalation) == sorted([*ESCALATION, REGION])
    assert "n'a reçu aucune réponse" in escalation.text
    assert "Rappel" in reminder.subject and recipients(reminder) == sorted([CDC, REGION])
    assert "dépassée" in deadline.subject
    assert recipients(deadline) == sorted([*ESCALATION, CDC, REGION])

    view = await view_when(handle, lambda v: len(v.emails) == 4)
    assert [e.template for e in view.emails] == [
        "cdc_notification", "escalation", "reminder", "deadline_passed"]
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("region.it"))
    await handle.result()
    assert len(smtp_server.messages) == 4


@pytest.mark.usefixtures("incident_worker")
async def test_acknowledged_then_resolved_before_the_deadline_sends_no_escalation(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    # Wide enough that a loaded machine acknowledges before the first would-be email (1.5 s).
    data = incident(escalation_if_no_ack_seconds=1.5, reminder_before_deadline_seconds=0.5,
                    deadline_override_seconds=2.0)
    handle = await start(temporal_client, task_queue, data)
    await smtp_server.wait_for(lambda m: len(m) == 1)

    acked = await handle.execute_update(IncidentWorkflow.acknowledge,
                                        IncidentAction("cdc.support", "pris en compte"))
    assert acked.state == "acknowledged" and acked.acknowledged.note == "pris en compte"
    await handle.execute_update(IncidentWorkflow.work_around, IncidentAction("cdc.support"))
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    result: IncidentView = await handle.result()

    assert [e.template for e in result.emails] == ["cdc_notification"]
    assert result.worked_around.who == "cdc.support" and result.resolved.at
    await asyncio.sleep(1.0)  # past every would-be due instant
    assert len(smtp_server.messages) == 1


@pytest.mark.usefixtures("incident_worker")
async def test_an_acknowledged_incident_is_not_escalated_for_silence_but_for_its_deadline(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    data = incident(escalation_if_no_ack_seconds=0.5, reminder_before_deadline_seconds=0.4,
                    deadline_override_seconds=0.8)
    handle = await start(temporal_client, task_queue, data)
    await smtp_server.wait_for(lambda m: len(m) == 1)
    await handle.execute_update(IncidentWorkflow.acknowledge, IncidentAction("cdc.support"))
    messages = await smtp_server.wait_for(lambda m: len(m) == 3)
    assert ["Rappel" in messages[1].subject, "dépassée" in messages[2].subject] == [True, True]
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    assert [e.template for e in (await handle.result()).emails] == [
        "cdc_notification", "reminder", "deadline_passed"]


@pytest.mark.usefixtures("incident_worker")
async def test_updates_are_checked_by_the_lifecycle_model(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    handle = await start(temporal_client, task_queue, incident(
        deadline_override_seconds=60, escalation_if_no_ack_seconds=60,
        reminder_before_deadline_seconds=30))
    await smtp_server.wait_for(lambda m: len(m) == 1)
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(IncidentWorkflow.acknowledge, IncidentAction("  "))
    await handle.execute_update(IncidentWorkflow.work_around, IncidentAction("cdc.support"))
    with pytest.raises(WorkflowUpdateFailedError):  # the lifecycle never moves backwards
        await handle.execute_update(IncidentWorkflow.acknowledge, IncidentAction("cdc.support"))
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    await handle.result()


@pytest.mark.usefixtures("incident_worker")
async def test_the_deadline_is_11_working_hours_by_the_calendar_and_minor_has_none(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer
) -> None:
    # Thursday 24 Dec 2026, 18:30 Paris, with Christmas closed: Monday 28th, 17:30 Paris.
    data = incident(detected_at=datetime.fromisoformat("2026-12-24T18:30:00+01:00"))
    data.calendar = WorkingCalendar(closed_days=("2026-12-25",))
    critical = await start(temporal_client, task_queue, data)
    minor = await start(temporal_client, task_queue, incident("minor"))
    await smtp_server.wait_for(lambda m: len(m) == 2)

    view = await critical.query(IncidentWorkflow.view)
    assert datetime.fromisoformat(view.deadline) == datetime.fromisoformat(
        "2026-12-28T17:30:00+01:00")
    assert (await minor.query(IncidentWorkflow.view)).deadline is None
    for handle in (critical, minor):
        await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("region.it"))
        await handle.result()


@pytest.mark.usefixtures("incident_worker")
async def test_an_incident_holds_the_traces_of_its_window_and_dossiers_until_released(
    temporal_client: Client, task_queue: str, smtp_server: SmtpServer, agora_settings: Settings,
    tmp_path: Path,
) -> None:
    store = TraceStore(hold_settings(agora_settings, tmp_path))
    detected = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    data = incident(severity="minor", detected_at=detected)
    handle = await start(temporal_client, task_queue, data)

    def holds() -> list[LegalHold]:
        with store.reading() as session:
            return list(session.scalars(select(LegalHold)))

    for _ in range(100):
        if holds():
            break
        await asyncio.sleep(0.05)
    [placed] = holds()
    assert placed.reference == data.ticket and placed.ends_at == OPEN_END
    assert placed.starts_at == instant("2026-03-01T09:00:00+00:00")  # a day before detection

    await handle.signal(IncidentWorkflow.attach_failure, AttachedFailure(
        "2026-03-02T09:05:00+00:00", "ValiderDossier", "HTTP 503", workflow_id="dossier-D-503"))
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    await handle.result()
    [closed] = holds()
    assert closed.id == placed.id and closed.ends_at != OPEN_END and closed.released_at is None
    assert json.loads(closed.dossier_ids) == ["D-503"]
    store.release_hold(closed.id, "auditeur", "enquête close")
    with store.reading() as session:
        actions = [(a.action, a.username) for a in session.scalars(
            select(AuditRecord).order_by(AuditRecord.seq))]
    assert actions == [("hold.place", f"incident:{data.ticket}"),
                       ("hold.window", f"incident:{data.ticket}")]
