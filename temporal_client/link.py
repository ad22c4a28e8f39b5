"""What users and operators ask of the AGORA link and its incidents, as Temporal calls.

The API, the UI and the CLI all go through here (as api/commands.py for dossiers):
open an incident, record its acknowledgement, workaround and resolution, read the
link, cut it off and record the crisis cell's approvals of the reconnection.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from contracts.agora_link import (
    LINK_WORKFLOW_ID,
    ApprovalRequest,
    CrisisMeeting,
    CutOffRequest,
    LinkConfig,
    LinkInput,
    LinkState,
)
from contracts.incident import (
    ORIGIN_CDC,
    ORIGIN_REGION,
    ORIGIN_REGION_SYSTEM,
    REGION_EVENT_KINDS,
    REPORT_CHANNELS,
    CdcReport,
    IncidentAction,
    IncidentInput,
    IncidentTimings,
    IncidentView,
    PhoneCall,
    Reclassification,
    RegionEvent,
    workflow_id_for,
)
from contracts.notify import EmailAttachment
from notifications.contacts import Contacts, load_contacts
from settings import Settings
from state_models.calendar import WorkingCalendar, parse_maintenance_window
from state_models.incident import Severity
from state_models.incident_detection import BurstRule
from state_models.incident_priority import PriorityMatrix, parse_matrix
from state_models.public_holidays import default_calendar
from workflows.agora_link import AgoraLinkWorkflow
from workflows.incident import IncidentWorkflow

# Incidents opened by a person; automatic ones have their failure kind.
MANUAL_KIND = "manual"
INCIDENT_ACTIONS = {
    "acknowledge": IncidentWorkflow.acknowledge,
    "work_around": IncidentWorkflow.work_around,
    "resolve": IncidentWorkflow.resolve,
}
LIST_LIMIT = 100


@dataclass
class LinkRefused(Exception):
    """The workflow refused the request (``kind``: Refused or Unknown), or it was malformed."""

    kind: str
    message: str
    field: str = "body"  # the request field an "Invalid" refusal is about

    def __str__(self) -> str:
        return self.message


@dataclass
class NewIncident:
    description: str
    opened_by: str
    # Either an impact and an urgency (the priority follows from the matrix) or, as before
    # priorities, a severity.
    severity: str = ""
    impact: str = ""
    urgency: str = ""
    ticket: str = ""  # the Region's ticket number; generated when empty
    attachments: tuple[str, ...] = ()
    # The opening request's identity (from its idempotency key or form token): a generated
    # ticket is derived from it, so a retried request is the same incident.
    request_id: str = ""
    # An anomaly the CDC reported: the Region notifies nobody and follows its commitments.
    cdc_report: CdcReport | None = None
    # An outage or planned intervention on the Region's own system: the CDC is warned.
    region_event: RegionEvent | None = None
    # Files already kept for this ticket (store/incident_attachments.py): sent with every email.
    files: tuple[EmailAttachment, ...] = ()


def new_ticket(prefix: str, now: datetime, request_id: str = "") -> str:
    source = uuid.UUID(request_id) if request_id else uuid.uuid4()
    return f"{prefix}-{now:%Y%m%d}-{source.hex[:6].upper()}"


def _classify(incident: NewIncident, matrix: PriorityMatrix) -> str:
    """The incident's severity: from its priority, else as given."""
    if incident.impact or incident.urgency:
        for name, value, known in (("impact", incident.impact, matrix.impacts()),
                                   ("urgency", incident.urgency, matrix.urgencies())):
            if value not in known:
                raise LinkRefused("Invalid", f"{'impact inconnu' if name == 'impact' else 'urgence inconnue'}"
                                  f" : {value!r} (attendu : {', '.join(known)})", name)
        return matrix.severity(matrix.priority(incident.impact, incident.urgency))
    if incident.severity not in set(Severity):
        raise LinkRefused("Invalid", f"indiquez l'impact et l'urgence (ou la gravité : "
                          f"{', '.join(Severity)})", "impact")
    return incident.severity


def _check_report(report: CdcReport, now: datetime) -> datetime:
    if not report.reference.strip():
        raise LinkRefused("Invalid", "la référence de la CDC est obligatoire", "cdc_reference")
    if not report.reported_by.strip():
        raise LinkRefused("Invalid", "indiquez qui, à la CDC, a signalé l'anomalie", "cdc_reported_by")
    if report.channel not in REPORT_CHANNELS:
        raise LinkRefused("Invalid", f"canal inconnu : {report.channel!r} "
                          f"(attendu : {', '.join(REPORT_CHANNELS)})", "cdc_channel")
    try:
        reported = datetime.fromisoformat(report.reported_at)
    except ValueError:
        reported = None
    if reported is None or reported.tzinfo is None or reported > now:
        raise LinkRefused("Invalid", "date du signalement invalide : un instant passé, avec son "
                          "fuseau (ex. 2026-12-07T09:12:00+01:00)", "cdc_reported_at")
    return reported


def _check_event(event: RegionEvent) -> None:
    if event.kind not in REGION_EVENT_KINDS:
        raise LinkRefused("Invalid", f"nature inconnue : {event.kind!r} "
                          f"(attendu : {', '.join(REGION_EVENT_KINDS)})", "region_event")
    try:
        starts = datetime.fromisoformat(event.starts_at)
        ends = datetime.fromisoformat(event.ends_at) if event.ends_at else None
    except ValueError:
        starts = ends = None
    if starts is None or starts.tzinfo is None or (ends is not None and ends <= starts):
        raise LinkRefused("Invalid", "début (et fin) invalides : des instants avec leur fuseau, "
                          "la fin après le début", "region_event")


def _origin(incident: NewIncident) -> str:
    if incident.cdc_report and incident.region_event:
        raise LinkRefused("Invalid", "une anomalie signalée par la CDC ne concerne pas le "
                          "système de la Région : choisissez l'un ou l'autre", "region_event")
    if incident.cdc_report:
        return ORIGIN_CDC
    return ORIGIN_REGION_SYSTEM if incident.region_event else ORIGIN_REGION


async def open_incident(client: Client, task_queue: str, incident: NewIncident, *,
                        contacts: Contacts, calendar: WorkingCalendar, ticket_prefix: str,
                        timings: IncidentTimings | None = None,
                        matrix: PriorityMatrix | None = None) -> IncidentView:
    """Start the incident's workflow: it notifies the CDC at once (unless the CDC reported
    it) and follows its SLA."""
    matrix = matrix or PriorityMatrix()
    severity = _classify(incident, matrix)
    if not incident.description.strip():
        raise LinkRefused("Invalid", "la description précise de l'anomalie est obligatoire",
                          "description")
    origin = _origin(incident)
    if incident.region_event:
        _check_event(incident.region_event)
    now = datetime.now(UTC)
    # The CDC's report is the detection of an anomaly it tells us about.
    detected = _check_report(incident.cdc_report, now) if incident.cdc_report else now
    ticket = incident.ticket.strip() or new_ticket(ticket_prefix, now, incident.request_id)
    # A ticket derived from the request: its retry answers the incident already opened.
    derived = not incident.ticket.strip() and bool(incident.request_id)
    on_conflict = WorkflowIDConflictPolicy.USE_EXISTING if derived else WorkflowIDConflictPolicy.FAIL
    try:
        handle = await client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                ticket=ticket,
                severity=severity,
                kind=MANUAL_KIND,
                description=incident.description.strip(),
                detected_at=detected.isoformat(),
                contacts=contacts,
                calendar=calendar,
                timings=timings or IncidentTimings(),
                attachments=list(incident.attachments),
                opened_by=incident.opened_by,
                impact=incident.impact,
                urgency=incident.urgency,
                priority_matrix=matrix,
                origin=origin,
                cdc_report=incident.cdc_report,
                region_event=incident.region_event,
                files=list(incident.files),
            ),
            id=workflow_id_for(ticket),
            task_queue=task_queue,
            id_conflict_policy=on_conflict,
        )
    except WorkflowAlreadyStartedError as error:
        raise LinkRefused("Refused", f"le ticket {ticket} existe déjà") from error
    return await handle.query(IncidentWorkflow.view)


async def incident_view(client: Client, ticket: str) -> IncidentView:
    handle = client.get_workflow_handle(workflow_id_for(ticket))
    try:
        return await handle.query(IncidentWorkflow.view)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise LinkRefused("Unknown", f"incident inconnu : {ticket}") from error
        raise


async def list_incidents(client: Client, task_queue: str) -> list[IncidentView]:
    """The latest incidents of this deployment (its task queue), newest first."""
    query = f"WorkflowType = 'IncidentWorkflow' AND TaskQueue = '{task_queue}'"
    views = []
    async for execution in client.list_workflows(query, limit=LIST_LIMIT):
        views.append(await client.get_workflow_handle(execution.id, run_id=execution.run_id)
                     .query(IncidentWorkflow.view))
    return sorted(views, key=lambda v: v.detected_at, reverse=True)


async def incidents_of_year(client: Client, task_queue: str, year: int) -> list[IncidentView]:
    """Every incident of this deployment started during ``year`` (for the service report)."""
    query = (f"WorkflowType = 'IncidentWorkflow' AND TaskQueue = '{task_queue}' AND "
             f"StartTime >= '{year:04d}-01-01T00:00:00Z' AND StartTime < '{year + 1:04d}-01-01T00:00:00Z'")
    return [await client.get_workflow_handle(e.id, run_id=e.run_id).query(IncidentWorkflow.view)
            async for e in client.list_workflows(query)]


async def act_on_incident(client: Client, ticket: str, action: str, who: str,
                          note: str = "") -> IncidentView:
    """Record an acknowledgement, workaround or resolution: who, when, and a note."""
    if action not in INCIDENT_ACTIONS:
        raise LinkRefused("Invalid", f"action inconnue : {action!r} "
                          f"(attendu : {', '.join(INCIDENT_ACTIONS)})")
    handle = client.get_workflow_handle(workflow_id_for(ticket))
    return await _update_open_incident(
        client, ticket, handle.execute_update(INCIDENT_ACTIONS[action], IncidentAction(who, note)))


async def add_attachment(client: Client, ticket: str, file: EmailAttachment) -> IncidentView:
    """Attach a file kept for ``ticket`` to its open incident: later emails carry it."""
    handle = client.get_workflow_handle(workflow_id_for(ticket))
    return await _update_open_incident(
        client, ticket, handle.execute_update(IncidentWorkflow.add_attachment, file))


async def _update_open_incident(client: Client, ticket: str,
                                update: Awaitable[IncidentView]) -> IncidentView:
    """``update`` of the incident's workflow; a closed incident is refused, named as closed."""
    try:
        return await _update(update, f"incident {ticket}")
    except LinkRefused as refused:
        if refused.kind != "Unknown":
            raise
        # A resolved incident's workflow has completed: it answers queries, not updates.
        closed = await incident_view(client, ticket)
        raise LinkRefused("Refused", f"l'incident {ticket} est clos (état {closed.state})") from refused


async def reclassify_incident(client: Client, ticket: str, change: Reclassification) -> IncidentView:
    """A new impact and urgency: the priority follows, the deadline counts from detection."""
    handle = client.get_workflow_handle(workflow_id_for(ticket))
    return await _update(handle.execute_update(IncidentWorkflow.reclassify, change),
                         f"incident {ticket}")


async def record_phone_call(client: Client, ticket: str, call: PhoneCall) -> IncidentView:
    """Record a notification made by phone; answers once its confirmation email went out."""
    try:
        called = datetime.fromisoformat(call.called_at)
    except ValueError:
        called = None
    if called is None or called.tzinfo is None:
        raise LinkRefused("Invalid", "heure de l'appel invalide : un instant avec son fuseau "
                          "(ex. 2026-12-07T09:30:00+01:00)", "called_at")
    handle = client.get_workflow_handle(workflow_id_for(ticket))
    return await _update(handle.execute_update(IncidentWorkflow.record_phone_call, call),
                         f"incident {ticket}")


def load_priority_matrix(path: str) -> PriorityMatrix:
    """The priority matrix of the JSON file at ``path``; the convention's default without one."""
    if not path:
        return PriorityMatrix()
    with open(path, encoding="utf-8") as source:
        return parse_matrix(json.load(source))


async def link_state(client: Client, link_workflow_id: str) -> LinkState:
    handle = client.get_workflow_handle(link_workflow_id)
    try:
        return await handle.query(AgoraLinkWorkflow.link_state)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise LinkRefused("Unknown", "la liaison AGORA n'est pas encore initialisée "
                              "(aucun worker n'a démarré)") from error
        raise


async def cut_off(client: Client, link_workflow_id: str, who: str, reason: str,
                  domain: str = "production", major_disaster: bool = False) -> LinkState:
    """Disconnect the AGORA link now; the CDC is warned and the domain's crisis cell
    convened. A major disaster also tells both parties' escalation contacts at once."""
    handle = client.get_workflow_handle(link_workflow_id)
    request = CutOffRequest(who, reason, domain, major_disaster)
    return await _update(handle.execute_update(AgoraLinkWorkflow.cut_off, request),
                         "la liaison AGORA")


async def record_crisis_meeting(client: Client, link_workflow_id: str,
                                meeting: CrisisMeeting) -> LinkState:
    """Record the crisis cell's meeting (date, attendees, minutes, decision): it stops the
    reminders, and the reconnection approvals refer to its decision."""
    handle = client.get_workflow_handle(link_workflow_id)
    return await _update(handle.execute_update(AgoraLinkWorkflow.record_meeting, meeting),
                         "la liaison AGORA")


async def approve_reconnection(client: Client, link_workflow_id: str, approver: str,
                               recorded_by: str, note: str = "") -> LinkState:
    """Record one crisis-cell approver's express agreement to reconnect.

    Someone other than the approver may record it (e.g. the operator on duty, from the
    approver's written agreement), and must then say where that agreement is.
    """
    if approver != recorded_by and not note.strip():
        raise LinkRefused("Invalid", "l'accord est enregistré pour le compte d'un membre de la "
                          "cellule de crise : indiquez sa référence (courriel, compte rendu…)")
    handle = client.get_workflow_handle(link_workflow_id)
    request = ApprovalRequest(who=approver, note=note, recorded_by=recorded_by)
    return await _update(handle.execute_update(AgoraLinkWorkflow.approve_reconnection, request),
                         "la liaison AGORA")


async def _update(call: Any, target: str) -> Any:
    try:
        return await call
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise LinkRefused("Refused", message) from failed
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise LinkRefused("Unknown", f"{target} : introuvable") from error
        raise


def link_config_from_environment(settings: Settings | None = None) -> LinkConfig:
    """The link's configuration: contacts file, maintenance windows, holidays of this year
    and the next two (deadlines never span more), burst threshold, from ``settings``."""
    settings = settings or Settings()
    year = datetime.now(UTC).year
    return LinkConfig(
        contacts=load_contacts(),
        calendar=default_calendar(range(year, year + 3)),
        maintenance_windows=[parse_maintenance_window(w) for w in settings.maintenance_windows],
        burst=BurstRule(
            failures=settings.incident_burst_failures,
            window_seconds=settings.incident_burst_window_seconds,
        ),
        ticket_prefix=settings.incident_ticket_prefix,
        priority_matrix=load_priority_matrix(settings.priority_matrix_file),
    )


async def ensure_link_workflow(client: Client, task_queue: str, config: LinkConfig,
                               link_workflow_id: str = LINK_WORKFLOW_ID) -> None:
    """Start the singleton link workflow unless it already runs (idempotent)."""
    await client.start_workflow(
        AgoraLinkWorkflow.run,
        LinkInput(config),
        id=link_workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
