"""AGORA's consultations (operations 1, 2, 3, 12, 13) and the DIF balance record (14):
the short workflow that runs one of them, its input and its answer.

A manager's read is a Temporal workflow of one activity, not a call from the API: it goes
through the link's gate (maintenance window, cut-off), the activity's retries and the
trace log like every write. The DIF balance record is a write, but of the same shape (one
answer to show, no dossier lifecycle), so it takes the same path with a request id fixed
by the caller.
"""


from dataclasses import dataclass, field
from typing import Any

from contracts.agora_link import GateConfig
from contracts.dossier import RetryConfig

WORKFLOW_ID_PREFIX = "agora-read-"

RIGHTS = "ConsulterDroitsFormation"  # 1
HOLDER_DOSSIERS = "ConsulterDossiersTitulaire"  # 2
FIND_DOSSIER = "RechercherDossier"  # 3
BALANCES = "ConsulterSoldesCompte"  # 12
ELIGIBILITY = "VerifierEligibilite"  # 13
RECORD_DIF = "EnregistrerSoldeDif"  # 14
OPERATIONS = (RIGHTS, HOLDER_DOSSIERS, FIND_DOSSIER, BALANCES, ELIGIBILITY, RECORD_DIF)


@dataclass
class ReadRequest:
    """One consultation: AGORA's operation and its fields (our English names)."""

    operation: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgoraReadCall:
    """The activity's input: the request, the user on whose behalf (their identity vector and
    PAGM), and the Region dossier it is about (for the trace log), if any."""

    request: ReadRequest
    acting_user: str | None = None
    dossier_id: str | None = None


@dataclass
class AgoraReadInput:
    call: AgoraReadCall
    retry: RetryConfig = field(default_factory=RetryConfig)
    link: GateConfig = field(default_factory=GateConfig)


@dataclass
class AgoraReadAnswer:
    """AGORA's answer (English field names, dates and amounts as text) and when it came."""

    operation: str
    answer: dict[str, Any]
    obtained_at: str  # ISO instant, the activity's clock when AGORA answered


def workflow_id_for(identity: str) -> str:
    """Never personal data: the caller's request identity (a UUID)."""
    return f"{WORKFLOW_ID_PREFIX}{identity}"
