"""Inputs, outputs and names of the incident workflow, shared with the API and CLI.

JSON-friendly dataclasses only. Every duration is in seconds so tests can
shrink them; the working calendar travels in the input (closed days computed
outside the workflow) so the history records the calendar a deadline used.
"""


from dataclasses import dataclass, field

from contracts.notify import EmailAttachment, SentEmail
from notifications.contacts import Contacts
from state_models.calendar import WorkingCalendar
from state_models.incident_priority import PriorityMatrix

WORKFLOW_ID_PREFIX = "incident-"
UPDATE_ACKNOWLEDGE = "acknowledge"
UPDATE_WORK_AROUND = "work_around"
UPDATE_RESOLVE = "resolve"
UPDATE_RECLASSIFY = "reclassify"
UPDATE_PHONE_CALL = "record_phone_call"
SIGNAL_ATTACH_FAILURE = "attach_failure"
UPDATE_ADD_ATTACHMENT = "add_attachment"
QUERY_VIEW = "view"

# Who detected the anomaly: the Region notifies the CDC; for an anomaly the CDC reported
# to the Region, the Region notifies nobody and follows the CDC's commitments instead.
ORIGIN_REGION = "region"
ORIGIN_CDC = "cdc"
# An incident on the Region's own system that may affect the exchanges (its own outage, a
# planned intervention): the CDC is warned within one day (SPEC §4).
ORIGIN_REGION_SYSTEM = "region_system"
REGION_EVENT_KINDS = ("outage", "planned_intervention")
REPORT_CHANNELS = ("mail", "phone")


def workflow_id_for(ticket: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{ticket}"


@dataclass
class IncidentTimings:
    """The SLA clocks of SPEC §4, configurable."""

    # The CDC must be notified within 2 hours of detection; we send at once
    # and show this due instant to operators.
    notification_limit_seconds: float = 2 * 3600
    # Critical/major anomalies: fixed or worked around within 11 working hours.
    sla_working_hours: float = 11
    reminder_before_deadline_seconds: float = 2 * 3600
    # No acknowledgement this long after our notification → escalation contacts.
    escalation_if_no_ack_seconds: float = 4 * 3600
    # The CDC's commitments on an anomaly it reported: acknowledged within this long of
    # its report (the resolution deadline is the same 11 working hours).
    cdc_ack_commitment_seconds: float = 4 * 3600
    # Not delivered this long after detection (SMTP refusing, contacts misconfigured), the
    # CDC notification is late: the head of service and the handlers are alerted by every
    # other channel, half an hour before the 2-hour limit.
    late_notification_alert_seconds: float = 1.5 * 3600
    # The Region's own outage: the CDC is warned within a day of detection; a planned
    # intervention, a day before it starts. Not sent this long before that limit, the
    # head of service and the handlers are reminded.
    region_notice_limit_seconds: float = 24 * 3600
    region_notice_reminder_before_seconds: float = 4 * 3600
    # Tests only: the deadline this many seconds after detection instead of
    # the working-hour one (which ``state_models.calendar`` tests cover).
    deadline_override_seconds: float | None = None


@dataclass
class CdcReport:
    """An anomaly the CDC detected and told the Region about."""

    reference: str  # the CDC's own reference
    reported_at: str  # ISO instant
    reported_by: str  # who at the CDC
    channel: str  # "mail" or "phone"


@dataclass
class RegionEvent:
    """An outage or a planned intervention on the Region's own system."""

    kind: str  # REGION_EVENT_KINDS
    starts_at: str  # ISO instant
    ends_at: str | None = None  # expected end, when known


@dataclass
class IncidentInput:
    ticket: str  # the Region's own ticket number, the reference of every exchange
    severity: str  # state_models.incident.Severity value
    kind: str  # e.g. "agora_unavailable"; one automatic incident per kind at a time
    description: str
    detected_at: str  # ISO instant
    contacts: Contacts
    calendar: WorkingCalendar
    timings: IncidentTimings = field(default_factory=IncidentTimings)
    domain: str = "Formation professionnelle (SI-CPF)"
    application: str = "AGORA"
    service: str = "web services AGORA"
    attachments: list[str] = field(default_factory=list)
    opened_by: str = ""
    # The AgoraLinkWorkflow to tell when the incident is resolved (automatic incidents).
    link_workflow_id: str | None = None
    # The priority (empty for incidents opened before priorities: ``severity`` rules them).
    impact: str = ""
    urgency: str = ""
    priority_matrix: PriorityMatrix | None = None
    origin: str = ORIGIN_REGION
    cdc_report: CdcReport | None = None
    region_event: RegionEvent | None = None
    # Files kept with the incident (screenshots, logs), sent with each of its emails.
    files: list[EmailAttachment] = field(default_factory=list)


@dataclass
class IncidentAction:
    """Acknowledgement, workaround or resolution: who did it, and an optional note."""

    who: str
    note: str = ""


@dataclass
class Reclassification:
    """A new impact and urgency, decided during the incident."""

    impact: str
    urgency: str
    who: str
    note: str = ""


@dataclass
class PhoneCall:
    """A notification made by phone: who called whom, when, what was said."""

    caller: str
    callee: str
    called_at: str  # ISO instant
    summary: str
    who: str  # who records it


@dataclass
class IncidentFact:
    """One step of the incident's history, as shown on its page."""

    at: str
    kind: str  # e.g. "reclassified", "phone_call", "phone_confirmed", "acknowledge"
    who: str
    detail: str = ""


@dataclass
class ActionRecord:
    who: str
    at: str
    note: str = ""


@dataclass
class AttachedFailure:
    """A transport failure attached to an open incident (further failures of its kind)."""

    at: str
    operation: str
    message: str
    workflow_id: str = ""


@dataclass
class IncidentView:
    ticket: str
    kind: str
    severity: str
    state: str
    detected_at: str
    notification_due_at: str
    notified_at: str | None
    deadline: str | None  # critical/major only
    reminder_at: str | None
    escalation_at: str | None
    acknowledged: ActionRecord | None
    worked_around: ActionRecord | None
    resolved: ActionRecord | None
    emails: list[SentEmail]
    attached_failures: int = 0
    last_failure: AttachedFailure | None = None
    impact: str = ""
    urgency: str = ""
    priority: str = ""
    origin: str = ORIGIN_REGION
    cdc_report: CdcReport | None = None
    region_event: RegionEvent | None = None
    # The CDC's commitments on an anomaly it reported.
    cdc_ack_due_at: str | None = None
    phone_calls: list[PhoneCall] = field(default_factory=list)
    history: list[IncidentFact] = field(default_factory=list)
    # When the CDC notification was found late, and the channels that carried the alert.
    notification_late_at: str | None = None
    alert_channels: list[str] = field(default_factory=list)
    # Whom the alert was emailed to, by role and user name (never an address), and the
    # handlers the staff directory has no address for.
    alerted: list[str] = field(default_factory=list)
    handlers_without_address: list[str] = field(default_factory=list)
    files: list[EmailAttachment] = field(default_factory=list)

