"""The AGORA link on a real Temporal dev server, the AGORA simulator and a real SMTP server:
bursts of transport failures open one incident, maintenance windows and cut-offs hold
calls durably, the crisis cell's approvals reopen the link."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from activities.agora_calls import AgoraActivities
from activities.agora_link_guard import AgoraLinkGuard
from activities.notify import NotifyActivities
from activities.traces import TraceActivities
from agora.messages import AgoraAck, FindOrCreateDossier
from contracts.agora_calls import BUSINESS_FAULT, FindOrCreateDossierCall
from contracts.agora_link import (
    CONNECTED,
    CUT_OFF,
    SIGNAL_LINK_REOPENED,
    SIGNAL_TRANSPORT_FAILURE,
    ApprovalRequest,
    CrisisMeeting,
    CutOffRequest,
    FailureReport,
    GateConfig,
    LinkConfig,
    LinkState,
    LinkWait,
)
from contracts.incident import IncidentAction, IncidentTimings, workflow_id_for
from notifications.contacts import load_contacts
from settings import Settings
from state_models.calendar import MaintenanceWindow, WorkingCalendar, add_working_days
from state_models.incident_detection import BurstRule, burst_reached, counts, recent
from store.writer import ProjectionWriter
from temporal_client.link import ensure_link_workflow
from tests.fixtures_agora import SimulatorHandle, find_or_create_request
from tests.fixtures_smtp import SmtpServer
from workflows.agora_gate import AgoraGate
from workflows.agora_link import AgoraLinkWorkflow
from workflows.incident import IncidentWorkflow

CONTACTS = load_contacts()
PARIS = ZoneInfo("Europe/Paris")
OPERATION = "RechercherOuCreerDossier"
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # a Sunday
SUNDAY_MAINTENANCE = (MaintenanceWindow(),)
MAINTENANCE_NOW = "maintenance-now"  # 22:00–23:00 Paris = 21:00–22:00 UTC in winter


# --- the pure threshold rule -------------------------------------------------------------

def test_the_burst_rule_counts_failures_inside_its_sliding_window() -> None:
    rule = BurstRule(failures=3, window_seconds=60)
    at = [T0, T0 + timedelta(seconds=30), T0 + timedelta(seconds=59)]
    assert not burst_reached(at[:2], rule, at[1])
    assert burst_reached(at, rule, at[2])
    # One minute later the first failure has left the window.
    assert not burst_reached(at, rule, T0 + timedelta(seconds=61))
    assert recent(at, rule, T0 + timedelta(seconds=61)) == at[1:]
    with pytest.raises(ValueError):
        BurstRule(failures=0)


def test_failures_inside_a_maintenance_window_never_count() -> None:
    assert counts(T0, SUNDAY_MAINTENANCE)
    assert not counts(datetime(2026, 12, 6, 21, 0, tzinfo=UTC), SUNDAY_MAINTENANCE)
    assert not counts(datetime(2026, 12, 6, 21, 59, 59, tzinfo=UTC), SUNDAY_MAINTENANCE)
    assert counts(datetime(2026, 12, 6, 22, 0, tzinfo=UTC), SUNDAY_MAINTENANCE)


# --- a workflow calling AGORA through the gate, exactly as DossierWorkflow does -------------

@dataclass
class GatedJob:
    request: FindOrCreateDossier
    gate: GateConfig = field(default_factory=GateConfig)


@dataclass
class GatedResult:
    ack: AgoraAck
    waits: list[LinkWait]


@workflow.defn(sandboxed=False)
class GatedCallWorkflow:
    @workflow.init
    def __init__(self, job: GatedJob) -> None:
        self._gate = AgoraGate(job.gate)

    @workflow.run
    async def run(self, job: GatedJob) -> GatedResult:
        outcome = await self._gate.call(OPERATION, lambda: workflow.execute_activity_method(
            AgoraActivities.find_or_create_dossier,
            FindOrCreateDossierCall(job.request, "agent.test"),
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=0.1),
                                     maximum_interval=timedelta(seconds=0.3),
                                     non_retryable_error_types=[BUSINESS_FAULT]),
        ))
        return GatedResult(outcome.ack, self._gate.waits())

    @workflow.signal(name=SIGNAL_LINK_REOPENED)
    def link_reopened(self) -> None:
        self._gate.reopened()


@dataclass
class Link:
    id: str
    handle: WorkflowHandle
    config: LinkConfig
    task_queue: str

    async def state(self) -> LinkState:
        return await self.handle.query(AgoraLinkWorkflow.link_state)

    async def call(self, client: Client, serial: int, gate: GateConfig | None = None,
                   ) -> tuple[WorkflowHandle, FindOrCreateDossier]:
        request = find_or_create_request(serial, request_id=f"req-{uuid.uuid4().hex}")
        handle = await client.start_workflow(
            GatedCallWorkflow.run, GatedJob(request, gate or GateConfig([], self.id)),
            id=f"gated-{uuid.uuid4().hex[:10]}", task_queue=self.task_queue,
            result_type=GatedResult)
        return handle, request


@pytest_asyncio.fixture
async def link(
    temporal_client: Client, task_queue: str, agora_settings: Settings,
    clean_simulator: SimulatorHandle, smtp_server: SmtpServer, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Link]:
    link_id = f"agora-link-{task_queue}"
    config = LinkConfig(
        contacts=CONTACTS,
        calendar=WorkingCalendar(),
        # A window open now, for the test that asks for it.
        maintenance_windows=[window_around_now(1.5)] if getattr(request, "param", "") == MAINTENANCE_NOW else [],
        burst=BurstRule(failures=3, window_seconds=60),
        incident_timings=IncidentTimings(escalation_if_no_ack_seconds=60,
                                         reminder_before_deadline_seconds=30,
                                         deadline_override_seconds=60),
        ticket_prefix=f"T{uuid.uuid4().hex[:6].upper()}",
    )
    notify = NotifyActivities(Settings(), smtp_server.config, tmp_path / "sent.sqlite3")
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        async with Worker(
            temporal_client,
            task_queue=task_queue,
            workflows=[AgoraLinkWorkflow, IncidentWorkflow, GatedCallWorkflow],
            activities=[*AgoraActivities(agora_settings, ProjectionWriter(agora_settings)).all(),
                        *notify.all(), *TraceActivities(agora_settings).all()],
            activity_executor=executor,
            interceptors=[AgoraLinkGuard(temporal_client, link_id, state_cache_seconds=0)],
        ):
            await ensure_link_workflow(temporal_client, task_queue, config, link_id)
            handle = temporal_client.get_workflow_handle(link_id)
            yield Link(link_id, handle, config, task_queue)
            await handle.terminate()


def requests_for(simulator: SimulatorHandle, request: FindOrCreateDossier) -> list[dict]:
    return [r for r in simulator.requests(operation=OPERATION)
            if r["request_id"] == request.request_id]


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_burst_of_503s_opens_exactly_one_incident(
    temporal_client: Client, link: Link, clean_simulator: SimulatorHandle,
    smtp_server: SmtpServer,
) -> None:
    clean_simulator.inject("http503", operation=OPERATION, count=8)
    calls = [await link.call(temporal_client, serial) for serial in range(3)]
    results = [await handle.result() for handle, _ in calls]

    # Every call went through once AGORA answered, none applied twice.
    assert len({r.ack.agora_dossier_id for r in results}) == 3
    for _, request in calls:
        assert [r["outcome"] for r in requests_for(clean_simulator, request)][-1] != "http503"
    state = await link.state()
    assert state.incidents_opened == 1
    [(kind, ticket)] = state.open_incidents.items()
    assert kind == "agora_unavailable" and ticket.startswith(link.config.ticket_prefix)

    incident = temporal_client.get_workflow_handle(workflow_id_for(ticket))
    await eventually(lambda: _has_email(smtp_server, ticket))
    view = await incident.query(IncidentWorkflow.view)
    assert view.severity == "critical_major"
    # 8 failures: 3 opened the incident, the next 5 were attached to it.
    await eventually(lambda: _attached(incident, 5))
    [notification] = smtp_server.messages
    assert notification.envelope_to[0] == CONTACTS.cdc_support.email

    # Once resolved, the link forgets it: the next burst would open a new one.
    await incident.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
    await incident.result()
    await eventually(lambda: _no_open_incident(link))


async def _has_email(smtp: SmtpServer, ticket: str) -> bool:
    return any(ticket in m.subject for m in smtp.messages)


async def _attached(incident: WorkflowHandle, count: int) -> bool:
    return (await incident.query(IncidentWorkflow.view)).attached_failures == count


async def _no_open_incident(link: Link) -> bool:
    return not (await link.state()).open_incidents


def window_around_now(seconds_left: float) -> MaintenanceWindow:
    now = datetime.now(PARIS)
    start, end = now - timedelta(seconds=30), now + timedelta(seconds=seconds_left)
    if start.date() != end.date():
        pytest.skip("too close to midnight for a same-day window")
    return MaintenanceWindow(weekday=now.weekday(), starts=f"{start:%H:%M:%S}",
                             ends=f"{end:%H:%M:%S}")


@pytest.mark.parametrize("link", [MAINTENANCE_NOW], indirect=True)
async def test_a_call_due_in_the_maintenance_window_waits_then_succeeds_without_incident(
    temporal_client: Client, link: Link, clean_simulator: SimulatorHandle,
    smtp_server: SmtpServer,
) -> None:
    windows = link.config.maintenance_windows
    handle, request = await link.call(temporal_client, 7, GateConfig(windows, link.id))
    # Failures during the window (AGORA is closed) are not counted towards an incident.
    for _ in range(4):
        await link.handle.signal(SIGNAL_TRANSPORT_FAILURE, FailureReport(
            at=datetime.now(UTC).isoformat(), operation=OPERATION, message="HTTP 503"))
    await asyncio.sleep(0.5)
    assert requests_for(clean_simulator, request) == []  # waiting, nothing sent

    result: GatedResult = await handle.result()
    [wait] = result.waits
    assert wait.reason == "maintenance" and wait.until and wait.ended_at
    assert datetime.fromisoformat(wait.ended_at) >= datetime.fromisoformat(wait.until)
    assert len(requests_for(clean_simulator, request)) == 1
    state = await link.state()
    assert state.ignored_failures == 4 and state.failures == {} and state.incidents_opened == 0
    assert smtp_server.messages == []


async def test_cut_off_holds_every_call_until_the_crisis_cell_approves(
    temporal_client: Client, link: Link, clean_simulator: SimulatorHandle,
    smtp_server: SmtpServer,
) -> None:
    cut = await link.handle.execute_update(
        AgoraLinkWorkflow.cut_off, CutOffRequest("rssi.corse", "clé de signature compromise"))
    assert cut.status == CUT_OFF
    record = cut.cut_offs[-1]
    assert datetime.fromisoformat(record.meeting_deadline) == add_working_days(
        datetime.fromisoformat(record.at), 2, link.config.calendar)

    warning, convocation = await smtp_server.wait_for(lambda m: len(m) == 2)
    assert sorted(warning.envelope_to) == sorted(
        [CONTACTS.cdc_support.email, CONTACTS.region_contact.email])
    assert "Coupure" in warning.subject and "clé de signature compromise" in warning.text
    # The production domain's cell (the default domain of a cut-off), not the studies' leads.
    production = CONTACTS.crisis_cell.members_for("production")
    assert sorted(convocation.envelope_to) == sorted(m.email for m in production)
    assert "MOA-CORSE" not in {m.user_code for m in production}
    assert "cellule de crise" in convocation.subject and "2 jours ouvrés" in convocation.text
    assert "du domaine production" in convocation.text

    calls = [await link.call(temporal_client, 20 + serial) for serial in range(3)]
    await eventually(lambda: _waiting(link, 3))
    waiters = [w.workflow_id for w in (await link.state()).waiters]
    assert sorted(waiters) == sorted(handle.id for handle, _ in calls)
    with pytest.raises(WorkflowUpdateFailedError):  # the cell has not met and decided yet
        await link.handle.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                         ApprovalRequest("RSSI-CORSE", "analyse terminée"))
    met = await link.handle.execute_update(AgoraLinkWorkflow.record_meeting, CrisisMeeting(
        held_at=datetime.now(UTC).isoformat(), attendees=["RSSI-CORSE", "RSSI-CDC", "TECH-CDC"],
        minutes="Clé révoquée, nouveau certificat installé et vérifié.",
        decision="reconnexion après installation du nouveau certificat",
        reconnection_agreed=True, recorded_by="rssi.corse"))
    assert met.cut_offs[-1].meetings[0].attendees == ["RSSI-CORSE", "RSSI-CDC", "TECH-CDC"]
    with pytest.raises(WorkflowUpdateFailedError):  # not an approver
        await link.handle.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                         ApprovalRequest("MOA-CORSE"))
    one = await link.handle.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                           ApprovalRequest("RSSI-CORSE", "analyse terminée"))
    assert one.status == CUT_OFF  # 2 approvals required
    with pytest.raises(WorkflowUpdateFailedError):  # approving twice does not count twice
        await link.handle.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                         ApprovalRequest("RSSI-CORSE"))
    await asyncio.sleep(0.3)
    for _, request in calls:
        assert requests_for(clean_simulator, request) == []  # AGORA received nothing

    reopened = await link.handle.execute_update(AgoraLinkWorkflow.approve_reconnection,
                                                ApprovalRequest("RSSI-CDC"))
    assert reopened.status == CONNECTED and reopened.cut_offs[-1].reconnected_at
    assert [a.who for a in reopened.cut_offs[-1].approvals] == ["RSSI-CORSE", "RSSI-CDC"]
    # Each approval refers to the meeting's decision.
    assert all("nouveau certificat" in a.decision for a in reopened.cut_offs[-1].approvals)
    for handle, request in calls:
        result: GatedResult = await handle.result()
        assert [w.reason for w in result.waits] == ["cut_off"]
        assert len(requests_for(clean_simulator, request)) == 1  # no duplicate
    assert await reopened_signals(link) == waiters  # woken in the order they registered
    assert len(smtp_server.messages) == 2


async def reopened_signals(link: Link) -> list[str]:
    """The workflows the link signalled, in the order it sent the signals."""
    return [
        event.signal_external_workflow_execution_initiated_event_attributes
        .workflow_execution.workflow_id
        async for event in link.handle.fetch_history_events()
        if event.HasField("signal_external_workflow_execution_initiated_event_attributes")
    ]


async def _waiting(link: Link, count: int) -> bool:
    return len((await link.state()).waiters) == count
