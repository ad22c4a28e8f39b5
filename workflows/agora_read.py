"""AgoraReadWorkflow: one AGORA consultation (or the DIF balance record) asked by a user.

Why a workflow of one activity rather than a call from the API: the API never talks to
AGORA, and a read must obey the same rules as a write — the maintenance window and the
cut-off (``AgoraGate``), the activity's retries, the trace log under the user's identity
vector. The API waits for the answer a short while and gives up (cancelling the read)
when AGORA cannot answer in time; a DIF record it does not cancel (``temporal_client``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.agora_reads import AgoraReadActivities
    from contracts import agora_reads as reads
    from contracts.agora_calls import BUSINESS_FAULT
    from contracts.agora_link import LinkWait
    from contracts.agora_reads import AgoraReadAnswer, AgoraReadInput
    from workflows.agora_call import execute_agora, fault_of
    from workflows.agora_gate import AgoraGate

ACTIVITIES: dict[str, Callable[..., Any]] = {
    reads.RIGHTS: AgoraReadActivities.rights,
    reads.HOLDER_DOSSIERS: AgoraReadActivities.holder_dossiers,
    reads.FIND_DOSSIER: AgoraReadActivities.find_dossier,
    reads.BALANCES: AgoraReadActivities.balances,
    reads.ELIGIBILITY: AgoraReadActivities.eligibility,
    reads.RECORD_DIF: AgoraReadActivities.record_dif_balance,
}


@workflow.defn
class AgoraReadWorkflow:
    @workflow.init
    def __init__(self, read: AgoraReadInput) -> None:
        self._gate = AgoraGate(read.link)

    @workflow.run
    async def run(self, read: AgoraReadInput) -> AgoraReadAnswer:
        operation = read.call.request.operation
        activity = ACTIVITIES[operation]
        try:
            return await self._gate.call(
                operation, lambda: execute_agora(activity, read.call, read.retry))
        except ActivityError as failure:
            code, message, _ = fault_of(failure)
            if not code:
                raise
            raise ApplicationError(f"AGORA a refusé {operation} : {code} {message}",
                                   {"operation": operation, "code": code, "message": message},
                                   type=BUSINESS_FAULT, non_retryable=True) from failure

    @workflow.signal
    def link_reopened(self) -> None:
        self._gate.reopened()

    @workflow.query
    def waits(self) -> list[LinkWait]:
        """Why the read waits (maintenance window, cut-off), for the caller's message."""
        return self._gate.waits()
