"""One activity per AGORA operation: attach the acting user and their own PAGM profiles
(store/authorisations.py), call AGORA, map its answer,
and for a dossier project the outcome (its timeline entry and state) in the same activity,
so a business event costs one activity.

Business and identity-vector refusals are non-retryable (a person must correct
something); transport failures are retryable, honouring AGORA's Retry-After.
Every write carries a request id that is the same on every retry, so AGORA
recognises a retry after a lost answer as a replay and never applies it twice;
the projection write is idempotent too (the entry's number is fixed by the plan).

Each attempt's exchange is traced by the client (agora/tracing.py) with the dossier or market
and the attempt number; the activity holds it and writes it to the trace store
(store/traces.py) in one transaction with the projected outcome (one commit per call, where
there were two). A trace that cannot be written fails the attempt, which Temporal retries.

Activities are synchronous and run in the worker's thread pool: zeep's
synchronous client is the mature path, and the client (with its parsed WSDL and
signing key) is built once per process.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agora.errors import AgoraError, AgoraFault, AgoraUnavailable
from agora.messages import Request
from agora.tracing import Exchange, ExchangeContext
from contracts import dossier as dossier_contract
from contracts import market as market_contract
from contracts.agora_calls import (
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
from contracts.projection import AgoraOutcome, DossierStep, OutcomePlan
from observability import correlation, metrics
from settings import Settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # the store (SQLAlchemy) is the worker's, not the workflows'
    from store.traces import TraceStore
    from store.writer import ProjectionWriter


class AgoraActivities:
    def __init__(self, settings: Settings, writer: ProjectionWriter) -> None:
        # Imported here, when a worker builds its activities, so that workflow modules can
        # name these methods without loading the SOAP stack (zeep, lxml, signxml).
        from agora.client import get_client
        from store.authorisations import ProfileDirectory
        from store.traces import trace_store_for

        traces = trace_store_for(settings) if settings.traces_enabled else None
        self._traces: TraceStore | None = traces
        self._client = lambda: get_client(settings, traces)
        self._writer = writer
        # The acting user's own PAGM profiles, read at each call (SPEC §3): looked up here
        # rather than carried in the workflow, so Temporal payloads stay lean and a
        # revocation applies to the next attempt.
        self._profiles = ProfileDirectory(settings)

    def _send(self, request: Request, acting_user: str | None,
              plan: OutcomePlan | None) -> AgoraOutcome:
        if plan is not None and plan.dossier is not None:
            self._writer.dossier(plan.dossier)  # the row exists before AGORA is called
        step: DossierStep | None = None
        started = time.perf_counter()
        with self._holding() as exchanges:
            try:
                ack = self._client().send(request, acting_user, _exchange_context(plan),
                                          self._profiles.profiles_for(acting_user))
            except AgoraFault as fault:
                _observe(request.operation, metrics.BUSINESS_FAULT, started, fault.code)
                at = _now()
                if plan is not None:
                    step = plan.refused_step(request.operation, fault.code, fault.message, at)
                # The error's message is only the code, and it has no cause: AGORA's text may
                # quote the holder (NIR, names) and the worker logs a failed activity's error
                # and its causes in clear; the text travels in the details, sealed by the codec.
                raise ApplicationError(
                    f"AGORA refused the call: {fault.code}",
                    fault.code,
                    fault.message,
                    at,
                    type=BUSINESS_FAULT,
                    non_retryable=True,
                ) from None
            except AgoraUnavailable as outage:
                _observe(request.operation,
                         metrics.TIMEOUT if outage.timed_out else metrics.TRANSPORT_FAILURE,
                         started)
                delay = timedelta(seconds=outage.retry_after) if outage.retry_after else None
                raise ApplicationError(
                    str(outage), type=UNAVAILABLE, next_retry_delay=delay
                ) from outage
            except AgoraError:  # an answer that could not be read: retried like an outage
                _observe(request.operation, metrics.TRANSPORT_FAILURE, started)
                raise
            else:
                _observe(request.operation, metrics.ACKNOWLEDGED, started)
                at = _now()
                if plan is not None and plan.entry_on_ack:
                    step = plan.acknowledged_step(request.operation, ack, at)
            finally:
                # Whatever the outcome: the exchange's trace and the projected step, in one
                # transaction; if they cannot be written the attempt fails and is retried.
                self._write(exchanges, step)
        return AgoraOutcome(ack, at)

    def _holding(self) -> AbstractContextManager[list[Exchange]]:
        return self._traces.holding() if self._traces is not None else nullcontext([])

    def _write(self, exchanges: list[Exchange], step: DossierStep | None) -> None:
        if self._traces is not None:
            self._traces.write_exchanges(
                exchanges, None if step is None else partial(self._writer.write_step, step=step))
        elif step is not None:
            self._writer.step(step)

    @activity.defn(name="ControlerUniciteNirNom")
    def check_nir_name(self, call: CheckNirNameCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="RechercherOuCreerDossier")
    def find_or_create_dossier(self, call: FindOrCreateDossierCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="ValiderDossier")
    def validate_dossier(self, call: ValidateDossierCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="EntrerEnFormation")
    def enter_training(self, call: EnterTrainingCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="DeclarerRemuneration")
    def declare_payment(self, call: DeclarePaymentCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="SortirDeFormation")
    def exit_training(self, call: ExitTrainingCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="SolderAction")
    def settle_action(self, call: SettleActionCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

    @activity.defn(name="ReingenierieDossier")
    def reengineer_dossier(self, call: ReengineerDossierCall) -> AgoraOutcome:
        return self._send(call.request, call.acting_user, call.plan)

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


def _exchange_context(plan: OutcomePlan | None) -> ExchangeContext:
    """The dossier or market the call is for, from the plan or the calling workflow."""
    info = activity.info()
    workflow_id = info.workflow_id or ""
    dossier_id = plan.dossier_id if plan is not None else None
    market_id = None
    if dossier_id is None and workflow_id.startswith(dossier_contract.WORKFLOW_ID_PREFIX):
        dossier_id = workflow_id.removeprefix(dossier_contract.WORKFLOW_ID_PREFIX)
    if workflow_id.startswith(market_contract.WORKFLOW_ID_PREFIX):
        market_id = workflow_id.removeprefix(market_contract.WORKFLOW_ID_PREFIX)
    return ExchangeContext(dossier_id=dossier_id, market_id=market_id, attempt=info.attempt,
                           correlation_id=correlation.request_id.get())


def _observe(operation: str, outcome: str, started: float, fault_code: str = "") -> None:
    """One attempt's outcome, counted and logged (with its workflow, dossier and request id,
    added by the log filter; never the request's content)."""
    metrics.agora_call(operation, outcome, started, activity.info().attempt, fault_code)
    log.log(logging.INFO if outcome == metrics.ACKNOWLEDGED else logging.WARNING,
            "AGORA call %s: %s%s", operation, outcome, f" {fault_code}" if fault_code else "",
            extra={"agora_operation": operation, "agora_outcome": outcome,
                   "fault_code": fault_code or None})


def _now() -> str:
    return datetime.now(UTC).isoformat()
