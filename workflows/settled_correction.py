"""SettledCorrectionWorkflow: a correction (re-engineering, operation 11) of a settled dossier.

A settled dossier's workflow has ended — the settlement is its last lifecycle event — but a
correction is not a lifecycle event: AGORA accepts one on a settled dossier, and the Region
must be able to rectify what it reported (SPEC §8). This short workflow sends it through the
same request table, link gate, retries and projection as the dossier workflow would, with
the timeline number after the stored dossier's last one.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.agora_calls import BUSINESS_FAULT
    from contracts.dossier import (
        DossierView,
        SettledCorrection,
        corrected_by,
    )
    from contracts.dossier import workflow_id_for as dossier_workflow_id
    from contracts.projection import OutcomePlan
    from state_models.dossier import DossierFacts, events_when_closed
    from workflows.agora_call import execute_agora, fault_of
    from workflows.agora_gate import AgoraGate
    from workflows.dossier_requests import Ids, call_for, request_id_for

SETTLED = "settled"
EVENT = "reengineer"


@workflow.defn
class SettledCorrectionWorkflow:
    @workflow.init
    def __init__(self, correction: SettledCorrection) -> None:
        self._gate = AgoraGate(correction.dossier.link)

    @workflow.run
    async def run(self, correction: SettledCorrection) -> DossierView:
        dossier, request = correction.dossier, correction.request
        facts = DossierFacts(state=SETTLED, agora_dossier_id=correction.agora_dossier_id,
                             entry_date=correction.entry_date,
                             entry_situation=dict(correction.entry_situation),
                             exit_reason_code=correction.exit_reason_code)
        # The dossier's own request id scheme: a resend of the same event is one effect at AGORA.
        request_id = request_id_for(dossier_workflow_id(dossier.dossier_id), correction.seq,
                                    request.event_id)
        plan = OutcomePlan(dossier.dossier_id, correction.seq, EVENT, request.acting_user,
                           request_id, current=facts, acknowledged=facts,
                           corrected=corrected_by(dossier, request.data))
        ids = Ids(request_id, correction.agora_dossier_id, "", dossier.person.nir,
                  dossier.person.birth_name)
        activity, call = call_for(EVENT, ids, request.data, request.acting_user, plan)
        operation = call.request.operation
        try:
            outcome = await self._gate.call(
                operation, lambda: execute_agora(activity, call, dossier.retry))
        except ActivityError as failure:
            code, message, _ = fault_of(failure)
            raise ApplicationError(
                f"AGORA a refusé {operation} : {code} {message}",
                {"operation": operation, "code": code, "message": message},
                type=BUSINESS_FAULT, non_retryable=True) from failure
        entry = plan.acknowledged_step(operation, outcome.ack, outcome.at).entry
        assert entry is not None
        return DossierView(dossier_id=dossier.dossier_id, state=SETTLED, registered=True,
                           agora_dossier_id=correction.agora_dossier_id,
                           allowed_events=events_when_closed(SETTLED),
                           history=[*correction.history, entry],
                           entry_date=correction.entry_date)

    @workflow.signal
    def link_reopened(self) -> None:
        self._gate.reopened()
