"""Names and inputs of the trace log's periodic work (SPEC §5): the daily signed checkpoint
and the daily retention purge, each a Temporal Schedule running one small workflow."""


from dataclasses import dataclass, field
from typing import Any

CHECKPOINT_SCHEDULE_ID = "traces-daily-checkpoint"
PURGE_SCHEDULE_ID = "traces-daily-purge"
CHECKPOINT_ACTIVITY = "SignerPointDeControleTraces"
PURGE_ACTIVITY = "PurgerTracesExpirees"
INCIDENT_HOLD_ACTIVITY = "GelerTracesIncident"
# An incident's hold starts this long before its detection: the failures that led to it.
INCIDENT_HOLD_LOOKBACK_SECONDS = 24 * 3600


@dataclass
class TraceMaintenance:
    """What the scheduled workflow does: sign a checkpoint, or purge then sign."""

    purge: bool = False
    retention_days: int = 365


@dataclass
class TraceMaintenanceResult:
    checkpoints: int
    # Per log: cutoff, blanked, deleted, seq and time range removed (empty without a purge).
    purged: dict[str, dict[str, Any]]  # Any: the converter cannot decode into `object`


@dataclass
class IncidentHold:
    """The legal hold an incident places on its traces (SPEC §5): its window — open while
    the incident is (``ends_at`` None) — and the dossiers its failures concern. Kept
    until an authorised person releases it with a reason."""

    ticket: str
    starts_at: str
    ends_at: str | None = None
    dossier_ids: list[str] = field(default_factory=list)
