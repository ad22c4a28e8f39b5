"""What the activities write into the projections business users read.

A dossier's AGORA activity carries an ``OutcomePlan``: once AGORA answers, the activity
writes the outcome (one timeline entry and the dossier's facts after it) itself, so an
event costs no extra activity; the workflow builds the same entry from the same plan.
Pure dataclasses: workflows import this module.
"""


from dataclasses import dataclass

from agora.messages import AgoraAck
from contracts.dossier import (
    OUTCOME_ACKNOWLEDGED,
    OUTCOME_REFUSED,
    OUTCOME_REPLAY,
    DossierInput,
    HistoryEntry,
)
from contracts.market import MarketView
from state_models import dossier as lifecycle
from state_models.dossier import DossierFacts

# The timeline's name for the registration (AGORA operations 4 and 5).
REGISTRATION = "create"


def outcome_of(ack: AgoraAck) -> str:
    return OUTCOME_REPLAY if ack.replay else OUTCOME_ACKNOWLEDGED


@dataclass
class OutcomePlan:
    """Where one AGORA call's outcome goes in its dossier's projection."""

    dossier_id: str
    seq: int  # the timeline entry's number: a retry writes the same entry
    event: str
    acting_user: str | None
    request_id: str
    current: DossierFacts  # the dossier now, kept if AGORA refuses
    acknowledged: DossierFacts  # the dossier once AGORA acknowledges
    # The registration's first call writes the dossier's row before calling AGORA.
    dossier: DossierInput | None = None
    # False for a call whose acknowledgement adds no entry (the NIR check before find-or-create).
    entry_on_ack: bool = True
    # A re-engineering's corrected data: written to the dossier's row once AGORA acknowledges.
    corrected: DossierInput | None = None

    def facts_if_acknowledged(self, ack: AgoraAck) -> DossierFacts:
        if self.event == REGISTRATION:
            return lifecycle.registered(self.acknowledged, ack.agora_dossier_id)
        return self.acknowledged

    def facts_if_refused(self, code: str, message: str) -> DossierFacts:
        if self.event == REGISTRATION:
            return lifecycle.registration_refused(self.current, f"{code}: {message}")
        return self.current

    def entry(self, operation: str, outcome: str, at: str, state_after: str,
              ack: AgoraAck | None = None, fault_code: str = "", message: str = "") -> HistoryEntry:
        return HistoryEntry(
            seq=self.seq, event=self.event, at=at, acting_user=self.acting_user,
            operation=operation, request_id=self.request_id, outcome=outcome,
            state_after=state_after, ack_id=ack.ack_id if ack else "", fault_code=fault_code,
            message=ack.message if ack else message,
        )

    def acknowledged_step(self, operation: str, ack: AgoraAck, at: str) -> "DossierStep":
        facts = self.facts_if_acknowledged(ack)
        entry = (self.entry(operation, outcome_of(ack), at, facts.state, ack=ack)
                 if self.entry_on_ack else None)
        return DossierStep(self.dossier_id, facts, entry, self.corrected)

    def refused_step(self, operation: str, code: str, message: str, at: str) -> "DossierStep":
        facts = self.facts_if_refused(code, message)
        entry = self.entry(operation, OUTCOME_REFUSED, at, facts.state, fault_code=code,
                           message=message)
        return DossierStep(self.dossier_id, facts, entry)


@dataclass
class DossierStep:
    """One change of a dossier's projection: its facts after the step, and the timeline entry
    that records it (None when the step adds none)."""

    dossier_id: str
    facts: DossierFacts
    entry: HistoryEntry | None = None
    # Set when the person's or the action's data changed (a correction before registration).
    dossier: DossierInput | None = None


@dataclass
class AgoraOutcome:
    """What a dossier's AGORA activity returns: AGORA's acknowledgement and when it came."""

    ack: AgoraAck
    at: str  # ISO instant


@dataclass
class MarketRecord:
    acting_user: str | None  # who registered the market: its manager
    view: MarketView
