"""Inputs, outputs and names of the backfill campaign (SPEC §6, issue 14).

Nothing here carries personal data: rows travel between activities in the campaign's
sealed files, the workflow only sees counts, file names and digests.
"""


from dataclasses import dataclass, field

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from contracts.search_attributes import BACKFILL_PROGRESS, BACKFILL_STATE

WORKFLOW_ID_PREFIX = "backfill-"

# The campaign's phases, as Temporal Web's BackfillState shows them.
PREPARING = "preparing"
RESOLVING = "resolving"
LOADING = "loading"
STARTING_DOSSIERS = "starting_dossiers"
REPORTING = "reporting"
DONE = "done"
CANCELLED = "cancelled"

# Refusals of the campaign's updates.
CAMPAIGN_FINISHED = "CampaignFinished"


def workflow_id_for(campaign_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{campaign_id}"


def search_attributes(phase: str, percent: int) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(BACKFILL_STATE, phase),
                                  SearchAttributePair(BACKFILL_PROGRESS, percent)])


@dataclass
class BackfillInput:
    campaign_id: str
    chunk_rows: int = 1000
    # Open dossiers brought to life per second (the live flow keeps its speed).
    starts_per_second: float = 5.0
    # How often an answer not yet on the channel is looked for again.
    answer_poll_seconds: float = 10.0
    # Where the brought-to-life dossiers' workflows run.
    dossier_task_queue: str = "agora-flow"
    acting_user: str = ""
    # One attempt of a file activity, and the silence after which a worker running one is
    # presumed dead (its activity then runs again elsewhere; a cancellation reaches a
    # running activity within about this delay too).
    attempt_timeout_seconds: float = 300.0
    heartbeat_seconds: float = 10.0
    # How long AGORA's answer to a deposited file may take before the campaign's contacts
    # are told it is overdue (the campaign keeps looking for it), and who they are.
    answer_overdue_seconds: float = 2 * 86400.0
    overdue_to: list[str] = field(default_factory=list)
    # The backfill page, named in that email, and the Region it is sent for.
    page_url: str = ""
    partner_name: str = ""


@dataclass
class CampaignStep:
    """An activity's argument: the campaign, and the file or chunk it is about."""

    campaign_id: str
    name: str = ""
    digest: str = ""
    number: int = 0
    chunk_rows: int = 0
    starts_per_second: float = 0.0
    dossier_task_queue: str = ""


@dataclass
class Prepared:
    rows: int
    counts: dict[str, int]  # per class of SPEC §6.1 (and already_held)
    file_kind: str = ""


@dataclass
class ExchangedFile:
    name: str
    digest: str
    rows: int
    kind: str  # "resolution", "chunk"
    answer: str = ""  # "", TRAITE, REFUSE
    answer_digest: str = ""
    dossiers_started: int = 0  # a chunk's open dossiers brought to life
    # When its answer became overdue (ISO instant; "" if it came in time).
    overdue_since: str = ""


@dataclass
class Resolution:
    found: int = 0
    unknown: int = 0
    several: int = 0
    refused_code: str = ""  # the request file refused whole


@dataclass
class Chunk:
    number: int
    name: str
    digest: str
    rows: int
    open_rows: int  # records whose legacy statut is EN_COURS


@dataclass
class Acknowledged:
    accepted: int
    rejected: int
    open_accepted: int  # open dossiers AGORA accepted: to bring to life
    refused_code: str = ""
    answer_digest: str = ""


@dataclass
class ReportRequest:
    campaign_id: str
    summary: list[list[str]]  # (class or outcome, count, label) lines of the report's head
    files: list[ExchangedFile]


@dataclass
class ReportFile:
    name: str
    digest: str
    lines: int


@dataclass
class BackfillProgress:
    campaign_id: str
    phase: str
    paused: bool = False
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    to_resolve: int = 0
    resolution: Resolution = field(default_factory=Resolution)
    chunks: int = 0
    rows_to_load: int = 0
    rows_deposited: int = 0
    rows_acknowledged: int = 0
    accepted: int = 0
    rejected: int = 0
    open_to_start: int = 0
    dossiers_started: int = 0
    files: list[ExchangedFile] = field(default_factory=list)
    report: ReportFile | None = None
    # When each phase began (ISO instants of workflow time), in order.
    phase_started: dict[str, str] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        """Rows acknowledged of the rows to load (the longest stage); 100 once done."""
        if self.phase in (DONE, CANCELLED):
            return 100
        return self.rows_acknowledged * 100 // self.rows_to_load if self.rows_to_load else 0
