"""A trace request (SPEC §5: produced within 15 calendar days) and its workflow's view.
Pure dataclasses: the workflow, the activity and the API share them."""


from dataclasses import dataclass, field

WORKFLOW_ID_PREFIX = "trace-export-"
WORKFLOW_TYPE = "TraceExportWorkflow"
PRODUCE_ACTIVITY = "ProduireExportTraces"

# States of an export.
PRODUCING = "producing"
READY = "ready"
DELIVERED = "delivered"
FAILED = "failed"


def workflow_id_for(export_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{export_id}"


@dataclass
class TraceExportRequest:
    """Who asked (the CDC or an authority), their reference, and what: dossiers, identity
    vectors, a period (ISO instants); recorded by ``recorded_by``."""

    export_id: str
    requester: str
    reference: str
    recorded_by: str
    requested_at: str
    dossier_ids: list[str] = field(default_factory=list)
    vector_ids: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    # Calendar days (tests shrink ``day_seconds``): deadline, reminder, escalation.
    deadline_days: int = 15
    reminder_day: int = 10
    escalation_day: int = 14
    day_seconds: float = 86400.0
    security_officer_email: str = ""
    escalation_emails: list[str] = field(default_factory=list)
    page_url: str = ""
    partner_name: str = ""  # the Region, named in the emails


@dataclass
class TraceExportFiles:
    """What the producing activity wrote: the folder, the files and their SHA-256."""

    folder: str
    digests: dict[str, str]
    exchanges: int
    vectors: int


@dataclass
class TraceExportView:
    request: TraceExportRequest
    state: str
    deadline: str
    files: TraceExportFiles | None = None
    delivered_by: str | None = None
    delivered_at: str | None = None
    emails: list[str] = field(default_factory=list)  # templates sent
    error: str = ""
