"""An incident's priority from its impact and urgency (Convention de service §2, §5), pure.

The convention calls "anomalie critique ou majeure" a total unavailability for all
users or for at least 50 users, or a partial outage of non-essential functions: those
must be fixed or worked around within 11 working hours. The service desk grades each
incident by impact (how many are hit) and urgency (how soon it hurts); a matrix kept
in configuration turns the pair into a priority, and the priorities listed in
``sla_priorities`` carry the critical/major SLA. The matrix travels in the incident's
input, so its history records the one a deadline was computed with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from state_models.incident import Severity


class Impact(StrEnum):
    ALL_USERS = "all_users"  # indisponibilité totale pour tous les utilisateurs
    FIFTY_USERS = "fifty_users_or_more"  # au moins 50 utilisateurs
    NON_ESSENTIAL = "non_essential_functions"  # indisponibilité partielle, fonctions non essentielles
    FEW_USERS = "few_users"  # moins de 50 utilisateurs
    ONE_USER = "one_user"


class Urgency(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


def _default_cells() -> dict[str, dict[str, str]]:
    # The three impacts the convention names are critical/major whatever the urgency
    # (P1/P2); urgency only orders them, and grades the others.
    return {
        Impact.ALL_USERS: {Urgency.HIGH: "P1", Urgency.MEDIUM: "P1", Urgency.LOW: "P2"},
        Impact.FIFTY_USERS: {Urgency.HIGH: "P1", Urgency.MEDIUM: "P2", Urgency.LOW: "P2"},
        Impact.NON_ESSENTIAL: {Urgency.HIGH: "P2", Urgency.MEDIUM: "P2", Urgency.LOW: "P2"},
        Impact.FEW_USERS: {Urgency.HIGH: "P3", Urgency.MEDIUM: "P3", Urgency.LOW: "P4"},
        Impact.ONE_USER: {Urgency.HIGH: "P3", Urgency.MEDIUM: "P4", Urgency.LOW: "P4"},
    }


@dataclass
class PriorityMatrix:
    """impact → urgency → priority, and the priorities that carry the 11-working-hour SLA."""

    cells: dict[str, dict[str, str]] = field(default_factory=_default_cells)
    sla_priorities: list[str] = field(default_factory=lambda: ["P1", "P2"])

    def impacts(self) -> list[str]:
        return list(self.cells)

    def urgencies(self) -> list[str]:
        return sorted({u for row in self.cells.values() for u in row},
                      key=lambda u: list(Urgency).index(u) if u in set(Urgency) else len(Urgency))

    def priority(self, impact: str, urgency: str) -> str:
        """The priority of (impact, urgency); ValueError naming the unknown value."""
        if impact not in self.cells:
            raise ValueError(f"impact inconnu : {impact!r} (attendu : {', '.join(self.cells)})")
        row = self.cells[impact]
        if urgency not in row:
            raise ValueError(f"urgence inconnue : {urgency!r} (attendu : {', '.join(row)})")
        return row[urgency]

    def severity(self, priority: str) -> Severity:
        return Severity.CRITICAL_MAJOR if priority in self.sla_priorities else Severity.MINOR


def parse_matrix(data: dict[str, Any]) -> PriorityMatrix:
    """A matrix from configuration (JSON/TOML); every impact must grade every urgency."""
    cells = {str(impact): {str(u): str(p) for u, p in row.items()}
             for impact, row in data["cells"].items()}
    if not cells:
        raise ValueError("la matrice de priorité est vide")
    urgencies = {frozenset(row) for row in cells.values()}
    if len(urgencies) != 1:
        raise ValueError("chaque impact de la matrice doit donner une priorité pour chaque urgence")
    return PriorityMatrix(cells=cells, sla_priorities=[str(p) for p in data.get("sla_priorities", ["P1", "P2"])])
