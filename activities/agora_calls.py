"""One activity per AGORA operation: attach the acting user, call AGORA, map its answer.

Business and identity-vector refusals are non-retryable (a person must correct
something); transport failures are retryable, honouring AGORA's Retry-After.
Every write carries a request id that is the same on every retry, so AGORA
recognises a retry after a lost answer as a replay and never applies it twice.

Activities are synchronous and run in the worker's thread pool: zeep's
synchronous client is the mature path, and the client (with its parsed WSDL and
signing key) is built once per process.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agora_types import (
    BUSINESS_FAULT,
    UNAVAILABLE,
    CheckNirNameCall,
    DeclarePaymentCall,
    EnterTrainingCall,
    ExitTrainingCall,
    FindOrCreateDossierCall,
    ReengineerDossierCall,
    SettleActionCall,
    ValidateDossierCall,
)
from agora.client import get_client
from agora.errors import AgoraFault, AgoraUnavailable
from agora.messages import AgoraAck, Request
from settings import Settings


class AgoraActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _send(self, request: Request, acting_user: str | None) -> AgoraAck:
        try:
            return get_client(self._settings).send(request, acting_user)
        except AgoraFault as fault:
            raise ApplicationError(
                f"{fault.code}: {fault.message}",
                fault.code,
                fault.message,
                type=BUSINESS_FAULT,
                non_retryable=True,
            ) from fault
        except AgoraUnavailable as outage:
            delay = timedelta(seconds=outage.retry_after) if outage.retry_after else None
            raise ApplicationError(
                str(outage), type=UNAVAILABLE, next_retry_delay=delay
            ) from outage

    @activity.defn(name="ControlerUniciteNirNom")
    def check_nir_name(self, call: CheckNirNameCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="RechercherOuCreerDossier")
    def find_or_create_dossier(self, call: FindOrCreateDossierCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="ValiderDossier")
    def validate_dossier(self, call: ValidateDossierCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="EntrerEnFormation")
    def enter_training(self, call: EnterTrainingCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="DeclarerRemuneration")
    def declare_payment(self, call: DeclarePaymentCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="SortirDeFormation")
    def exit_training(self, call: ExitTrainingCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="SolderAction")
    def settle_action(self, call: SettleActionCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    @activity.defn(name="ReingenierieDossier")
    def reengineer_dossier(self, call: ReengineerDossierCall) -> AgoraAck:
        return self._send(call.request, call.acting_user)

    def all(self) -> list:
        return [
            self.check_nir_name,
            self.find_or_create_dossier,
            self.validate_dossier,
            self.enter_training,
            self.declare_payment,
            self.exit_training,
            self.settle_action,
            self.reengineer_dossier,
        ]
