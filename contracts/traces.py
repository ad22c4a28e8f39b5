"""Names and inputs of the trace log's periodic work (SPEC §5): the daily signed checkpoint
and the daily retention purge, each a Temporal Schedule running one small workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHECKPOINT_SCHEDULE_ID = "traces-daily-checkpoint"
PURGE_SCHEDULE_ID = "traces-daily-purge"
CHECKPOINT_ACTIVITY = "SignerPointDeControleTraces"
PURGE_ACTIVITY = "PurgerTracesExpirees"


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
