"""Which AGORA operation reports each dossier event, and with what request: a pure table
read by ``DossierWorkflow`` (AGORA's own names stay in ``agora/messages.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.agora_calls import AgoraActivities
    from agora.messages import (
        ENTRY_FIRST,
        ENTRY_RESUME,
        EXIT_FINAL,
        EXIT_INTERRUPTION,
        Correction,
        DeclarePayment,
        EnterTraining,
        ExitTraining,
        Funder,
        ReengineerDossier,
        Request,
        SettleAction,
        ValidateDossier,
        element_name,
    )
    from contracts.agora_calls import (
        DeclarePaymentCall,
        EnterTrainingCall,
        ExitTrainingCall,
        ReengineerDossierCall,
        SettleActionCall,
        ValidateDossierCall,
    )
    from contracts.projection import OutcomePlan

# AGORA's status value and correction name for a cancelled dossier.
CANCELLED_STATUS = "ANNULE"
STATUS_CORRECTION = "statut"


@dataclass(frozen=True)
class Ids:
    """The identifiers a request carries besides the event's data."""

    request_id: str  # same on every retry of the call: AGORA dedupes on it
    agora_dossier_id: str
    payment_id: str  # the payment's identifier at AGORA: from the event's own identity
    # The holder as the workflow knows them now (a correction AGORA acknowledged included).
    nir: str | None = None
    birth_name: str | None = None


Build = Callable[[Ids, dict[str, Any]], Request]

EVENT_CALLS: dict[str, tuple[Callable[..., Any], type, Build]] = {
    "validate": (AgoraActivities.validate_dossier, ValidateDossierCall,
                 lambda i, d: ValidateDossier(i.request_id, i.agora_dossier_id, d["validation_date"])),
    "enter": (AgoraActivities.enter_training, EnterTrainingCall,
              lambda i, d: EnterTraining(
                  i.request_id, i.agora_dossier_id, d["entry_date"],
                  d.get("entry_kind", ENTRY_FIRST),
                  d.get("job_seeker_since"),
                  {"oui": True, "non": False}.get(d.get("france_travail_registered", "")),
                  d.get("socio_professional_category"), d.get("last_contract_type"))),
    "resume": (AgoraActivities.enter_training, EnterTrainingCall,
               lambda i, d: EnterTraining(i.request_id, i.agora_dossier_id, d["resume_date"],
                                          ENTRY_RESUME)),
    "pay": (AgoraActivities.declare_payment, DeclarePaymentCall,
            lambda i, d: DeclarePayment(i.request_id, i.agora_dossier_id, i.payment_id,
                                        d["payment_date"], d["amount"], i.nir, i.birth_name)),
    "interrupt": (AgoraActivities.exit_training, ExitTrainingCall,
                  lambda i, d: ExitTraining(i.request_id, i.agora_dossier_id, d["interruption_date"],
                                            EXIT_INTERRUPTION, d["reason"], d.get("reason_code"))),
    "exit": (AgoraActivities.exit_training, ExitTrainingCall,
             lambda i, d: ExitTraining(i.request_id, i.agora_dossier_id, d["exit_date"], EXIT_FINAL,
                                       d["reason"], d.get("reason_code"))),
    "settle": (AgoraActivities.settle_action, SettleActionCall,
               lambda i, d: SettleAction(i.request_id, d["settlement_date"], d["amount_paid"],
                                         agora_dossier_id=i.agora_dossier_id)),
    "cancel": (AgoraActivities.reengineer_dossier, ReengineerDossierCall,
               lambda i, d: ReengineerDossier(i.request_id, i.agora_dossier_id, d["reason"],
                                              [Correction(STATUS_CORRECTION, CANCELLED_STATUS)])),
    "reengineer": (AgoraActivities.reengineer_dossier, ReengineerDossierCall,
                   lambda i, d: ReengineerDossier(i.request_id, i.agora_dossier_id, d["reason"],
                                                  [Correction(element_name(c["name"]), c["value"])
                                                   for c in d.get("corrections", [])],
                                                  [Funder(f["code"], f["share"])
                                                   for f in d["funders"]]
                                                  if "funders" in d else None)),
}


def request_id_for(workflow_id: str, seq: int, event_id: str) -> str:
    """AGORA recognises a request it already applied by this id (AGORA's idRequete, at
    most 64 characters): derived from the event's identity when it has one, so that even
    a declaration repeated by a resend is one effect at AGORA; else from the position in
    the dossier's history (the registration, events sent without an identity)."""
    if event_id:
        return f"{workflow_id}:E{event_id.replace('-', '')}"[:64]
    return f"{workflow_id}:{seq}"


def payment_id_for(dossier_id: str, event_id: str, payments_so_far: int) -> str:
    """AGORA keys a payment on this id: derived from the event's identity, so a resend of
    the same event (after a lost answer) is the same payment. Events sent without an
    identity (older clients) keep the counter."""
    if event_id:
        return f"P-{event_id.replace('-', '')}"[:64]
    return f"{dossier_id}-P{payments_so_far + 1}"


def call_for(event: str, ids: Ids, data: dict[str, Any], acting_user: str | None,
             plan: OutcomePlan) -> tuple[Callable[..., Any], Any]:
    """The activity reporting ``event`` to AGORA, and its input."""
    activity, call_type, build = EVENT_CALLS[event]
    return activity, call_type(build(ids, data), acting_user, plan)
