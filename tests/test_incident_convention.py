"""The rest of the service convention on the incident workflow (issue 15): priority from
impact × urgency, anomalies the CDC reported, notification by phone.

SLA clocks run on Temporal's time-skipping test server: the deadlines are the real
working-hour ones (11 working hours, Paris), skipped through in a moment. Emails go
through a real SMTP server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.policy
import http.server
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts import AlertActivities
from activities.notify import NotifyActivities
from activities.traces import TraceActivities
from api.pages import templates as pages
from api.service_report.routes import report_incident
from contracts.agora_link import (
    ApprovalRequest,
    CrisisMeeting,
    CutOffRequest,
    LinkConfig,
    LinkInput,
)
from contracts.incident import (
    ORIGIN_CDC,
    ORIGIN_REGION_SYSTEM,
    CdcReport,
    IncidentAction,
    IncidentInput,
    IncidentTimings,
    PhoneCall,
    Reclassification,
    RegionEvent,
    workflow_id_for,
)
from notifications.contacts import StaffMember, load_contacts
from notifications.smtp import SmtpConfig
from settings import Settings
from state_models.calendar import WorkingCalendar, add_working_days
from state_models.incident_priority import PriorityMatrix
from state_models.service_report import year_report
from temporal_client import product_data_converter
from tests.fixtures_smtp import SmtpServer, free_port, start_smtp_server
from tests.test_incident_workflow import hold_settings, view_when
from workflows.agora_link import AgoraLinkWorkflow
from workflows.incident import HEAD_OF_SERVICE, REGION_CONTACT, IncidentWorkflow

PARIS = ZoneInfo("Europe/Paris")
CONTACTS = load_contacts()
CDC = CONTACTS.cdc_support.email
REGION = CONTACTS.region_contact.email
CDC_ESCALATION = [c.email for c in CONTACTS.escalation if c.party == "cdc"]
TEST_SERVER = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "temporal-test-server"


@pytest_asyncio.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    # One server per test: skipped time is the server's, and must not leak between tests.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER) if TEST_SERVER.exists() else None,
        data_converter=product_data_converter(Settings()))
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture
async def skipping_worker(skipping_env: WorkflowEnvironment, smtp_server: SmtpServer,
                          tmp_path: Path, agora_settings: Settings) -> AsyncIterator[str]:
    queue = f"skip-{uuid.uuid4().hex[:10]}"
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    traces = TraceActivities(hold_settings(agora_settings, tmp_path))
    # No other alert channel configured: a late notification is alerted by email only.
    alerts = AlertActivities(Settings(), urls=())
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(skipping_env.client, task_queue=queue, workflows=[IncidentWorkflow],
                          activities=[*notify.all(), *alerts.all(), *traces.all()],
                          activity_executor=executor):
            yield queue


def next_monday_9am_paris(after: datetime) -> datetime:
    day = after.astimezone(PARIS).date() + timedelta(days=1)
    while day.weekday() != 0:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=PARIS)


def incident(detected_at: datetime, **fields) -> IncidentInput:
    return IncidentInput(
        ticket=f"INC-{uuid.uuid4().hex[:8].upper()}",
        severity="minor",
        kind="manual",
        description="Le service ValiderDossier répond HTTP 503 à tous les appels.",
        detected_at=detected_at.isoformat(),
        contacts=CONTACTS,
        # No closed day: the known answers below are plain Monday/Tuesday working hours.
        calendar=WorkingCalendar(),
        priority_matrix=PriorityMatrix(),
        opened_by="agent.dupont",
        **fields,
    )


async def start(client: Client, queue: str, data: IncidentInput) -> WorkflowHandle:
    return await client.start_workflow(IncidentWorkflow.run, data, id=workflow_id_for(data.ticket),
                                       task_queue=queue)


def templates(smtp_server: SmtpServer) -> list[str]:
    return [m.subject for m in smtp_server.messages]


async def test_priority_comes_from_the_matrix_and_a_reclassification_recomputes_the_deadline_from_detection(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    client = skipping_env.client
    detected = next_monday_9am_paris(await skipping_env.get_current_time())
    handle = await start(client, skipping_worker, incident(
        detected, impact="few_users", urgency="medium"))
    view = await view_when(handle, lambda v: v.state == "notified", timeout=20)
    assert (view.priority, view.severity, view.deadline) == ("P3", "minor", None)
    assert "P3" in smtp_server.messages[0].text

    # Decided an hour later (time skipped), the deadline still counts from detection:
    # Monday 09:00 Paris + 11 working hours = Tuesday 08:00 Paris.
    await skipping_env.sleep(detected + timedelta(hours=1) - await skipping_env.get_current_time())
    view = await handle.execute_update(IncidentWorkflow.reclassify, Reclassification(
        "all_users", "high", "chef.service", "tous les appels en échec"))
    assert (view.priority, view.severity) == ("P1", "critical_major")
    assert datetime.fromisoformat(view.deadline) == detected + timedelta(hours=23)
    [fact] = [f for f in view.history if f.kind == "reclassified"]
    assert fact.who == "chef.service" and "P3 → P1" in fact.detail
    assert datetime.fromisoformat(fact.at) >= detected + timedelta(hours=1)

    # An unknown impact is refused, naming it; the incident is unchanged.
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(IncidentWorkflow.reclassify,
                                    Reclassification("la_moitie", "high", "chef.service"))

    # The SLA clocks now run: past the deadline, reminder and escalation went out.
    await skipping_env.sleep(datetime.fromisoformat(view.deadline) + timedelta(minutes=1)
                             - await skipping_env.get_current_time())
    view = await view_when(handle, lambda v: len(v.emails) == 4, timeout=20)
    assert [e.template for e in view.emails] == [
        "cdc_notification", "escalation", "reminder", "deadline_passed"]

    # Downgraded: no deadline, no further step.
    view = await handle.execute_update(IncidentWorkflow.reclassify, Reclassification(
        "one_user", "low", "chef.service"))
    assert (view.priority, view.deadline) == ("P4", None)
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    result = await handle.result()
    assert [f.kind for f in result.history if f.kind != "email"] == [
        "detected", "reclassified", "reclassified", "resolve"]
    assert len(smtp_server.messages) == 4


async def test_an_anomaly_the_cdc_reported_notifies_nobody_and_escalates_its_missed_commitments(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    client = skipping_env.client
    reported = next_monday_9am_paris(await skipping_env.get_current_time())
    data = incident(reported, impact="fifty_users_or_more", urgency="high", origin=ORIGIN_CDC,
                    cdc_report=CdcReport("CDC-INC-7781", reported.isoformat(), "support CPF",
                                         "phone"))
    handle = await start(client, skipping_worker, data)

    # Four hours after the report (the CDC's acknowledgement commitment), unacknowledged.
    await skipping_env.sleep(reported + timedelta(hours=4, minutes=1)
                             - await skipping_env.get_current_time())
    [ack_missed] = await smtp_server.wait_for(lambda m: len(m) == 1)
    assert "CDC-INC-7781" in ack_missed.subject and "prise en compte" in ack_missed.subject
    assert sorted(ack_missed.envelope_to) == sorted([*CDC_ESCALATION, CDC, REGION])
    assert ack_missed.message["To"] == ", ".join(CDC_ESCALATION)

    # The Region notifies nothing of the CDC's own anomaly, by phone either.
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(IncidentWorkflow.record_phone_call, PhoneCall(
            "Paul Leca", "support CPF", reported.isoformat(), "appel", "paul.leca"))
    await handle.execute_update(IncidentWorkflow.acknowledge, IncidentAction("support.cpf"))
    view = await handle.query(IncidentWorkflow.view)
    # Monday 09:00 + 11 working hours: Tuesday 08:00 Paris.
    deadline = datetime.fromisoformat(view.deadline)
    assert deadline == reported + timedelta(hours=23)
    await skipping_env.sleep(deadline + timedelta(minutes=1) - await skipping_env.get_current_time())
    messages = await smtp_server.wait_for(lambda m: len(m) == 2)
    assert "résolution" in messages[1].subject
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("support.cpf"))
    result = await handle.result()
    assert result.notified_at is None and result.origin == ORIGIN_CDC
    assert [e.template for e in result.emails] == ["cdc_commitment_missed"] * 2
    assert result.history[0].kind == "detected" and "CDC-INC-7781" in result.history[0].detail


async def test_a_phone_notification_counts_once_confirmed_by_email(
    temporal_client: Client, task_queue: str, tmp_path: Path, agora_settings: Settings
) -> None:
    # The SMTP server is down when the incident opens: neither the notification email
    # nor the phone call's confirmation can go out yet.
    port = free_port()
    config = SmtpConfig(host="127.0.0.1", port=port, sender="agora-flow <agora-flow@test.example.org>")
    notify = NotifyActivities(Settings(), config, tmp_path / "sent.sqlite3")
    traces = TraceActivities(hold_settings(agora_settings, tmp_path))
    detected = datetime.now(UTC) - timedelta(minutes=40)
    called = detected + timedelta(minutes=25)
    data = incident(detected, impact="all_users", urgency="high")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(temporal_client, task_queue=task_queue, workflows=[IncidentWorkflow],
                          activities=[*notify.all(), *traces.all()], activity_executor=executor):
            handle = await start(temporal_client, task_queue, data)
            call = PhoneCall("Paul Leca", "M. Durand, support CPF", called.isoformat(),
                             "HTTP 503 sur tous les appels depuis 09:12", "paul.leca")
            update = await handle.start_update(IncidentWorkflow.record_phone_call, call,
                                              wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            view = await view_when(handle, lambda v: len(v.phone_calls) == 1, timeout=20)
            # Recorded, not yet confirmed: not a notification.
            assert view.notified_at is None and view.state == "detected"
            assert [f.kind for f in view.history] == ["detected", "phone_call"]

            server = start_smtp_server(port)
            try:
                confirmed = await asyncio.wait_for(update.result(), timeout=30)
                assert datetime.fromisoformat(confirmed.notified_at) == called
                assert confirmed.state == "notified"
                messages = await server.wait_for(lambda m: len(m) == 2, timeout=30)
                [confirmation] = [m for m in messages if "Confirmation" in m.subject]
                assert data.ticket in confirmation.subject
                assert confirmation.message["To"] == CDC
                for part in (confirmation.text, confirmation.html):
                    for item in ("Paul Leca", "M. Durand, support CPF", call.summary,
                                 CONTACTS.region_contact.phone):
                        assert item in part
                # The email notification, later, does not move the notification time.
                view = await view_when(handle, lambda v: len(v.emails) == 2, timeout=20)
                assert datetime.fromisoformat(view.notified_at) == called
                kinds = [f.kind for f in view.history if f.kind != "email"]
                assert kinds == ["detected", "phone_call", "phone_confirmed"]
                await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
                await handle.result()
            finally:
                server.stop()


class _RefusingCdc:
    """An SMTP server refusing the CDC's address (as for a misconfigured contact), keeping
    every other message."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_RCPT(self, server, session, envelope, address: str, options) -> str:
        if address == CDC:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = email.message_from_bytes(envelope.original_content or b"",
                                          policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_a_late_cdc_notification_alerts_the_head_of_service_and_handlers_by_other_channels(
    temporal_client: Client, task_queue: str, tmp_path: Path, agora_settings: Settings
) -> None:
    refusing = _RefusingCdc()
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = SmtpConfig(host="127.0.0.1", port=controller.port,
                        sender="agora-flow <agora-flow@test.example.org>")
    notify = NotifyActivities(Settings(), config, tmp_path / "sent.sqlite3")
    alerts = AlertActivities(Settings(), urls=(f"http://127.0.0.1:{hook.server_port}/hooks/T0K3N",))
    traces = TraceActivities(hold_settings(agora_settings, tmp_path))
    # Its opener is in the staff directory, with a phone an SMS gateway can text.
    opener = StaffMember("agent.dupont@isula.example.org", "+33 4 95 00 00 21")
    data = replace(incident(datetime.now(UTC), impact="all_users", urgency="high",
                            timings=IncidentTimings(late_notification_alert_seconds=1.0)),
                   contacts=replace(CONTACTS, staff={"agent.dupont": opener}))
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(temporal_client, task_queue=task_queue, workflows=[IncidentWorkflow],
                              activities=[*notify.all(), *alerts.all(), *traces.all()],
                              activity_executor=executor):
                handle = await start(temporal_client, task_queue, data)
                view = await view_when(handle, lambda v: bool(v.alert_channels), timeout=20)
                # The CDC refused: its notification is not delivered, whoever else got a copy.
                assert view.notified_at is None and view.state == "detected"
                assert view.notification_late_at is not None
                assert view.alert_channels == [f"http://127.0.0.1:{hook.server_port}"]
                [alert] = _Hook.received
                assert alert["ticket"] == data.ticket and data.ticket in alert["text"]
                assert data.description not in alert["text"]  # no free text: no personal data
                # Texted to the Region contact and the handler (the head of service has no
                # phone in the example); numbers never written into the incident's history.
                assert alert["to"] == [CONTACTS.region_contact.phone, opener.phone]
                view = await view_when(handle, lambda v: any(
                    e.template == "late_notification" for e in v.emails), timeout=20)
                [(to, late)] = [(to, m) for to, m in refusing.messages if "URGENT" in m["Subject"]]
                assert sorted(to) == sorted([CONTACTS.head_of_service.email, REGION, opener.email])
                assert data.ticket in late["Subject"]
                assert "Prévenir la CDC par téléphone" in late.get_body(("plain",)).get_content()
                kinds = [f.kind for f in view.history if f.kind != "email"]
                assert kinds == ["detected", "notification_late", "alert_sent"]
                assert not [f for f in view.history
                            if opener.phone in f.detail or opener.email in f.detail]
                await handle.terminate("fin du test")
    finally:
        controller.stop()
        hook.shutdown()


async def test_a_late_notification_alert_reaches_every_handler_of_the_incident(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    # The CDC's mailbox refused: its notification is retried, never delivered.
    smtp_server.refuse(CDC)
    staff = {"agent.dupont": StaffMember("agent.dupont@isula.example.org", "+33 4 95 00 00 21"),
             "marie.santoni": StaffMember("marie.santoni@isula.example.org")}
    client = skipping_env.client
    detected = await skipping_env.get_current_time()
    # Opened by agent.dupont; marie.santoni requalifies it; luc.remplacant, whom the
    # directory does not know, records the CDC's acknowledgement; agent.dupont acts again.
    data = replace(incident(detected, impact="few_users", urgency="high"),
                   contacts=replace(CONTACTS, staff=staff))
    handle = await start(client, skipping_worker, data)
    await handle.execute_update(IncidentWorkflow.reclassify, Reclassification(
        "all_users", "high", "marie.santoni", "tous les appels en échec"))
    await handle.execute_update(IncidentWorkflow.acknowledge,
                                IncidentAction("luc.remplacant", "la CDC a vu l'anomalie"))
    await handle.execute_update(IncidentWorkflow.work_around,
                                IncidentAction("agent.dupont", "saisie différée"))

    await skipping_env.sleep(detected + timedelta(hours=1, minutes=29)
                             - await skipping_env.get_current_time())
    assert smtp_server.with_template("URGENT") == []
    assert (await handle.query(IncidentWorkflow.view)).notification_late_at is None

    await skipping_env.sleep(timedelta(minutes=2))
    await smtp_server.wait_for(lambda m: any("URGENT" in x.subject for x in m), timeout=20)
    [late] = smtp_server.with_template("URGENT")
    assert sorted(late.envelope_to) == sorted([
        CONTACTS.head_of_service.email, REGION, *(m.email for m in staff.values())])
    for part in (late.text, late.html):
        assert "agent.dupont, marie.santoni" in part
        assert "à prévenir autrement" in part and "luc.remplacant" in part

    view = await view_when(handle, lambda v: bool(v.alerted), timeout=20)
    late_at = datetime.fromisoformat(view.notification_late_at)
    assert detected + timedelta(hours=1, minutes=30) <= late_at < detected + timedelta(hours=1, minutes=31)
    assert view.alerted == [HEAD_OF_SERVICE, REGION_CONTACT, "agent.dupont", "marie.santoni"]
    assert view.handlers_without_address == ["luc.remplacant"]
    [unreached] = [f for f in view.history if f.kind == "handler_without_address"]
    assert unreached.detail == "luc.remplacant : sans adresse"
    # Named by role and user name in the incident, never by address (personal data).
    [sent] = [e for e in view.emails if e.template == "late_notification"]
    assert sent.to == view.alerted
    [fact] = [f for f in view.history if f.kind == "email" and "late_notification" in f.detail]
    assert fact.detail == "late_notification → " + ", ".join(view.alerted)
    shown = json.dumps(asdict(view))
    assert not [m.email for m in staff.values() if m.email in shown]
    # The incident's page says so.
    page = pages.env.get_template("incident.html").render(
        i=view, user=None, link=None, csrf="", can_write=False, done=None, error=None)
    assert f'<span id="alerted">{", ".join(view.alerted)}</span>' in page
    assert '<span id="without-address">luc.remplacant</span>' in page
    assert "luc.remplacant : sans adresse" in page
    assert not [m.email for m in staff.values() if m.email in page]

    # Staff addresses travel sealed: nothing of them in clear anywhere in the history
    # (payloads, summaries, patch markers).
    history = await handle.fetch_history()
    for event in history.events:
        raw = event.SerializeToString()
        for member in staff.values():
            assert member.email.encode() not in raw
    await handle.terminate("fin du test")


async def test_a_notification_delivered_in_time_raises_no_alert(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    handle = await start(skipping_env.client, skipping_worker, incident(
        await skipping_env.get_current_time(), impact="few_users", urgency="low"))
    await view_when(handle, lambda v: v.state == "notified", timeout=20)
    await skipping_env.sleep(timedelta(hours=3))
    view = await handle.query(IncidentWorkflow.view)
    assert view.notification_late_at is None
    assert [m.subject for m in smtp_server.messages if "URGENT" in m.subject] == []
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    await handle.result()


# --- crisis cell: domains, meeting follow-up, major disaster (AgoraLinkWorkflow) ----------------

async def test_a_major_disaster_alerts_both_escalations_and_the_crisis_cell_is_followed_until_it_meets(
    skipping_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    queue = f"skip-link-{uuid.uuid4().hex[:8]}"
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    config = LinkConfig(contacts=CONTACTS, calendar=WorkingCalendar(), guard_cache_seconds=0.1)
    client = skipping_env.client
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(client, task_queue=queue, workflows=[AgoraLinkWorkflow],
                          activities=notify.all(), activity_executor=executor):
            link = await client.start_workflow(AgoraLinkWorkflow.run, LinkInput(config),
                                               id=f"link-{queue}", task_queue=queue)
            cut = await link.execute_update(AgoraLinkWorkflow.cut_off, CutOffRequest(
                "admin", "incendie du centre de données principal", domain="studies",
                major_disaster=True))
            record = cut.cut_offs[-1]
            assert record.major_disaster and record.domain == "studies"
            disaster, warning, convocation = await smtp_server.wait_for(lambda m: len(m) == 3)
            assert "Coupure" in warning.subject
            assert "SINISTRE MAJEUR" in disaster.subject
            assert sorted(disaster.message["To"].split(", ")) == sorted(
                c.email for c in CONTACTS.escalation)
            assert {c.party for c in CONTACTS.escalation} == {"cdc", "region"}  # both parties
            studies = sorted(m.email for m in CONTACTS.crisis_cell.members_for("studies"))
            assert sorted(convocation.envelope_to) == studies
            assert "du domaine études" in convocation.text

            # Two working days on, no meeting: the cell is reminded, both escalations told.
            deadline = datetime.fromisoformat(record.meeting_deadline)
            assert deadline == add_working_days(datetime.fromisoformat(record.at), 2,
                                                WorkingCalendar())
            await skipping_env.sleep(deadline + timedelta(minutes=1)
                                     - await skipping_env.get_current_time())
            messages = await smtp_server.wait_for(lambda m: len(m) == 5)
            escalation, reminder = messages[3:]
            assert "Escalade" in escalation.subject and "2 jours ouvrés" in escalation.subject
            assert sorted(escalation.message["To"].split(", ")) == sorted(
                c.email for c in CONTACTS.escalation)
            assert "Relance n° 1" in reminder.subject
            assert sorted(set(reminder.envelope_to) - {REGION}) == studies
            # A day later, reminded again, not escalated again.
            await skipping_env.sleep(timedelta(days=1))
            messages = await smtp_server.wait_for(lambda m: len(m) == 6)
            assert "Relance n° 2" in messages[5].subject

            met = await link.execute_update(AgoraLinkWorkflow.record_meeting, CrisisMeeting(
                held_at=(await skipping_env.get_current_time()).isoformat(),
                attendees=["RSSI-CORSE", "RSSI-CDC", "ETUDES-CDC"],
                minutes="Bascule sur le site de secours validée.",
                decision="reconnexion depuis le site de secours", reconnection_agreed=True,
                recorded_by="admin"))
            assert met.cut_offs[-1].meetings[0].decision == "reconnexion depuis le site de secours"
            await skipping_env.sleep(timedelta(days=3))
            assert len(smtp_server.messages) == 6  # met: no more reminders
            await link.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                      ApprovalRequest("RSSI-CORSE", recorded_by="rssi.corse"))
            reopened = await link.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                                 ApprovalRequest("RSSI-CDC", recorded_by="rssi.cdc"))
            assert reopened.status == "connected"
            decision = (f"réunion du {met.cut_offs[-1].meetings[0].held_at} : "
                        "reconnexion depuis le site de secours")
            assert {a.decision for a in reopened.cut_offs[-1].approvals} == {decision}
            await link.terminate("fin du test")


# --- the Region's own outage or planned intervention: one-day notice to the CDC -----------------

async def test_a_planned_intervention_is_announced_to_the_cdc_at_once_and_needs_no_reminder(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    now = await skipping_env.get_current_time()
    starts = next_monday_9am_paris(now + timedelta(days=2))
    event = RegionEvent("planned_intervention", starts.isoformat(),
                        (starts + timedelta(hours=2)).isoformat())
    handle = await start(skipping_env.client, skipping_worker, incident(
        now, impact="all_users", urgency="medium", origin=ORIGIN_REGION_SYSTEM,
        region_event=event))
    view = await view_when(handle, lambda v: v.state == "notified", timeout=20)
    assert datetime.fromisoformat(view.notification_due_at) == starts - timedelta(days=1)
    assert view.deadline is None  # the CDC has nothing to fix on the Region's system
    [notice] = smtp_server.messages
    assert "intervention programmée" in notice.subject and notice.message["To"] == CDC
    assert "lundi" in notice.subject and "09:00" in notice.subject
    await skipping_env.sleep(starts - await skipping_env.get_current_time())
    view = await handle.query(IncidentWorkflow.view)
    assert view.notification_late_at is None and len(smtp_server.messages) == 1
    await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("region.it"))
    await handle.result()


async def test_a_region_outage_notice_not_sent_is_reminded_before_its_one_day_limit(
    temporal_client: Client, task_queue: str, tmp_path: Path, agora_settings: Settings
) -> None:
    refusing = _RefusingCdc()
    controller = Controller(refusing, hostname="127.0.0.1", port=free_port())
    controller.start()
    config = SmtpConfig(host="127.0.0.1", port=controller.port,
                        sender="agora-flow <agora-flow@test.example.org>")
    notify = NotifyActivities(Settings(), config, tmp_path / "sent.sqlite3")
    traces = TraceActivities(hold_settings(agora_settings, tmp_path))
    detected = datetime.now(UTC)
    # Seconds instead of a day: the reminder 1 s after detection, 2 s before the limit.
    data = incident(detected, impact="all_users", urgency="high", origin=ORIGIN_REGION_SYSTEM,
                    region_event=RegionEvent("outage", detected.isoformat()),
                    timings=IncidentTimings(region_notice_limit_seconds=3.0,
                                            region_notice_reminder_before_seconds=2.0))
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(temporal_client, task_queue=task_queue, workflows=[IncidentWorkflow],
                              activities=[*notify.all(), *AlertActivities(Settings(), urls=()).all(),
                                          *traces.all()], activity_executor=executor):
                handle = await start(temporal_client, task_queue, data)
                view = await view_when(handle, lambda v: any(
                    e.template == "late_notification" for e in v.emails), timeout=20)
                assert view.notified_at is None
                assert datetime.fromisoformat(view.notification_due_at) == detected + timedelta(seconds=3)
                [(to, reminder)] = [(to, m) for to, m in refusing.messages
                                    if "URGENT" in m["Subject"]]
                assert sorted(to) == sorted([CONTACTS.head_of_service.email, REGION])
                assert "dans un délai d'un jour" in reminder.get_body(("plain",)).get_content()
                await handle.terminate("fin du test")
    finally:
        controller.stop()


# --- the service report on incidents the workflow produced -------------------------------------

async def test_the_service_report_counts_the_outage_of_incidents_run_on_the_time_skipping_server(
    skipping_env: WorkflowEnvironment, skipping_worker: str, smtp_server: SmtpServer
) -> None:
    client = skipping_env.client
    start_at = await skipping_env.get_current_time()
    outage = await start(client, skipping_worker, incident(start_at, impact="all_users",
                                                           urgency="high"))
    minor = await start(client, skipping_worker, incident(start_at, impact="one_user",
                                                          urgency="low"))
    for handle in (outage, minor):
        await view_when(handle, lambda v: v.state == "notified", timeout=20)
    await skipping_env.sleep(timedelta(hours=3))
    await outage.execute_update(IncidentWorkflow.work_around, IncidentAction("cdc.support"))
    for handle in (outage, minor):
        await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    views = [await outage.result(), await minor.result()]

    now = await skipping_env.get_current_time()
    [month] = year_report(start_at.year, now, [report_incident(v) for v in views], [], {}, (),
                          month=start_at.month)
    # Three skipped hours of outage for every user; the one-user incident is not downtime.
    assert abs(month.unavailable_seconds - 3 * 3600) < 60
    assert month.by_priority == {"P1": 1, "P4": 1} and month.by_origin == {"region": 2}
    assert sorted(month.notification.met) == sorted(v.ticket for v in views)
    assert month.resolution.met == [views[0].ticket]  # P4 has no deadline


async def test_the_crisis_cell_follow_up_survives_continue_as_new_without_sending_twice(
    skipping_env: WorkflowEnvironment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    queue = f"skip-can-{uuid.uuid4().hex[:8]}"
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    # A short history limit: the link continues as new right after the cut-off's emails.
    config = LinkConfig(contacts=CONTACTS, calendar=WorkingCalendar(), guard_cache_seconds=0.1,
                        continue_as_new_after_events=20)
    client = skipping_env.client
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(client, task_queue=queue, workflows=[AgoraLinkWorkflow],
                          activities=notify.all(), activity_executor=executor):
            link = await client.start_workflow(AgoraLinkWorkflow.run, LinkInput(config),
                                               id=f"link-{queue}", task_queue=queue)
            first_run = (await link.describe()).run_id
            cut = await link.execute_update(AgoraLinkWorkflow.cut_off, CutOffRequest(
                "rssi.corse", "clé compromise"))
            await smtp_server.wait_for(lambda m: len(m) == 2)
            deadline = datetime.fromisoformat(cut.cut_offs[-1].meeting_deadline)
            await skipping_env.sleep(deadline + timedelta(minutes=1)
                                     - await skipping_env.get_current_time())
            await smtp_server.wait_for(lambda m: len(m) == 4, timeout=20)
            await skipping_env.sleep(timedelta(days=1))
            messages = await smtp_server.wait_for(lambda m: len(m) == 5, timeout=20)
            current = client.get_workflow_handle(link.id)
            assert (await current.describe()).run_id != first_run  # it did continue as new
            subjects = [m.subject for m in messages[2:]]
            assert ["Escalade" in subjects[0], "Relance n° 1" in subjects[1],
                    "Relance n° 2" in subjects[2]] == [True, True, True]
            state = await current.query(AgoraLinkWorkflow.link_state)
            assert state.cut_offs[-1].follow_ups == ["escalation", "reminder:1", "reminder:2"]
            await current.terminate("fin du test")
