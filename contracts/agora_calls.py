"""Inputs of the AGORA activities: the AGORA request, the user acting and, for a dossier,
where its outcome is projected.

Kept apart from the activities so workflows import them without the SOAP stack.
The activity names are the AGORA operations' own names (``Request.operation``).
"""


from dataclasses import dataclass

from agora.messages import (
    CheckNirName,
    DeclarePayment,
    EnterTraining,
    ExitTraining,
    FindOrCreateDossier,
    ReengineerDossier,
    SettleAction,
    ValidateDossier,
)
from contracts.projection import OutcomePlan

# ApplicationError types raised by the activities.
BUSINESS_FAULT = "AgoraBusinessFault"
UNAVAILABLE = "AgoraUnavailable"


@dataclass
class CheckNirNameCall:
    request: CheckNirName
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class FindOrCreateDossierCall:
    request: FindOrCreateDossier
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class ValidateDossierCall:
    request: ValidateDossier
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class EnterTrainingCall:
    request: EnterTraining
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class DeclarePaymentCall:
    request: DeclarePayment
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class ExitTrainingCall:
    request: ExitTraining
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class SettleActionCall:
    request: SettleAction
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected


@dataclass
class ReengineerDossierCall:
    request: ReengineerDossier
    acting_user: str | None = None
    plan: OutcomePlan | None = None  # dossier calls: where the outcome is projected
