"""Inputs, outputs and names of the dossier workflow, shared with the API.

JSON-friendly dataclasses only: the default Temporal converter carries them.
"""


from dataclasses import dataclass, field, replace
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from agora.messages import Funder, Person, TrainingAction
from contracts.agora_link import GateConfig, LinkWait
from contracts.notify import SentEmail
from contracts.search_attributes import DOSSIER_ID, DOSSIER_STATE
from state_models.calendar import WorkingCalendar

WORKFLOW_ID_PREFIX = "dossier-"
UPDATE_APPLY_EVENT = "apply_event"
QUERY_VIEW = "view"

# What a history entry says happened at AGORA.
OUTCOME_ACKNOWLEDGED = "acknowledged"
OUTCOME_REPLAY = "replay"  # AGORA had already applied it: acknowledged, not applied twice
OUTCOME_REFUSED = "refused"


# Refusal types the API maps to HTTP statuses.
ILLEGAL_EVENT = "IllegalEvent"  # 409
INVALID_DATA = "InvalidEventData"  # 422


def workflow_id_for(dossier_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{dossier_id}"


def search_attributes(dossier_id: str, state: str) -> TypedSearchAttributes:
    """What operators filter dossiers by in Temporal Web: never personal data."""
    return TypedSearchAttributes(
        [SearchAttributePair(DOSSIER_ID, dossier_id), SearchAttributePair(DOSSIER_STATE, state)]
    )


@dataclass
class RetryConfig:
    """How AGORA calls are retried. Durations in seconds so tests can shrink them."""

    initial_interval_seconds: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval_seconds: float = 60.0
    # One attempt's budget: above the client's own HTTP timeout.
    attempt_timeout_seconds: float = 30.0
    # 0 = keep retrying transport failures until AGORA answers (dossiers wait, nothing is lost).
    maximum_attempts: int = 0


@dataclass
class EscalationConfig:
    """Per-dossier SLA clocks (SPEC §4): a dossier refused by AGORA, or whose AGORA call
    has waited this long, gets a reminder to its manager, then an escalation to the head
    of service. Addresses come from the user records or configuration, never from code."""

    partner_name: str = ""
    manager_email: str = ""
    head_of_service_email: str = ""
    page_url: str = ""
    reminder_after_working_hours: float = 4.0
    escalation_after_working_hours: float = 11.0
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Tests only: plain seconds instead of working hours (the calendar has its own tests).
    reminder_after_seconds: float | None = None
    escalation_after_seconds: float | None = None


@dataclass
class MarketLink:
    """The market session a dossier belongs to; its place is reserved before the dossier starts."""

    market_id: str
    session_id: str


@dataclass
class Backfilled:
    """A dossier AGORA already holds, loaded by the backfill's batch files (Convention
    art. 7): its workflow starts in this state and does not register it again."""

    agora_dossier_id: str
    state: str  # the lifecycle state it had at the cut-over
    entry_date: str | None = None
    campaign_id: str = ""


@dataclass
class DossierInput:
    dossier_id: str
    person: Person
    action: TrainingAction
    acting_user: str | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)
    link: GateConfig = field(default_factory=GateConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    # Optional: dossiers bought outside a market (grants, individual aid) have none.
    market: MarketLink | None = None
    # Set only for an open dossier brought to life by the backfill.
    backfilled: Backfilled | None = None


@dataclass
class EventRequest:
    """A business event on a dossier. ``data`` holds that event's fields
    (dates as ISO strings, amounts as decimal text), already validated by the API."""

    event: str
    acting_user: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The request's own identity, set by the client (from its Idempotency-Key or form
    # token, else a fresh UUID): a resend carries the same one, and the workflow applies it
    # once; repeatable declarations (payments) are identified at AGORA by it.
    event_id: str = ""
    # The product's own event on a user's request (a data-subject request's rectification):
    # AGORA is called with the application's authority, not the user's profiles;
    # ``acting_user`` is recorded as who asked. Never set from a client's input.
    system_authority: bool = False


@dataclass
class HistoryEntry:
    seq: int
    event: str
    at: str  # ISO instant, from workflow time
    acting_user: str | None
    operation: str  # AGORA SOAP operation
    request_id: str
    outcome: str
    state_after: str
    ack_id: str = ""
    fault_code: str = ""
    message: str = ""


@dataclass
class DossierView:
    dossier_id: str
    state: str
    registered: bool
    agora_dossier_id: str | None
    allowed_events: list[str]
    history: list[HistoryEntry]
    entry_date: str | None = None
    registration_fault: str | None = None
    # Why AGORA calls waited (maintenance window, cut-off), for the timeline.
    link_waits: list[LinkWait] = field(default_factory=list)
    # Reminder and escalation emails this dossier sent.
    emails: list[SentEmail] = field(default_factory=list)
    # Why the person's data are restricted (GDPR art. 18): no event is accepted meanwhile.
    restricted: str = ""
    # The situation at entry and the exit's reason code, as declared to AGORA.
    entry_situation: dict[str, str] = field(default_factory=dict)
    exit_reason_code: str | None = None


def settled_correction_workflow_id(dossier_id: str) -> str:
    """One correction of a settled dossier at a time (its timeline number is the next one);
    under the dossier's prefix, so its payloads are sealed under the person's key."""
    return f"{workflow_id_for(dossier_id)}-correction"


@dataclass
class SettledCorrection:
    """A correction (re-engineering) of a dossier whose workflow ended with its settlement:
    the dossier as the Region stores it now, and the timeline number the correction takes."""

    dossier: DossierInput
    agora_dossier_id: str
    entry_date: str | None
    seq: int
    request: EventRequest
    history: list[HistoryEntry] = field(default_factory=list)  # the dossier's, for its view
    # What the stored dossier says of the entry and the exit: kept by the correction's step.
    entry_situation: dict[str, str] = field(default_factory=dict)
    exit_reason_code: str | None = None


def with_corrections(dossier: DossierInput, corrections: list[dict[str, str]]) -> DossierInput:
    """The dossier's data with a re-engineering's corrections (name, value) applied to its
    person or its training action: a new value, ``dossier`` is unchanged."""
    person, action = dossier.person, dossier.action
    for correction in corrections:
        name, value = correction["name"], correction["value"]
        for target in ("person", "action"):
            current = person if target == "person" else action
            if hasattr(current, name):
                old = getattr(current, name)
                typed: Any = int(value) if isinstance(old, int) else value
                if target == "person":
                    person = replace(person, **{name: typed})
                else:
                    action = replace(action, **{name: typed})
    return replace(dossier, person=person, action=action)


def corrected_by(dossier: DossierInput, data: dict[str, Any]) -> DossierInput:
    """The dossier's data after a re-engineering (the event's normalised data): its
    corrections (name, value) applied, and the action's funders replaced when it names them."""
    dossier = with_corrections(dossier, data.get("corrections", []))
    if "funders" not in data:
        return dossier
    funders = [Funder(f["code"], f["share"]) for f in data["funders"]]
    return replace(dossier, action=replace(dossier.action, funders=funders))
