"""When AGORA transport failures become an incident (SPEC §4), pure.

An isolated 503 or timeout is retried and forgotten; a burst of them across
dossiers means the link is down and the CDC must be told. The rule: at least
``failures`` transport failures within ``window_seconds``. Failures inside an
AGORA maintenance window never count: AGORA is closed then, by contract.
Instants are passed in (``workflow.now()`` or the failure's own time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from state_models.calendar import MaintenanceWindow, maintenance_end


@dataclass(frozen=True)
class BurstRule:
    """N transport failures within M seconds open an incident (configurable)."""

    failures: int = 5
    window_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError("failures must be at least 1")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")


def counts(failure_at: datetime, windows: tuple[MaintenanceWindow, ...]) -> bool:
    """Whether a failure at ``failure_at`` counts towards an incident."""
    return maintenance_end(failure_at, windows) is None


def recent(failures: list[datetime], rule: BurstRule, now: datetime) -> list[datetime]:
    """The failures still inside the rule's sliding window ending at ``now``, oldest first."""
    since = now - timedelta(seconds=rule.window_seconds)
    return sorted(f for f in failures if since < f <= now)


def burst_reached(failures: list[datetime], rule: BurstRule, now: datetime) -> bool:
    """True when the failures inside the window ending at ``now`` reach the threshold."""
    return len(recent(failures, rule, now)) >= rule.failures
