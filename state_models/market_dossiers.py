"""A market's dossiers: places reserved per session, and each dossier's last known state.

Pure. The market knows how many of its dossiers are in each state without reading any
dossier: each dossier workflow reports its state changes by signal, with a sequence
number that grows with the dossier's history. A report older than (or equal to) the one
kept changes nothing, so a duplicate or out-of-order delivery leaves the counts exact.
"""


from collections import Counter
from dataclasses import dataclass, field

from state_models.dossier import STATES as DOSSIER_STATES
from state_models.market import MarketSession

# A cancelled dossier gives its place back.
FREES_PLACE = frozenset({"cancelled"})
# Dossiers that no longer stop a market's settlement.
CLOSED = frozenset({"settled", "cancelled"})


class PlaceRefused(ValueError):
    """A place cannot be reserved; ``session_id`` names the session."""

    def __init__(self, session_id: str, reason: str) -> None:
        self.session_id = session_id
        self.reason = reason
        super().__init__(reason)


@dataclass
class DossierSlot:
    session_id: str
    state: str = "created"
    seq: int = 0  # the sequence number of the report this state came from
    reserved_at: str = ""  # ISO instant of the reservation (workflow time)


@dataclass
class MarketDossiers:
    """Carried across continue-as-new with the market's facts."""

    slots: dict[str, DossierSlot] = field(default_factory=dict)


def places_used(book: MarketDossiers, session_id: str) -> int:
    return sum(1 for slot in book.slots.values()
               if slot.session_id == session_id and slot.state not in FREES_PLACE)


def check_reservation(book: MarketDossiers, sessions: list[MarketSession], dossier_id: str,
                      session_id: str) -> None:
    """Raise PlaceRefused unless ``dossier_id`` may hold a place in ``session_id``.
    Reserving again for the same dossier and session is allowed (idempotent)."""
    session = next((s for s in sessions if s.session_id == session_id), None)
    if session is None:
        raise PlaceRefused(session_id, f"session inconnue pour ce marché : {session_id}")
    held = book.slots.get(dossier_id)
    if held is not None:
        if held.session_id != session_id:
            raise PlaceRefused(session_id, f"le dossier {dossier_id} occupe déjà une place "
                                           f"dans la session {held.session_id}")
        return
    if places_used(book, session_id) >= session.places:
        raise PlaceRefused(session_id, f"la session {session_id} est complète "
                                       f"({session.places} places occupées)")


def reserve(book: MarketDossiers, sessions: list[MarketSession], dossier_id: str,
            session_id: str, at: str = "") -> bool:
    """Hold a place; True when a new place was taken, False for a repeated reservation."""
    check_reservation(book, sessions, dossier_id, session_id)
    if dossier_id in book.slots:
        return False
    book.slots[dossier_id] = DossierSlot(session_id, reserved_at=at)
    return True


def unconfirmed(book: MarketDossiers) -> dict[str, DossierSlot]:
    """Places whose dossier never reported a state: the dossier may never have started."""
    return {dossier_id: slot for dossier_id, slot in book.slots.items() if slot.seq == 0}


def release(book: MarketDossiers, dossier_id: str) -> bool:
    """Give back the place of a dossier that never started (it never reported a state);
    True when a place was freed. A dossier that reported keeps its place."""
    slot = book.slots.get(dossier_id)
    if slot is None or slot.seq != 0:
        return False
    del book.slots[dossier_id]
    return True


def report(book: MarketDossiers, dossier_id: str, state: str, seq: int) -> bool:
    """A dossier's state change; True when it changed what the market knows.
    Unknown dossiers (no place reserved here) and stale reports are ignored."""
    slot = book.slots.get(dossier_id)
    if slot is None or seq <= slot.seq or state not in DOSSIER_STATES:
        return False
    slot.state, slot.seq = state, seq
    return True


def counts(book: MarketDossiers) -> dict[str, int]:
    """Dossiers per state, every state listed (zero included), in lifecycle order."""
    tally = Counter(slot.state for slot in book.slots.values())
    return {state: tally.get(state, 0) for state in DOSSIER_STATES}


def settlement_blockers(book: MarketDossiers) -> dict[str, list[str]]:
    """Dossiers that stop the market's settlement: ``open`` ones (not yet exited) and
    ``unsettled`` ones (exited, their own settlement not reported yet). Sorted ids."""
    still_open = sorted(d for d, s in book.slots.items() if s.state not in CLOSED | {"exited"})
    unsettled = sorted(d for d, s in book.slots.items() if s.state == "exited")
    return {"open": still_open, "unsettled": unsettled}
