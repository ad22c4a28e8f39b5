"""Records the workflow histories that tests/test_replay.py replays against today's code.

    .venv/bin/python -m tests.histories.record

Starts its own Temporal dev server, AGORA simulator, SMTP sink and the product's worker,
runs each scenario below one after the other (fixed ids, fixed synthetic people, fixed
event data, fixed injected faults), then writes each workflow run's history to
``tests/histories/<name>.json`` and the list of them to ``index.json``. Earlier
recordings are removed first. Takes well under a minute.

Re-record only for a change that no running workflow will ever replay (see README,
"Safe deploys"): the point of these files is that yesterday's histories still replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

# No AGORA maintenance window in the worker's own settings, whatever the day (as tests/conftest.py).
os.environ["AGORA_FLOW_MAINTENANCE_WINDOWS"] = ""

import devstack
import worker as agora_worker
from agora.messages import Funder, Person, TrainingAction
from agora.pki import ensure_dev_pki
from agora.simulator.config import SimulatorConfig
from backfill.sample import write_sample
from contracts import agora_reads as reads
from contracts import search_attributes
from contracts.agora_link import (
    ApprovalRequest,
    CrisisMeeting,
    CutOffRequest,
    GateConfig,
    LinkConfig,
)
from contracts.agora_reads import AgoraReadCall, AgoraReadInput, ReadRequest
from contracts.backfill import BackfillProgress
from contracts.backfill import workflow_id_for as backfill_workflow_id
from contracts.dossier import (
    DossierInput,
    EscalationConfig,
    EventRequest,
    MarketLink,
    RetryConfig,
    SettledCorrection,
    settled_correction_workflow_id,
)
from contracts.dossier import workflow_id_for as dossier_workflow_id
from contracts.incident import (
    AttachedFailure,
    CdcReport,
    IncidentAction,
    IncidentInput,
    IncidentTimings,
    PhoneCall,
    Reclassification,
)
from contracts.incident import workflow_id_for as incident_workflow_id
from contracts.market import MarketEventRequest, MarketInput, PlaceRequest
from contracts.market import workflow_id_for as market_workflow_id
from contracts.reconcile import ReconcileRequest
from contracts.subject_request import (
    DpoAction,
    Extension,
    RetentionRun,
    SubjectRequest,
)
from contracts.subject_request import workflow_id_for as subject_request_workflow_id
from contracts.trace_export import READY, TraceExportRequest
from contracts.trace_export import workflow_id_for as trace_export_workflow_id
from contracts.traces import TraceMaintenance
from notifications.contacts import EXAMPLE_FILE, load_contacts
from settings import Settings
from state_models.calendar import WorkingCalendar
from state_models.incident_detection import BurstRule
from state_models.market import MarketFacts, MarketSession, MarketTerms
from state_models.validators import nir_key
from store.incident_attachments import AttachmentStore
from temporal_client.agora_reads import ask_agora
from temporal_client.backfill import report_csv, start_campaign
from temporal_client.dossiers import (
    EventRefused,
    correct_settled_dossier,
    create_dossier,
    send_event,
    view_dossier,
)
from temporal_client.link import ensure_link_workflow, link_state
from temporal_client.markets import (
    create_market,
    reserve_place,
    send_market_event,
    view_market,
)
from temporal_client.subject_requests import (
    carry_out,
    extend,
    lift,
    start_subject_request,
    subject_request_view,
)
from temporal_client.traces import deliver_trace_export, start_trace_export, trace_export_view
from tests.factories import LIFECYCLE, MARKET_LIFECYCLE
from tests.fixtures_agora import (
    FileChannelHandle,
    SimulatorHandle,
    start_file_channel,
    start_simulator,
)
from tests.fixtures_smtp import SmtpServer, start_smtp_server
from workflows.incident import IncidentWorkflow
from workflows.personal_data_retention import PersonalDataRetentionWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.trace_maintenance import TraceMaintenanceWorkflow

HERE = Path(__file__).resolve().parent
INDEX = HERE / "index.json"
TASK_QUEUE = "replay-histories"
LINK_ID = "agora-link-replay"
# The example contacts (fictitious people, example.org addresses), never a configured file.
CONTACTS = load_contacts(EXAMPLE_FILE)
MANAGER = CONTACTS.dossier_manager_email("*")
HEAD = CONTACTS.head_of_service.email if CONTACTS.head_of_service else ""
RETRY = RetryConfig(initial_interval_seconds=0.1, backoff_coefficient=1.5,
                    maximum_interval_seconds=0.5, attempt_timeout_seconds=5.0)
NO_MAINTENANCE = GateConfig(maintenance_windows=[], link_workflow_id=LINK_ID)
# Clocks long enough never to fire during a recording: their timers start and are cancelled.
QUIET_CLOCKS = EscalationConfig(partner_name=CONTACTS.partner_name, manager_email=MANAGER,
                                head_of_service_email=HEAD, page_url="http://ui.example.org/",
                                reminder_after_seconds=3600, escalation_after_seconds=7200)
ACTION = TrainingAction(siret="73282932000074", action_id="AF-REPLAY-001",
                        title="Titre professionnel Agent de restauration", duration_hours=420,
                        start_date="2026-01-05", end_date="2026-06-30",
                        certification_code="RNCP35987")
WAIT_SECONDS = 15.0

T = TypeVar("T")


def person(serial: int, birth_name: str | None = None) -> Person:
    """A synthetic person: a valid but invented NIR, an invented name, an example.org address."""
    base = f"1{85 + serial % 10:02d}{1 + serial % 12:02d}2A{serial:03d}{serial:03d}"
    return Person(nir=f"{base}{nir_key(base):02d}", birth_name=birth_name or f"SANTONI{serial}",
                  first_names="Maria Lucia", birth_date="1985-03-14", sex="1",
                  email="maria.santoni@example.org")


def dossier(dossier_id: str, serial: int, escalation: EscalationConfig = QUIET_CLOCKS,
            **changes: object) -> DossierInput:
    return dataclasses.replace(
        DossierInput(dossier_id=dossier_id, person=person(serial), action=ACTION,
                     acting_user="agent.dupont", retry=RETRY, link=NO_MAINTENANCE,
                     escalation=escalation), **changes)


def event(name: str, data: dict) -> EventRequest:
    return EventRequest(name, "agent.dupont", data)


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """``read()``'s value once ``done`` holds for it; fails after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not done(value := await read()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"never reached: {value}")
        await asyncio.sleep(0.05)
    return value


async def refused(call: Awaitable[object], kind: str) -> None:
    try:
        await call
    except EventRefused as refusal:
        if refusal.kind != kind:
            raise
    else:
        raise RuntimeError(f"expected a refusal {kind}")


class Recorder:
    def __init__(self, client: Client, simulator: SimulatorHandle, settings: Settings,
                 file_channel: FileChannelHandle, smtp: SmtpServer) -> None:
        self.client = client
        self.smtp = smtp
        self.simulator = simulator
        self.settings = settings
        self.file_channel = file_channel
        self.saved: list[dict[str, str]] = []

    def person_ids(self, nir: str) -> list[int]:
        from store.crypto import cipher_for
        from store.db import Database
        from store.subject_requests import find_persons

        database = Database(self.settings.effective_database_url)
        try:
            with database.sessions() as session:
                return [p.id for p in find_persons(session, cipher_for(self.settings), nir=nir)]
        finally:
            database.dispose()

    def subject_request(self, request_id: str, kind: str, nir: str, dossier_ids: list[str],
                        day_seconds: float = 3600.0, **changes: object) -> SubjectRequest:
        now = datetime.now(UTC).isoformat()
        return dataclasses.replace(SubjectRequest(
            request_id=request_id, kind=kind, requester="la personne, par courrier",
            identity_check="copie de pièce d'identité", received_at=now, recorded_by="dpd",
            recorded_at=now, found_by="nir", person_ids=self.person_ids(nir),
            dossier_ids=dossier_ids, dpo_email="dpd@example.org", escalation_emails=[HEAD],
            partner_name=CONTACTS.partner_name, day_seconds=day_seconds), **changes)

    async def save(self, name: str, scenario: str, handle: WorkflowHandle) -> None:
        """Writes every run of ``handle``'s workflow, first to last (``name``, ``name.run2``…)."""
        run_id: str | None = (await self.client.get_workflow_handle(handle.id).describe()
                              ).raw_description.workflow_execution_info.first_run_id
        number = 1
        while run_id:
            history = await self.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            file = f"{name}.json" if number == 1 else f"{name}.run{number}.json"
            (HERE / file).write_text(history.to_json() + "\n", encoding="utf-8")
            self.saved.append({"file": file, "scenario": scenario, "workflow_id": handle.id,
                               "workflow_type": history.events[0].workflow_execution_started_event_attributes.workflow_type.name})
            last = history.events[-1]
            run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                      if last.HasField("workflow_execution_continued_as_new_event_attributes") else None)
            number += 1

    def handle(self, workflow_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(workflow_id)

    # --- the scenarios -------------------------------------------------------------------

    async def dossier_lifecycle(self) -> None:
        """Created → settled, through an interruption and its resumption; AGORA refuses the
        first entry once (a business fault), the same entry sent again goes through."""
        d = dossier("D-REPLAY-LIFECYCLE", 1)
        await create_dossier(self.client, d, TASK_QUEUE)
        validate, enter, *rest = LIFECYCLE
        await send_event(self.client, d.dossier_id, event(*validate))
        self.simulator.inject("soap_fault", operation="EntrerEnFormation", count=1,
                              fault_code="agora:DonneesInvalides", message="date d'entrée incohérente")
        await refused(send_event(self.client, d.dossier_id, event(*enter)), "AgoraBusinessFault")
        for step in (enter, *rest):
            await send_event(self.client, d.dossier_id, event(*step))
        handle = self.handle(dossier_workflow_id(d.dossier_id))
        await handle.result()
        await self.save("dossier-lifecycle", "whole lifecycle, interruption, one refused call", handle)

    async def dossier_escalated(self) -> None:
        """AGORA refuses the entry and nobody corrects it: reminder, then escalation; then
        the correction goes through."""
        clocks = dataclasses.replace(QUIET_CLOCKS, reminder_after_seconds=0.5,
                                     escalation_after_seconds=1.0)
        d = dossier("D-REPLAY-ESCALATED", 2, escalation=clocks)
        await create_dossier(self.client, d, TASK_QUEUE)
        validate, enter, *_ = LIFECYCLE
        await send_event(self.client, d.dossier_id, event(*validate))
        self.simulator.inject("soap_fault", operation="EntrerEnFormation", count=1,
                              fault_code="agora:DonneesInvalides", message="date d'entrée incohérente")
        await refused(send_event(self.client, d.dossier_id, event(*enter)), "AgoraBusinessFault")
        await eventually(lambda: view_dossier(self.client, d.dossier_id), lambda v: len(v.emails) == 2)
        await send_event(self.client, d.dossier_id, event(*enter))
        await self.save("dossier-escalated", "refused, reminded, escalated, corrected",
                        self.handle(dossier_workflow_id(d.dossier_id)))

    async def dossier_reengineered(self) -> None:
        """The lifecycle's person under another surname: AGORA refuses the registration
        (NIR/surname check); the corrected surname registers it (AGORA finds the dossier
        it already holds)."""
        d = dossier("D-REPLAY-REENGINEERED", 1)
        right = d.person.birth_name
        d.person.birth_name = "NOM-ERRONE"
        view = await create_dossier(self.client, d, TASK_QUEUE)
        assert not view.registered, "AGORA must refuse the mismatched surname"
        await send_event(self.client, d.dossier_id, event("reengineer", {
            "reason": "erreur de saisie du nom",
            "corrections": [{"name": "birth_name", "value": right}]}))
        await self.save("dossier-reengineered", "registration refused, then corrected",
                        self.handle(dossier_workflow_id(d.dossier_id)))

    async def dossier_cofunded(self) -> None:
        """A dossier funded by the Region (60 %) and the ESF (40 %), validated, then its
        funders replaced by a re-engineering (Region 50 %, France Travail 50 %)."""
        action = dataclasses.replace(ACTION, action_id="AF-REPLAY-COFUNDED",
                                     funders=[Funder("2", "60.00"), Funder("3", "40.00")])
        d = dossier("D-REPLAY-COFUNDED", 3, action=action)
        await create_dossier(self.client, d, TASK_QUEUE)
        validate, *_ = LIFECYCLE
        await send_event(self.client, d.dossier_id, event(*validate))
        await send_event(self.client, d.dossier_id, event("reengineer", {
            "reason": "cofinancement France Travail",
            "funders": [{"code": "2", "share": "50.00"}, {"code": "4", "share": "50.00"}]}))
        await self.save("dossier-cofunded", "two funders, replaced by a re-engineering",
                        self.handle(dossier_workflow_id(d.dossier_id)))

    async def market_continued_as_new(self) -> None:
        """A market through its lifecycle with two dossiers of its own (one trained and
        settled, one cancelled), continuing as new every few events."""
        sessions = [MarketSession("S1", 2, "2026-01-05", "2026-06-30"),
                    MarketSession("S2", 1, "2026-02-05", "2026-07-30")]
        terms = MarketTerms(reference="MP-REPLAY-01", lot_number="3", lot_title="Soudure TIG",
                            siret="73282932000074", amount_excl_tax="10000.00",
                            amount_incl_tax="12000.00", funding_source="region", sessions=sessions)
        market = MarketInput(market_id="M-REPLAY-CAN", facts=MarketFacts(terms),
                             acting_user="agent.marches", retry=RETRY, link=NO_MAINTENANCE,
                             continue_as_new_after_events=30)
        await create_market(self.client, market, TASK_QUEUE)
        *opening, exit_, settle = MARKET_LIFECYCLE
        for name, data in opening:
            await send_market_event(self.client, market.market_id,
                                    MarketEventRequest(name, "agent.marches", data))
        trained = dossier("D-REPLAY-MARKET-1", 4, market=MarketLink(market.market_id, "S1"))
        dropped = dossier("D-REPLAY-MARKET-2", 5, market=MarketLink(market.market_id, "S2"))
        for d, events in ((trained, LIFECYCLE), (dropped, [("cancel", {"reason": "désistement"})])):
            await reserve_place(self.client, market.market_id,
                                PlaceRequest(d.dossier_id, d.market.session_id))  # type: ignore[union-attr]
            await create_dossier(self.client, d, TASK_QUEUE)
            for step in events:
                state = (await send_event(self.client, d.dossier_id, event(*step))).state
                # The dossier's report has reached the market before the next event: the
                # same order of events on every recording.
                await eventually(lambda: view_market(self.client, market.market_id),
                                 lambda v, state=state: v.dossier_counts.get(state, 0) >= 1)

        for name, data in (exit_, settle):
            await send_market_event(self.client, market.market_id,
                                    MarketEventRequest(name, "agent.marches", data))
        handle = self.handle(market_workflow_id(market.market_id))
        await handle.result()
        await self.save("market-continued-as-new", "lifecycle with dossiers, continued as new", handle)
        await self.save("market-dossier-settled", "a market's dossier through its lifecycle",
                        self.handle(dossier_workflow_id(trained.dossier_id)))
        await self.save("market-dossier-cancelled", "a market's dossier cancelled before entry",
                        self.handle(dossier_workflow_id(dropped.dossier_id)))

    async def incident_escalated(self) -> None:
        """Nobody acknowledges: escalation, reminder, deadline passed; then acknowledged,
        worked around, resolved."""
        ticket = "INC-REPLAY-ESCALATED"
        handle = await self.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(ticket=ticket, severity="critical_major", kind="agora_unavailable",
                          description="Le service ValiderDossier répond HTTP 503 à tous les appels.",
                          detected_at=datetime.now(UTC).isoformat(), contacts=CONTACTS,
                          calendar=WorkingCalendar(),
                          timings=IncidentTimings(escalation_if_no_ack_seconds=0.4,
                                                  reminder_before_deadline_seconds=0.6,
                                                  deadline_override_seconds=1.2),
                          attachments=["journal-503.txt"], opened_by="agent.dupont"),
            id=incident_workflow_id(ticket), task_queue=TASK_QUEUE)
        await eventually(lambda: handle.query(IncidentWorkflow.view), lambda v: len(v.emails) == 4)
        for update in (IncidentWorkflow.acknowledge, IncidentWorkflow.work_around,
                       IncidentWorkflow.resolve):
            await handle.execute_update(update, IncidentAction("cdc.support", "note"))
        await handle.result()
        await self.save("incident-escalated", "no acknowledgement, escalated, resolved", handle)

    async def incident_holds_its_traces(self) -> None:
        """A minor incident holds its traces from the start; a failure of a dossier is
        attached; at resolution the hold's window closes with that dossier."""
        ticket = "INC-REPLAY-HOLD"
        handle = await self.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(ticket=ticket, severity="minor", kind="agora_slow",
                          description="Réponses lentes de ValiderDossier.",
                          detected_at=datetime.now(UTC).isoformat(), contacts=CONTACTS,
                          calendar=WorkingCalendar(), opened_by="agent.dupont"),
            id=incident_workflow_id(ticket), task_queue=TASK_QUEUE)
        await eventually(lambda: handle.query(IncidentWorkflow.view), lambda v: len(v.emails) == 1)
        await handle.signal(IncidentWorkflow.attach_failure, AttachedFailure(
            datetime.now(UTC).isoformat(), "ValiderDossier", "HTTP 503",
            workflow_id="dossier-D-REPLAY-HOLD"))
        await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support", "note"))
        await handle.result()
        await self.save("incident-holds-its-traces", "legal hold placed, window closed", handle)

    async def link_cut_off_and_reconnected(self) -> None:
        """The link is cut off; a dossier's registration waits; the crisis cell's two
        approvers reconnect it and the dossier goes on. Then a burst of 503s opens an
        incident, which is resolved."""
        link = self.handle(LINK_ID)
        await link.execute_update("cut_off", CutOffRequest("rssi.corse", "clé de signature compromise"))
        d = dossier("D-REPLAY-HELD", 6)
        view = await create_dossier(self.client, d, TASK_QUEUE)
        assert not view.registered, "the cut-off must hold the registration"
        await link.execute_update("record_crisis_meeting", CrisisMeeting(
            datetime.now(UTC).isoformat(), list(CONTACTS.crisis_cell.approvers),
            "clé remplacée", "reconnecter", reconnection_agreed=True, recorded_by="rssi.corse"))
        for approver in CONTACTS.crisis_cell.approvers:
            await link.execute_update("approve_reconnection", ApprovalRequest(approver, "accord écrit"))
        await eventually(lambda: view_dossier(self.client, d.dossier_id), lambda v: v.registered)

        self.simulator.inject("http503", operation="ValiderDossier", count=3)
        await send_event(self.client, d.dossier_id, event(*LIFECYCLE[0]))
        state = await eventually(lambda: link_state(self.client, LINK_ID),
                                 lambda s: bool(s.open_incidents))
        [ticket] = state.open_incidents.values()
        incident = self.handle(incident_workflow_id(ticket))
        await eventually(lambda: incident.query(IncidentWorkflow.view), lambda v: len(v.emails) == 1)
        await incident.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
        await incident.result()
        await eventually(lambda: link_state(self.client, LINK_ID), lambda s: not s.open_incidents)
        await self.save("link-cut-off-reconnected", "cut off, reconnected, burst opened an incident", link)
        await self.save("dossier-held-by-cut-off", "registration held by the cut-off",
                        self.handle(dossier_workflow_id(d.dossier_id)))
        await self.save("incident-opened-by-link", "opened by a burst of 503s, resolved", incident)

    async def incident_service_convention(self) -> None:
        """The service convention's steps: a prioritised incident with a file, reclassified,
        notified by phone too; an anomaly the CDC reported whose commitments are missed; a
        major disaster whose crisis cell meets and decides to reconnect."""
        ticket = "INC-REPLAY-CONVENTION"
        kept = AttachmentStore(self.settings).save(ticket, "journal-503.log",
                                                   b"09:12 HTTP 503 ValiderDossier\n", "agent.dupont")
        handle = await self.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(ticket=ticket, severity="minor", kind="manual",
                          description="Lenteurs puis erreurs 503 sur ValiderDossier.",
                          detected_at=datetime.now(UTC).isoformat(), contacts=CONTACTS,
                          calendar=WorkingCalendar(), impact="few_users", urgency="medium",
                          files=[kept], opened_by="agent.dupont",
                          timings=IncidentTimings(escalation_if_no_ack_seconds=3600,
                                                  reminder_before_deadline_seconds=1800,
                                                  deadline_override_seconds=7200)),
            id=incident_workflow_id(ticket), task_queue=TASK_QUEUE)
        await eventually(lambda: handle.query(IncidentWorkflow.view), lambda v: len(v.emails) == 1)
        await handle.execute_update(IncidentWorkflow.reclassify, Reclassification(
            "all_users", "high", "chef.service", "plus aucun appel ne passe"))
        await handle.execute_update(IncidentWorkflow.record_phone_call, PhoneCall(
            "Paul Leca", "support CPF", datetime.now(UTC).isoformat(), "503 partout", "agent.dupont"))
        await handle.execute_update(IncidentWorkflow.resolve, IncidentAction("cdc.support"))
        await handle.result()
        await self.save("incident-reclassified-phoned", "priority, reclassified, phone, file", handle)

        reported = "INC-REPLAY-CDC"
        cdc = await self.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(ticket=reported, severity="critical_major", kind="manual",
                          description="La CDC constate des rejets de signature.",
                          detected_at=datetime.now(UTC).isoformat(), contacts=CONTACTS,
                          calendar=WorkingCalendar(), impact="fifty_users_or_more",
                          urgency="high", origin="cdc",
                          cdc_report=CdcReport("CDC-REPLAY-1", datetime.now(UTC).isoformat(),
                                               "support CPF", "phone"),
                          timings=IncidentTimings(cdc_ack_commitment_seconds=0.4,
                                                  deadline_override_seconds=1.0)),
            id=incident_workflow_id(reported), task_queue=TASK_QUEUE)
        await eventually(lambda: cdc.query(IncidentWorkflow.view), lambda v: len(v.emails) == 2)
        await cdc.execute_update(IncidentWorkflow.resolve, IncidentAction("support.cpf"))
        await cdc.result()
        await self.save("incident-reported-by-cdc", "CDC commitments missed, escalated", cdc)

        crisis_id = "agora-link-replay-crisis"
        config = dataclasses.replace(link_config(), guard_cache_seconds=0.1)
        await ensure_link_workflow(self.client, TASK_QUEUE, config, crisis_id)
        crisis = self.handle(crisis_id)
        # The follow-up's timer (2 working days) is set, then cancelled by the meeting.
        await crisis.execute_update("cut_off", CutOffRequest(
            "admin", "incendie du centre de données", "studies", major_disaster=True))
        await crisis.execute_update("record_crisis_meeting", CrisisMeeting(
            datetime.now(UTC).isoformat(), ["RSSI-CORSE", "RSSI-CDC"], "site de secours prêt",
            "reconnecter", reconnection_agreed=True, recorded_by="admin"))
        for approver in CONTACTS.crisis_cell.approvers:
            await crisis.execute_update("approve_reconnection", ApprovalRequest(
                approver, "accord écrit", recorded_by=approver))
        await crisis.terminate("enregistrement terminé")
        await self.save("link-major-disaster", "major disaster, meeting, reconnected", crisis)

    async def incident_late_notification(self) -> None:
        """The CDC's mailbox refuses the notification: 3 s after detection (instead of 1 h 30)
        the late-notification alert goes out; the incident was opened by one user and
        acknowledged by another, one of them absent from the staff directory."""
        ticket = "INC-REPLAY-LATE"
        self.smtp.refuse(CONTACTS.cdc_support.email)
        try:
            handle = await self.client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(ticket=ticket, severity="critical_major", kind="manual",
                              description="Plus aucun appel ne passe.",
                              detected_at=datetime.now(UTC).isoformat(), contacts=CONTACTS,
                              calendar=WorkingCalendar(), impact="all_users", urgency="high",
                              opened_by="operateur",
                              timings=IncidentTimings(late_notification_alert_seconds=3.0,
                                                      escalation_if_no_ack_seconds=3600,
                                                      deadline_override_seconds=7200)),
                id=incident_workflow_id(ticket), task_queue=TASK_QUEUE)
            await handle.execute_update(IncidentWorkflow.acknowledge,
                                        IncidentAction("agent.dupont", "la CDC a vu l'anomalie"))
            await eventually(lambda: handle.query(IncidentWorkflow.view), lambda v: any(
                e.template == "late_notification" for e in v.emails))
            # The CDC's notification is retried for ever: the recording stops it.
            await handle.terminate("enregistrement terminé")
        finally:
            self.smtp.accept_all()
        await self.save("incident-late-notification", "CDC refused, late alert, terminated", handle)

    async def orphan_place_reconciled(self) -> None:
        """A place reserved for a dossier whose workflow never started (the API died in
        between) is given back by the reconciliation."""
        terms = MarketTerms(reference="MP-REPLAY-02", lot_number="1", lot_title="Cariste",
                            siret="73282932000074", amount_excl_tax="5000.00",
                            amount_incl_tax="6000.00", funding_source="region",
                            sessions=[MarketSession("S1", 2, "2026-01-05", "2026-06-30")])
        market = MarketInput(market_id="M-REPLAY-ORPHAN", facts=MarketFacts(terms),
                             acting_user="agent.marches", retry=RETRY, link=NO_MAINTENANCE)
        await create_market(self.client, market, TASK_QUEUE)
        await reserve_place(self.client, market.market_id, PlaceRequest("D-REPLAY-ORPHAN", "S1"))
        handle = await self.client.start_workflow(
            ReconcileWorkflow.run, ReconcileRequest(TASK_QUEUE, grace_seconds=0),
            id="reconcile-replay", task_queue=TASK_QUEUE)
        report = await handle.result()
        assert [p.dossier_id for p in report.released] == ["D-REPLAY-ORPHAN"], report
        await self.save("reconcile-orphan-place", "an orphan place released", handle)

    async def backfill_campaign(self) -> None:
        """A small campaign: NIR resolution, three chunks, a late acknowledgement, open
        dossiers brought to life (one of them saved too), the report."""
        export = self.settings.data_dir / "reprise.csv"
        write_sample(export, 60, seed=14)
        self.file_channel.inject("late_answer", count=2, delay_seconds=0.5)
        campaign = await start_campaign(
            self.client, dataclasses.replace(self.settings, backfill_chunk_rows=20), export,
            campaign_id="REPLAY-1", answer_poll_seconds=0.2, starts_per_second=20.0)
        handle = self.client.get_workflow_handle(backfill_workflow_id(campaign),
                                                 result_type=BackfillProgress)
        result = await handle.result()
        assert result.dossiers_started > 0, result
        await self.save("backfill-campaign", "resolution, chunks, late answers, open dossiers",
                        handle)
        started = [row.split(";")[2] for row in report_csv(self.settings, campaign).decode(
            "utf-8-sig").splitlines() if row.startswith("ouvert_demarre;")]
        await self.save("dossier-backfilled", "an open dossier brought to life by the backfill",
                        self.handle(dossier_workflow_id(f"REPRISE-{started[0]}")))

    async def backfill_answer_overdue(self) -> None:
        """A campaign whose NIR-resolution answer comes after it was due: marked overdue and
        emailed, then the campaign goes on to its end."""
        export = self.settings.data_dir / "reprise-retard.csv"
        write_sample(export, 30, seed=19)
        self.file_channel.inject("late_answer", count=1, delay_seconds=2.0)
        campaign = await start_campaign(
            self.client, dataclasses.replace(self.settings, backfill_chunk_rows=20), export,
            campaign_id="REPLAY-OVERDUE", acting_user="gestionnaire", answer_poll_seconds=0.2,
            answer_overdue_seconds=0.5, starts_per_second=20.0)
        handle = self.client.get_workflow_handle(backfill_workflow_id(campaign),
                                                 result_type=BackfillProgress)
        result = await handle.result()
        assert [f.kind for f in result.files if f.overdue_since] == ["resolution"], result
        await self.save("backfill-answer-overdue", "an answer overdue, emailed, then received",
                        handle)

    async def trace_maintenance(self) -> None:
        """The daily checkpoint, then the retention purge (which signs one too)."""
        for name, job in (("trace-checkpoint", TraceMaintenance(purge=False)),
                          ("trace-purge", TraceMaintenance(purge=True, retention_days=365))):
            handle = await self.client.start_workflow(
                TraceMaintenanceWorkflow.run, job, id=f"{name}-replay", task_queue=TASK_QUEUE)
            await handle.result()
            await self.save(name, "signed checkpoint" if not job.purge else "retention purge",
                            handle)

    async def trace_export_late_then_delivered(self) -> None:
        """A trace request produced at once, not downloaded: reminder, escalation; then
        delivered (days shrunk to a fraction of a second)."""
        request = TraceExportRequest(
            export_id="X-REPLAY-1", requester="CDC", reference="REQ-REPLAY-1",
            recorded_by="auditeur", requested_at=datetime.now(UTC).isoformat(),
            dossier_ids=["D-REPLAY-LIFECYCLE"], day_seconds=0.2,
            security_officer_email="rssi@example.org", escalation_emails=[HEAD],
            partner_name=CONTACTS.partner_name)
        await start_trace_export(self.client, TASK_QUEUE, request)
        await eventually(lambda: trace_export_view(self.client, request.export_id),
                         lambda v: v.state == READY and len(v.emails) == 2)
        await deliver_trace_export(self.client, request.export_id, "auditeur")
        handle = self.handle(trace_export_workflow_id(request.export_id))
        await handle.result()
        await self.save("trace-export-delivered", "produced, reminded, escalated, delivered",
                        handle)

    async def subject_requests(self) -> None:
        """An access request left unanswered (days shrunk: both reminders, the escalation),
        then answered; a rectification sent to AGORA through a registered dossier; a
        restriction placed then lifted; an erasure refused (a settled, funded dossier)."""
        d = dossier("D-REPLAY-RGPD", 4)
        await create_dossier(self.client, d, TASK_QUEUE)
        nir = d.person.nir
        access = self.subject_request("R-REPLAY-ACCESS", "access", nir, [d.dossier_id],
                                      day_seconds=0.05)
        await start_subject_request(self.client, TASK_QUEUE, access)
        await eventually(lambda: subject_request_view(self.client, access.request_id),
                         lambda v: "escalation" in v.emails)
        await carry_out(self.client, access.request_id, DpoAction("dpd", "remise par courrier"))
        await self.save("subject-request-access-late", "reminded, escalated, answered",
                        self.handle(subject_request_workflow_id(access.request_id)))

        rectification = self.subject_request(
            "R-REPLAY-RECTIFY", "rectification", nir, [d.dossier_id],
            corrections={"first_names": "Maria Lucia Anna", "email": "m.santoni@example.org"})
        await start_subject_request(self.client, TASK_QUEUE, rectification)
        await extend(self.client, rectification.request_id,
                     Extension("dpd", 1, "vérification auprès de l'organisme"))
        view = await carry_out(self.client, rectification.request_id, DpoAction("dpd"))
        assert [o.outcome for o in view.dossiers] == ["acknowledged"], view.dossiers
        await self.save("subject-request-rectified", "extended, rectified through AGORA",
                        self.handle(subject_request_workflow_id(rectification.request_id)))

        restriction = self.subject_request("R-REPLAY-RESTRICT", "restriction", nir, [d.dossier_id])
        await start_subject_request(self.client, TASK_QUEUE, restriction)
        await carry_out(self.client, restriction.request_id, DpoAction("dpd"))
        await refused(send_event(self.client, d.dossier_id, event(*LIFECYCLE[0])),
                      "ProcessingRestricted")
        await lift(self.client, restriction.request_id, DpoAction("dpd", "exactitude vérifiée"))
        await self.handle(subject_request_workflow_id(restriction.request_id)).result()
        await self.save("subject-request-restriction-lifted", "restricted, event refused, lifted",
                        self.handle(subject_request_workflow_id(restriction.request_id)))
        for step in LIFECYCLE:
            await send_event(self.client, d.dossier_id, event(*step))
        await self.save("dossier-rectified-restricted",
                        "rectified by a subject request, restricted, lifted, settled",
                        self.handle(dossier_workflow_id(d.dossier_id)))

        erasure = self.subject_request("R-REPLAY-ERASE", "erasure", nir, [d.dossier_id])
        await start_subject_request(self.client, TASK_QUEUE, erasure)
        view = await carry_out(self.client, erasure.request_id, DpoAction("dpd"))
        assert view.state == "refused", view
        await self.save("subject-request-erasure-refused", "erasure refused: public funding",
                        self.handle(subject_request_workflow_id(erasure.request_id)))

        handle = await self.client.start_workflow(
            PersonalDataRetentionWorkflow.run, RetentionRun(retention_days=3650),
            id="personal-data-retention-replay", task_queue=TASK_QUEUE)
        await handle.result()
        await self.save("personal-data-retention", "daily retention run", handle)


    async def settled_correction(self) -> None:
        d = dossier("D-REPLAY-SETTLED-FIX", 41)
        await create_dossier(self.client, d, TASK_QUEUE)
        for step in LIFECYCLE:
            view = await send_event(self.client, d.dossier_id, event(*step))
        assert view.agora_dossier_id is not None
        correction = event("reengineer", {"reason": "nom d'usage oublié",
                                          "corrections": [{"name": "usage_name", "value": "MARTINI"}]})
        await correct_settled_dossier(self.client, SettledCorrection(
            d, view.agora_dossier_id, view.entry_date, len(view.history) + 1,
            dataclasses.replace(correction, event_id="replay-settled-fix"), view.history),
            TASK_QUEUE)
        await self.save("dossier-settled-corrected", "a settled dossier corrected",
                        self.handle(settled_correction_workflow_id(d.dossier_id)))

    async def agora_reads(self) -> None:
        holder = person(40)
        for name, scenario, request in (
                ("agora-read-rights", "a holder's training rights read",
                 ReadRequest(reads.RIGHTS, {"nir": holder.nir})),
                ("agora-read-dif-recorded", "a DIF balance recorded",
                 ReadRequest(reads.RECORD_DIF, {"request_id": "DIF-REPLAY-1", "nir": holder.nir,
                                                "dif_hours": 40}))):
            identity = f"replay-{name}"
            read = AgoraReadInput(AgoraReadCall(request, "agent.dupont"), RETRY, NO_MAINTENANCE)
            await ask_agora(self.client, read, identity, TASK_QUEUE, WAIT_SECONDS)
            await self.save(name, scenario, self.handle(reads.workflow_id_for(identity)))


SCENARIOS = ("backfill_campaign", "backfill_answer_overdue", "dossier_lifecycle", "dossier_escalated", "dossier_reengineered",
             "dossier_cofunded",
             "market_continued_as_new", "incident_escalated", "incident_holds_its_traces",
             "link_cut_off_and_reconnected", "incident_service_convention",
             "incident_late_notification", "orphan_place_reconciled", "trace_maintenance",
             "trace_export_late_then_delivered", "subject_requests", "agora_reads",
             "settled_correction")


def link_config() -> LinkConfig:
    return LinkConfig(
        contacts=CONTACTS, calendar=WorkingCalendar(), maintenance_windows=[],
        burst=BurstRule(failures=3, window_seconds=60),
        # Long clocks: the link's incident sends its notification, nothing more, while recorded.
        incident_timings=IncidentTimings(escalation_if_no_ack_seconds=3600,
                                         reminder_before_deadline_seconds=1800,
                                         deadline_override_seconds=7200),
        ticket_prefix="REPLAY",
    )


async def record(only: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Every scenario (earlier recordings removed), or ``only`` those named: their files
    are added to (or replace theirs in) the index, the others' recordings are kept."""
    with tempfile.TemporaryDirectory(prefix="agora-replay-") as folder:
        smtp = start_smtp_server()
        base = dataclasses.replace(Settings(), env="development", data_dir=Path(folder), database_url="",
                                   vi_mode="sign", agora_timeout_seconds=2.0,
                                   simulator_admin=True)  # faults are injected
        ensure_dev_pki(base.pki_dir, base.application_id)
        simulator, server, thread = start_simulator(SimulatorConfig.from_settings(
            base, db_path=base.data_dir / "agora-simulator.sqlite3"))
        file_channel, channel_server, channel_thread = start_file_channel(
            base.pki_dir, ensure_dev_pki(base.pki_dir, base.application_id),
            simulator.config.admin_token or "", simulator.store)
        port = int(simulator.base_url.rsplit(":", 1)[1])
        settings = dataclasses.replace(
            base, agora_url=simulator.url, simulator_host="127.0.0.1", simulator_port=port,
            file_channel_url=file_channel.base_url,
            link_workflow_id=LINK_ID, task_queue=TASK_QUEUE, smtp_host="127.0.0.1",
            smtp_port=smtp.config.port, maintenance_windows=())
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=devstack.temporal_binary(),
            search_attributes=list(search_attributes.ALL), dev_server_log_level="error")
        try:
            async with agora_worker.build_worker(env.client, settings):
                await ensure_link_workflow(env.client, TASK_QUEUE, link_config(), LINK_ID)
                recorder = Recorder(env.client, simulator, settings, file_channel, smtp)
                kept: list[dict[str, str]] = []
                if only:
                    kept = json.loads(INDEX.read_text(encoding="utf-8"))
                else:
                    for old in HERE.glob("*.json"):
                        old.unlink()
                for name in only or SCENARIOS:
                    scenario = getattr(recorder, name)
                    simulator.clear_faults()
                    began = time.monotonic()
                    await scenario()
                    print(f"{name}: {time.monotonic() - began:.1f} s", flush=True)
                files = {entry["file"] for entry in recorder.saved}
                index = [e for e in kept if e["file"] not in files] + recorder.saved
                INDEX.write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n",
                                 encoding="utf-8")
                return recorder.saved
        finally:
            await env.shutdown()
            simulator.close()
            server.should_exit = True
            thread.join(timeout=5)
            file_channel.close()
            channel_server.should_exit = True
            channel_thread.join(timeout=5)
            smtp.stop()


def main() -> None:
    # The scenarios' refused calls are expected: not their tracebacks.
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    only = tuple(sys.argv[1:])
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    saved = asyncio.run(record(only))
    for entry in saved:
        print(f"{entry['file']:45} {entry['workflow_type']:20} {entry['scenario']}")
    print(f"{len(saved)} histories in {HERE} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
