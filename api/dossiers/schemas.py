"""JSON shapes of the API, and of its errors, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.agora_link import LinkWait
from contracts.notify import SentEmail
from state_models.dossier import EVENTS, STATES

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None
IsoDate = Annotated[str, Field(max_length=32, description="Date AAAA-MM-JJ", examples=["2026-01-05"])]
Amount = Annotated[
    str | float, Field(description="Montant en euros, 2 décimales au plus", examples=["652.02"])
]

StateName = Literal[STATES]  # type: ignore[valid-type]
EventName = Literal[EVENTS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- requests -----------------------------------------------------------------------


class PersonIn(_Strict):
    nir: Annotated[str, Field(max_length=32, description="NIR, 15 caractères (clé comprise)",
                              examples=["185032A00100135"])]
    birth_name: Text
    first_names: Text
    birth_date: IsoDate
    sex: Literal["1", "2"] = Field(description="1 homme, 2 femme, comme dans le NIR")
    usage_name: OptionalText = None
    email: OptionalText = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None


class FunderIn(_Strict):
    code: Annotated[str | int, Field(description="Code financeur LHÉO (dict-financeurs), "
                                                 "par exemple 2 Conseil régional, 3 FSE",
                                     examples=["2"])]
    share: Annotated[str | float, Field(description="Part en pourcentage, 2 décimales au plus ; "
                                                    "les parts font 100 au total",
                                        examples=["60.00"])]


class ActionIn(_Strict):
    siret: Annotated[str, Field(max_length=32, description="SIRET de l'organisme, 14 chiffres")]
    action_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    title: Text
    duration_hours: int = Field(gt=0, le=10_000)
    start_date: IsoDate
    end_date: IsoDate
    certification_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = None
    purchase_mode: Literal["MARCHE_PUBLIC", "SUBVENTION", "AIDE_INDIVIDUELLE"] = "MARCHE_PUBLIC"
    price: Amount | None = None
    funders: Annotated[list[FunderIn], Field(
        max_length=21, description="Financeurs de l'action et leurs parts ; absent : la Région "
                                   "(code 2) à 100 %")] | None = None


class DossierCreate(_Strict):
    person: PersonIn
    action: ActionIn
    # A dossier bought by a market names the market and its session (a place is reserved).
    market_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                max_length=64)] | None = None
    session_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=64)] | None = None


class CorrectionIn(_Strict):
    name: Annotated[str, Field(max_length=64, description="Champ corrigé (nom anglais)")]
    value: Annotated[str, Field(max_length=255)]


class EventData(_Strict):
    """The fields of every event; each event takes its own (see the endpoint's description)."""

    validation_date: IsoDate | None = None
    entry_date: IsoDate | None = None
    job_seeker_since: IsoDate | None = None
    entry_kind: Literal["ENTREE", "PREMIER_PAIEMENT"] | None = Field(
        None, description="Entrée, ou premier paiement valant entrée (défaut : ENTREE)")
    france_travail_registered: Literal["oui", "non"] | None = None
    socio_professional_category: Annotated[str, Field(
        max_length=4, description="Catégorie socio-professionnelle (PCS), voir la liste")] | None = None
    last_contract_type: Annotated[str, Field(
        max_length=32, description="Dernier contrat de travail, voir la liste")] | None = None
    reason_code: Annotated[str, Field(
        max_length=32, description="Motif de sortie ou d'interruption (code)")] | None = None
    payment_date: IsoDate | None = None
    amount: Amount | None = None
    interruption_date: IsoDate | None = None
    reason: Annotated[str, Field(max_length=255)] | None = None
    resume_date: IsoDate | None = None
    exit_date: IsoDate | None = None
    settlement_date: IsoDate | None = None
    amount_paid: Amount | None = None
    corrections: Annotated[list[CorrectionIn], Field(max_length=20)] | None = None
    funders: Annotated[list[FunderIn], Field(
        max_length=21, description="Réingénierie : tous les financeurs de l'action et leurs "
                                   "parts, qui remplacent les précédents")] | None = None


# --- answers ------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Durée de validité, en secondes")


class DossierCreated(BaseModel):
    dossier_id: str
    state: StateName


class DossierSummary(BaseModel):
    dossier_id: str
    state: StateName
    birth_name: str
    usage_name: str | None
    first_names: str
    siret: str
    title: str
    entry_date: str | None
    agora_dossier_id: str | None
    created_at: datetime


class DossierPage(BaseModel):
    items: list[DossierSummary]
    total: int
    page: int
    page_size: int


class PersonOut(BaseModel):
    nir_masked: str = Field(description="NIR masqué ; le NIR en clair : GET …/nir (journalisé)")
    birth_name: str
    usage_name: str | None
    first_names: str
    birth_date: str
    sex: str
    email: str | None
    phone: str | None


class FunderOut(BaseModel):
    code: str = Field(description="Code financeur LHÉO (dict-financeurs)")
    label: str = Field(description="Libellé LHÉO du financeur")
    share: str = Field(description="Part en pourcentage, 2 décimales")


class ActionOut(BaseModel):
    siret: str
    action_id: str
    title: str
    duration_hours: int
    start_date: str
    end_date: str
    certification_code: str | None
    purchase_mode: str
    price: str | None
    funders: list[FunderOut] = Field(default_factory=list,
                                     description="Financeurs de l'action et leurs parts")


class CorrectionOut(BaseModel):
    field: str = Field(description="The corrected item (English name, as in the API)")
    before: str | None
    after: str | None


class TimelineEntryOut(BaseModel):
    seq: int
    event: str = Field(description="'create' or a lifecycle event")
    at: str
    acting_user: str | None
    operation: str = Field(description="AGORA operation called")
    outcome: Literal["acknowledged", "replay", "refused"]
    state_after: str
    ack_id: str = Field(description="AGORA's acknowledgement number (empty when refused)")
    fault_code: str
    message: str
    corrections: list[CorrectionOut] = Field(
        default_factory=list, description="A correction AGORA acknowledged: each value before "
                                          "and after (a NIR masked)")


class DossierStateOut(BaseModel):
    """A dossier's lifecycle as its workflow answers an event: no personal data."""

    dossier_id: str
    state: StateName
    registered: bool
    agora_dossier_id: str | None
    registration_fault: str | None
    entry_date: str | None
    allowed_events: list[EventName]
    timeline: list[TimelineEntryOut]
    link_waits: list[LinkWait] = Field(default_factory=list)
    emails: list[SentEmail] = Field(default_factory=list)


class DossierDetail(BaseModel):
    dossier_id: str
    state: StateName
    live: bool = Field(description="True when the state comes from the workflow itself, "
                                   "False when only the stored projection could be read")
    registered: bool
    agora_dossier_id: str | None
    registration_fault: str | None
    entry_date: str | None
    manager: str | None
    allowed_events: list[EventName]
    person: PersonOut
    action: ActionOut
    timeline: list[TimelineEntryOut]
    link_waits: list[LinkWait] = Field(
        default_factory=list, description="AGORA calls that waited for a maintenance window or "
                                          "a cut-off of the link, and why")
    emails: list[SentEmail] = Field(
        default_factory=list, description="Reminder and escalation emails about this dossier")
    restricted: str = Field("", description="Why the person's data are restricted (GDPR art. 18, "
                                            "a data-subject request): no event until lifted")
    entry_situation: dict[str, str] = Field(
        default_factory=dict, description="The situation at entry declared to AGORA (codes), "
                                          "from the stored dossier")
    exit_reason_code: str | None = Field(None, description="The exit's reason code, from the "
                                                           "stored dossier")


class NirOut(BaseModel):
    dossier_id: str
    nir: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. IllegalEvent, or AGORA's fault code")
    message: str
    operation: str | None = Field(None, description="AGORA operation refused (502 only)")
    state: str | None = Field(None, description="Current state (409 only)")
    allowed_events: list[str] | None = Field(None, description="Events allowed now (409 only)")
    session_id: str | None = Field(None, description="Market session refused (409 PlaceRefused)")
    open_dossiers: list[str] | None = Field(
        None, description="Dossiers not yet exited (409 MarketHasOpenDossiers)")
    unsettled_dossiers: list[str] | None = Field(
        None, description="Dossiers exited but not settled (409 MarketHasOpenDossiers)")


class ErrorOut(BaseModel):
    detail: ErrorInfo
