"""Inputs, outputs and names of the market workflow, shared with the dossiers and the API.

JSON-friendly dataclasses only (amounts as decimal text): the default converter carries them.
"""


from dataclasses import dataclass, field
from typing import Any

from contracts.agora_link import GateConfig, LinkWait
from contracts.dossier import EscalationConfig, RetryConfig
from contracts.notify import SentEmail
from state_models.market import MarketFacts
from state_models.market_dossiers import MarketDossiers

WORKFLOW_ID_PREFIX = "market-"
UPDATE_APPLY_EVENT = "apply_market_event"
UPDATE_RESERVE_PLACE = "reserve_place"
UPDATE_RELEASE_PLACE = "release_place"
QUERY_UNCONFIRMED_PLACES = "unconfirmed_places"
SIGNAL_DOSSIER_CHANGED = "dossier_changed"
QUERY_VIEW = "market_view"

# Refusal types the API maps to HTTP statuses.
ILLEGAL_EVENT = "IllegalEvent"  # 409
INVALID_DATA = "InvalidEventData"  # 422
OPEN_DOSSIERS = "MarketHasOpenDossiers"  # 409, names the dossiers
PLACE_REFUSED = "PlaceRefused"  # 409, names the session


def workflow_id_for(market_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{market_id}"


@dataclass
class MarketHistoryEntry:
    seq: int
    event: str
    at: str  # ISO instant, from workflow time
    acting_user: str | None
    operation: str = ""  # AGORA operation, when the event has an AGORA counterpart
    request_id: str = ""
    outcome: str = "recorded"  # recorded | acknowledged | replay | refused
    state_after: str = ""
    ack_id: str = ""
    fault_code: str = ""
    message: str = ""


@dataclass
class MarketCarried:
    """Everything a run hands to the next one when it continues as new."""

    facts: MarketFacts
    dossiers: MarketDossiers
    history: list[MarketHistoryEntry] = field(default_factory=list)
    # Grows with every change (event, reservation, dossier report): the projection never rewinds.
    version: int = 0
    link_waits: list[LinkWait] = field(default_factory=list)
    emails: list[SentEmail] = field(default_factory=list)
    # The identities of the events applied (see MarketEventRequest.event_id).
    applied_event_ids: list[str] = field(default_factory=list)


@dataclass
class MarketInput:
    market_id: str
    facts: MarketFacts
    acting_user: str | None = None
    retry: RetryConfig = field(default_factory=RetryConfig)
    link: GateConfig = field(default_factory=GateConfig)
    # Reminder then escalation when AGORA refuses the settlement or it waits too long.
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    # Continue as new once the history holds this many events (0: when Temporal suggests it).
    continue_as_new_after_events: int = 0
    carried: MarketCarried | None = None


@dataclass
class MarketEventRequest:
    event: str
    acting_user: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The request's identity (from its Idempotency-Key or form token): the market applies
    # it once, so a payment resent after a lost answer is not recorded twice.
    event_id: str = ""


@dataclass
class PlaceRequest:
    dossier_id: str
    session_id: str


@dataclass
class DossierReport:
    """A dossier's state after one of its changes; ``seq`` grows with its history."""

    dossier_id: str
    state: str
    seq: int


@dataclass
class SessionView:
    session_id: str
    places: int
    places_used: int
    start_date: str
    end_date: str


@dataclass
class MarketView:
    market_id: str
    facts: MarketFacts
    allowed_events: list[str]
    total_paid: str
    remaining: str
    sessions: list[SessionView]
    dossier_counts: dict[str, int]
    history: list[MarketHistoryEntry]
    version: int
    link_waits: list[LinkWait] = field(default_factory=list)
    # Reminder and escalation emails about this market.
    emails: list[SentEmail] = field(default_factory=list)


@dataclass
class UnconfirmedPlace:
    """A place held for a dossier that has not reported any state yet."""

    dossier_id: str
    session_id: str
    reserved_at: str  # ISO instant, "" for places reserved before this was recorded
