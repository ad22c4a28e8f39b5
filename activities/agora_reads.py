"""One activity per AGORA consultation (operations 1, 2, 3, 12, 13) and the DIF balance
record (14), for ``AgoraReadWorkflow``.

Like the writes (``activities/agora_calls.py``): the acting user's own PAGM profiles in the
identity vector, each attempt traced, business and identity-vector refusals
non-retryable, transport failures retried honouring Retry-After. The activities are named
after AGORA's operations, so the worker's link guard holds them while the link is cut off.
Nothing is projected: a consultation changes no dossier.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agora.errors import AgoraFault, AgoraUnavailable
from agora.messages import RecordDifBalance
from agora.tracing import ExchangeContext
from contracts import agora_reads as reads
from contracts.agora_calls import BUSINESS_FAULT, UNAVAILABLE
from contracts.agora_reads import AgoraReadAnswer, AgoraReadCall
from settings import Settings


class AgoraReadActivities:
    def __init__(self, settings: Settings) -> None:
        # Imported here so that workflow modules can name these methods without loading the
        # SOAP stack (as in activities/agora_calls.py).
        from agora.client import get_client
        from store.authorisations import ProfileDirectory
        from store.traces import trace_store_for

        traces = trace_store_for(settings) if settings.traces_enabled else None
        self._client = lambda: get_client(settings, traces)
        self._profiles = ProfileDirectory(settings)

    def _ask(self, call: AgoraReadCall) -> AgoraReadAnswer:
        operation = call.request.operation
        context = ExchangeContext(dossier_id=call.dossier_id, attempt=activity.info().attempt)
        pagm = self._profiles.profiles_for(call.acting_user)
        try:
            if operation == reads.RECORD_DIF:
                ack = self._client().send(RecordDifBalance(**call.request.fields),
                                          call.acting_user, context, pagm)
                answer: dict[str, Any] = asdict(ack)
            else:
                answer = self._client().read(operation, call.request.fields, call.acting_user,
                                             context, pagm)
        except AgoraFault as fault:
            raise ApplicationError(f"{fault.code}: {fault.message}", fault.code, fault.message,
                                   _now(), type=BUSINESS_FAULT, non_retryable=True) from fault
        except AgoraUnavailable as outage:
            delay = timedelta(seconds=outage.retry_after) if outage.retry_after else None
            raise ApplicationError(str(outage), type=UNAVAILABLE, next_retry_delay=delay) from outage
        return AgoraReadAnswer(operation, answer, _now())

    @activity.defn(name=reads.RIGHTS)
    def rights(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    @activity.defn(name=reads.HOLDER_DOSSIERS)
    def holder_dossiers(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    @activity.defn(name=reads.FIND_DOSSIER)
    def find_dossier(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    @activity.defn(name=reads.BALANCES)
    def balances(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    @activity.defn(name=reads.ELIGIBILITY)
    def eligibility(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    @activity.defn(name=reads.RECORD_DIF)
    def record_dif_balance(self, call: AgoraReadCall) -> AgoraReadAnswer:
        return self._ask(call)

    def all(self) -> list:
        return [self.rights, self.holder_dossiers, self.find_dossier, self.balances,
                self.eligibility, self.record_dif_balance]


def _now() -> str:
    return datetime.now(UTC).isoformat()
