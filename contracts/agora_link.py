"""Inputs, outputs and names of the AGORA link: the gate every AGORA call passes
and the singleton AgoraLinkWorkflow that holds the link's state. Stdlib and
state_models only, so the dossier input, the API and the worker import it freely.
"""


from dataclasses import dataclass, field

from contracts.incident import IncidentTimings
from contracts.notify import SentEmail
from notifications.contacts import Contacts
from state_models.calendar import MaintenanceWindow, WorkingCalendar
from state_models.incident_detection import BurstRule
from state_models.incident_priority import PriorityMatrix

LINK_WORKFLOW_ID = "agora-link"

SIGNAL_TRANSPORT_FAILURE = "transport_failure"
SIGNAL_REGISTER_WAITER = "register_waiter"
SIGNAL_INCIDENT_CLOSED = "incident_closed"
SIGNAL_LINK_REOPENED = "link_reopened"  # sent by the link to each waiting dossier
UPDATE_CUT_OFF = "cut_off"
UPDATE_APPROVE_RECONNECTION = "approve_reconnection"
UPDATE_RECORD_MEETING = "record_crisis_meeting"
QUERY_LINK_STATE = "link_state"

# How long a worker trusts the link state it last read (activities.agora_link_guard).
GUARD_CACHE_SECONDS = 0.5
# Held AGORA calls, counted by the workflows through the Temporal SDK's meter (served with
# the engine's metrics): how many, and how long each waited.
HELD_CALLS_METRIC = "agora_flow_agora_held_calls"
HELD_SECONDS_METRIC = "agora_flow_agora_held_seconds"

# ApplicationError type of an AGORA activity refused because the link is cut off.
LINK_CUT_OFF = "AgoraLinkCutOff"

CONNECTED = "connected"
CUT_OFF = "cut_off"

# The convention's domains, each with its own crisis-cell contacts.
CRISIS_DOMAINS = ("studies", "production")

TRANSPORT_INCIDENT_KIND = "agora_unavailable"


@dataclass
class GateConfig:
    """What a dossier needs to know to ask "may I call AGORA now?"."""

    # SPEC §4: Sunday 22:00–23:00 Europe/Paris by default.
    maintenance_windows: list[MaintenanceWindow] = field(
        default_factory=lambda: [MaintenanceWindow()])
    link_workflow_id: str = LINK_WORKFLOW_ID


@dataclass
class LinkWait:
    """Why a dossier's AGORA call waited: shown in the dossier's timeline."""

    operation: str
    reason: str  # "maintenance" or "cut_off"
    since: str
    until: str | None = None  # the expected end (maintenance); None while unknown
    ended_at: str | None = None


@dataclass
class FailureReport:
    """One AGORA transport failure, reported by the worker as it happens."""

    at: str  # ISO instant of the failure
    operation: str
    message: str
    workflow_id: str = ""
    kind: str = TRANSPORT_INCIDENT_KIND


@dataclass
class Waiter:
    workflow_id: str
    operation: str


@dataclass
class CutOffRequest:
    who: str
    reason: str
    domain: str = "production"  # whose crisis cell is convened (CRISIS_DOMAINS)
    # A major disaster ("sinistre majeur"): both parties' escalation contacts are told at once.
    major_disaster: bool = False


@dataclass
class CrisisMeeting:
    """The crisis cell's meeting: when, who attended, the minutes and the decision."""

    held_at: str  # ISO instant
    attendees: list[str]
    minutes: str
    decision: str
    reconnection_agreed: bool  # the cell expressly agrees to re-enable the link
    recorded_by: str = ""


@dataclass
class ApprovalRequest:
    who: str  # a crisis-cell approver's user code
    note: str = ""  # e.g. where the approver's written agreement is
    recorded_by: str = ""  # the user who recorded it, when not the approver


@dataclass
class Approval:
    who: str
    at: str
    note: str = ""
    recorded_by: str = ""
    decision: str = ""  # the crisis-cell meeting's decision the approval refers to


@dataclass
class CutOffRecord:
    who: str
    reason: str
    at: str
    meeting_deadline: str  # the crisis cell meets by then (2 working days)
    approvals: list[Approval] = field(default_factory=list)
    reconnected_at: str | None = None
    domain: str = ""
    major_disaster: bool = False
    meetings: list[CrisisMeeting] = field(default_factory=list)
    # Follow-up emails already sent while the cell had not met ("reminder:N", "escalation").
    follow_ups: list[str] = field(default_factory=list)


@dataclass
class LinkConfig:
    contacts: Contacts
    calendar: WorkingCalendar
    maintenance_windows: list[MaintenanceWindow] = field(
        default_factory=lambda: [MaintenanceWindow()])
    burst: BurstRule = field(default_factory=BurstRule)
    incident_timings: IncidentTimings = field(default_factory=IncidentTimings)
    # Total unavailability is an "anomalie critique ou majeure" (SPEC §4).
    incident_severity: str = "critical_major"
    # Failures across dossiers mean the web services are down for every user: priority P1
    # by the default matrix (impact × urgency, SPEC §4).
    incident_impact: str = "all_users"
    incident_urgency: str = "high"
    priority_matrix: PriorityMatrix = field(default_factory=PriorityMatrix)
    ticket_prefix: str = "AGORA"
    crisis_meeting_working_days: int = 2
    # With no meeting recorded by its deadline, the cell is reminded (and the escalation
    # contacts told) at the deadline, then reminded again this often.
    crisis_reminder_every_seconds: float = 24 * 3600
    # Continue as new once the history holds this many events (0: when Temporal suggests it).
    continue_as_new_after_events: int = 0
    # The cut-off switch returns once every worker's cached link state has expired, so no
    # AGORA call starts after it returns.
    guard_cache_seconds: float = GUARD_CACHE_SECONDS


@dataclass
class LinkState:
    """The link's whole state: what a query shows and what continue-as-new carries."""

    status: str = CONNECTED
    cut_offs: list[CutOffRecord] = field(default_factory=list)
    waiters: list[Waiter] = field(default_factory=list)
    # Counted failures per incident kind, ISO instants, inside the burst window.
    failures: dict[str, list[str]] = field(default_factory=dict)
    ignored_failures: int = 0  # inside a maintenance window
    open_incidents: dict[str, str] = field(default_factory=dict)  # kind → ticket
    incidents_opened: int = 0
    emails: list[SentEmail] = field(default_factory=list)


@dataclass
class LinkInput:
    config: LinkConfig
    state: LinkState | None = None
