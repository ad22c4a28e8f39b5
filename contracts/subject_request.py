"""A data-subject request (SPEC §8: access, rectification, restriction, erasure), its
workflow's view, and the inputs of its activities. Pure dataclasses: the workflow, the
activities and the API share them.

The workflow carries the person's store ids and dossier ids, never their NIR or name: the
request's record outlives an erasure it carried out. Rectification values are the one
exception (they must reach AGORA); the codec seals them like every payload.
"""


from dataclasses import dataclass, field

WORKFLOW_ID_PREFIX = "subject-request-"
WORKFLOW_TYPE = "SubjectRequestWorkflow"
RETENTION_WORKFLOW_TYPE = "PersonalDataRetentionWorkflow"
RETENTION_SCHEDULE_ID = "personal-data-retention"

# Refusal types the API maps to HTTP statuses.
NOT_NOW = "SubjectRequestNotNow"  # 409
INVALID = "SubjectRequestInvalid"  # 422
# The dossier workflow's refusal of an event while the person's data are restricted (409).
RESTRICTED = "ProcessingRestricted"

# Signals a request sends the person's dossier workflows (by name: the dossier's module is
# not imported into each request's sandbox).
SIGNAL_RESTRICT = "restrict"
SIGNAL_LIFT_RESTRICTION = "lift_restriction"


# The purpose a rectification's values are sealed for (associated data).
CORRECTIONS = "subject-request-corrections"


def workflow_id_for(request_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{request_id}"


@dataclass
class SubjectRequest:
    """What the DPO's team recorded: the kind, who asked and when it was received, how the
    requester's identity was checked, and the person found (store ids and dossiers)."""

    request_id: str
    kind: str  # state_models.subject_requests.KINDS
    requester: str  # the person, or who acts for them
    identity_check: str  # how their identity was checked
    received_at: str  # ISO instant the request reached the Region (the month runs from it)
    recorded_by: str
    recorded_at: str  # ISO instant of the recording
    found_by: str  # "nir" or "name_birth_date"
    person_ids: list[int] = field(default_factory=list)
    dossier_ids: list[str] = field(default_factory=list)
    nir_masked: str = ""  # for the DPO's page: never the NIR in clear
    # A rectification's fields, and their new values sealed under the person's data key
    # (crypto.person_keys.seal_text, purpose CORRECTIONS): this workflow is sealed under the
    # master key and outlives an erasure, so the values must not be readable with it alone.
    correction_fields: list[str] = field(default_factory=list)
    corrections_sealed: str = ""
    details: str = ""
    dpo_email: str = ""
    escalation_emails: list[str] = field(default_factory=list)
    page_url: str = ""
    partner_name: str = ""
    # Tests shrink the clock: seconds of real time per day of the legal calendar.
    day_seconds: float = 86400.0


@dataclass
class RequestStep:
    """One step in the request's record: who, when, what."""

    at: str
    who: str
    what: str


@dataclass
class DossierOutcome:
    """What became of one of the person's dossiers (rectification, restriction)."""

    dossier_id: str
    outcome: str  # "acknowledged", "refused", "store_only", "restricted", "not_running"
    message: str = ""


@dataclass
class SubjectRequestView:
    request: SubjectRequest
    state: str
    deadline: str
    extension_months: int = 0
    extension_reason: str = ""
    steps: list[RequestStep] = field(default_factory=list)
    dossiers: list[DossierOutcome] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # templates sent
    refusal_ground: str = ""
    late: bool = False
    answered_at: str = ""


@dataclass
class Extension:
    who: str
    months: int
    reason: str


@dataclass
class DpoAction:
    """The DPO's team carries the request out (or records the access answer delivered)."""

    who: str
    note: str = ""


@dataclass
class RectifyDossier:
    """One dossier's correction, sent as a re-engineering event (its id makes a resend the
    same event at the dossier's workflow and at AGORA)."""

    dossier_id: str
    corrections_sealed: str  # SubjectRequest.corrections_sealed, opened by the activity
    reason: str
    acting_user: str  # the DPO who asked, recorded with the event (not the one AGORA sees)
    event_id: str


@dataclass
class PersonsInput:
    person_ids: list[int]
    corrections_sealed: str = ""  # rectification only: SubjectRequest.corrections_sealed


@dataclass
class RestrictionInput:
    """A restriction put in force (or lifted) on the request's persons."""

    request_id: str
    person_ids: list[int] = field(default_factory=list)


@dataclass
class SubjectDossier:
    dossier_id: str
    state: str
    registered: bool


@dataclass
class ErasureReport:
    """What a crypto-erasure did: counts and ids, never a name."""

    persons: int
    keys_destroyed: int
    dossier_ids: list[str] = field(default_factory=list)


@dataclass
class RetentionRun:
    """The retention Schedule's job: erase closed dossiers' personal data after this long."""

    retention_days: int
