"""JSON shapes of AGORA's consultations, and their making from AGORA's answers.

No NIR in clear in any of them: a dossier found at AGORA shows its holder's NIR masked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agora.operations import BY_SOAP_NAME
from api.dossiers.schemas import FunderOut
from contracts.agora_reads import AgoraReadAnswer
from state_models.funders import label
from state_models.validators import mask_nir

# AGORA's dossier statuses, in the words of the Region's staff.
AGORA_STATUSES = {
    "CREE": "Créé", "VALIDE": "Validé", "EN_FORMATION": "En formation",
    "INTERROMPU": "Interrompu", "SORTI": "Sorti", "SOLDE": "Soldé", "ANNULE": "Annulé",
}


class Obtained(BaseModel):
    operation: str = Field(description="Opération AGORA (nom SOAP)")
    operation_label: str = Field(description="Libellé de l'opération")
    obtained_at: str = Field(description="Instant de la réponse d'AGORA (ISO 8601, UTC)")
    from_cache: bool = Field(description="Réponse déjà obtenue récemment, AGORA non rappelé")


class RightsOut(Obtained):
    cpf_hours: int = Field(description="Droits CPF (heures)")
    dif_hours: int = Field(description="Solde DIF (heures)")


class BalancesOut(Obtained):
    cpf_amount: str = Field(description="Solde du compte CPF (euros)")
    dif_hours: int = Field(description="Solde DIF (heures)")


class EligibilityOut(Obtained):
    eligible: bool
    reason: str = Field(description="Motif donné par AGORA")


class AgoraDossierOut(BaseModel):
    agora_dossier_id: str
    region_dossier_id: str | None = None
    status: str
    status_label: str
    siret: str | None = None
    action_id: str | None = None
    title: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    validation_date: str | None = None
    entry_date: str | None = None
    exit_date: str | None = None
    settlement_date: str | None = None
    amount_paid: str | None = None
    funders: list[FunderOut] = Field(default_factory=list,
                                     description="Financeurs de l'action selon AGORA")


class HolderDossiersOut(Obtained):
    dossiers: list[AgoraDossierOut]


class FoundDossierOut(Obtained):
    dossier: AgoraDossierOut
    holder_nir_masked: str
    holder_birth_name: str
    holder_first_names: str


# An AGORA dossier identifier as a user may type it: letters, digits and a few separators
# (anything else cannot be AGORA's and would not travel in its XML).
AGORA_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"

# The DIF was capped at 120 hours (Code du travail, former L.6323-5).
DIF_MAX_HOURS = 120


class DifBalanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dif_hours: int = Field(ge=0, le=DIF_MAX_HOURS, description="Solde DIF en heures (120 h au plus)")


class DifRecordedOut(Obtained):
    ack_id: str = Field(description="N° d'accusé de réception d'AGORA")
    replay: bool
    message: str


def _obtained(answer: AgoraReadAnswer, from_cache: bool) -> dict[str, Any]:
    return {"operation": answer.operation,
            "operation_label": BY_SOAP_NAME[answer.operation].label_fr,
            "obtained_at": answer.obtained_at, "from_cache": from_cache}


def rights_of(answer: AgoraReadAnswer, from_cache: bool) -> RightsOut:
    a = answer.answer
    return RightsOut(**_obtained(answer, from_cache), cpf_hours=int(a["cpf_hours"]),
                     dif_hours=int(a["dif_hours"]))


def balances_of(answer: AgoraReadAnswer, from_cache: bool) -> BalancesOut:
    a = answer.answer
    return BalancesOut(**_obtained(answer, from_cache), cpf_amount=str(a["cpf_amount"]),
                       dif_hours=int(a["dif_hours"]))


def eligibility_of(answer: AgoraReadAnswer, from_cache: bool) -> EligibilityOut:
    a = answer.answer
    return EligibilityOut(**_obtained(answer, from_cache), eligible=bool(a["eligible"]),
                          reason=str(a["reason"]))


def agora_dossier(d: dict[str, Any]) -> AgoraDossierOut:
    action = d.get("action") or {}
    return AgoraDossierOut(
        agora_dossier_id=d["agora_dossier_id"], region_dossier_id=d.get("region_dossier_id"),
        status=d["status"], status_label=AGORA_STATUSES.get(d["status"], d["status"]),
        siret=action.get("siret"), action_id=action.get("action_id"), title=action.get("title"),
        start_date=action.get("start_date"), end_date=action.get("end_date"),
        validation_date=d.get("validation_date"), entry_date=d.get("entry_date"),
        exit_date=d.get("exit_date"), settlement_date=d.get("settlement_date"),
        amount_paid=d.get("amount_paid"),
        funders=[FunderOut(code=str(f["code"]), label=label(str(f["code"])), share=str(f["share"]))
                 for f in action.get("funders") or []])


def holder_dossiers_of(answer: AgoraReadAnswer, from_cache: bool) -> HolderDossiersOut:
    return HolderDossiersOut(**_obtained(answer, from_cache),
                             dossiers=[agora_dossier(d) for d in answer.answer.get("dossiers") or []])


def found_dossier_of(answer: AgoraReadAnswer, from_cache: bool) -> FoundDossierOut:
    dossier = answer.answer["dossier"]
    person = dossier.get("person") or {}
    return FoundDossierOut(**_obtained(answer, from_cache), dossier=agora_dossier(dossier),
                           holder_nir_masked=mask_nir(person.get("nir") or ""),
                           holder_birth_name=person.get("birth_name") or "",
                           holder_first_names=person.get("first_names") or "")


def dif_recorded_of(answer: AgoraReadAnswer) -> DifRecordedOut:
    a = answer.answer
    return DifRecordedOut(**_obtained(answer, False), ack_id=a.get("ack_id") or "",
                          replay=bool(a.get("replay")), message=a.get("message") or "")
