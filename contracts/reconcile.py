"""Inputs and outputs of the periodic reconciliation of market places (a Temporal Schedule)."""


from dataclasses import dataclass, field

RECONCILE_SCHEDULE_ID = "reconcile-market-places"


@dataclass
class ReconcileRequest:
    task_queue: str
    # A reservation younger than this may belong to a creation still under way.
    grace_seconds: float = 600.0


@dataclass
class ReleasedPlace:
    market_id: str
    session_id: str
    dossier_id: str
    reserved_at: str


@dataclass
class ReconcileReport:
    """What the run repaired: the places it gave back, and how many markets it read."""

    markets_checked: int = 0
    released: list[ReleasedPlace] = field(default_factory=list)
