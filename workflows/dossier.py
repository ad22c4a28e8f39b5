"""DossierWorkflow: one trainee dossier, from its registration at AGORA to its settlement.

Each business event is an update: the validator asks the lifecycle model and
the event rules whether the event is allowed now (a refusal reaches the caller
at once and nothing is sent to AGORA); the handler calls AGORA through the
operation's activity, then moves the model and records the outcome.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the modules of the input's nested
    # dataclasses (the payload converter resolves their type hints through them).
    import notifications.contacts  # noqa: F401
    import state_models.calendar  # noqa: F401
    from activities.agora_types import (
        BUSINESS_FAULT,
        CheckNirNameCall,
        DeclarePaymentCall,
        EnterTrainingCall,
        ExitTrainingCall,
        FindOrCreateDossierCall,
        ReengineerDossierCall,
        SettleActionCall,
        ValidateDossierCall,
    )
    from activities.projection_types import RECORD_DOSSIER, DossierRecord
    from agora.messages import (
        ENTRY_FIRST,
        ENTRY_RESUME,
        EXIT_FINAL,
        EXIT_INTERRUPTION,
        AgoraAck,
        CheckNirName,
        Correction,
        DeclarePayment,
        EnterTraining,
        ExitTraining,
        FindOrCreateDossier,
        ReengineerDossier,
        SettleAction,
        ValidateDossier,
    )
    from state_models import dossier as lifecycle
    from state_models.dossier_events import DossierFacts, validate_event_data
    from state_models.validators import ValidationError
    from workflows.agora_call import execute_agora, fault_of, outcome_of
    from workflows.agora_link import AgoraGate
    from workflows.agora_link_types import SIGNAL_LINK_REOPENED
    from workflows.dossier_escalation import REFUSED, WAITING, DossierEscalation
    from workflows.dossier_types import (
        OUTCOME_ACKNOWLEDGED,
        OUTCOME_REFUSED,
        QUERY_VIEW,
        UPDATE_APPLY_EVENT,
        DossierInput,
        DossierView,
        EventRequest,
        HistoryEntry,
    )
    from workflows.market_types import SIGNAL_DOSSIER_CHANGED, DossierReport
    from workflows.market_types import workflow_id_for as market_workflow_id
    from workflows.search_attributes import DOSSIER_ID, DOSSIER_STATE

# AGORA's status value and correction name for a cancelled dossier.
CANCELLED_STATUS = "ANNULE"
STATUS_CORRECTION = "statut"

# Refusal types the API maps to HTTP statuses.
ILLEGAL_EVENT = "IllegalEvent"  # 409
INVALID_DATA = "InvalidEventData"  # 422
NOT_REGISTERED = "DossierNotRegistered"  # 409


def search_attributes(dossier_id: str, state: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [SearchAttributePair(DOSSIER_ID, dossier_id), SearchAttributePair(DOSSIER_STATE, state)]
    )


@workflow.defn
class DossierWorkflow:
    @workflow.init
    def __init__(self, dossier: DossierInput) -> None:
        self._input = dossier
        self._state = "created"
        self._agora_dossier_id: str | None = None
        self._registration_fault: str | None = None
        self._history: list[HistoryEntry] = []
        self._facts = DossierFacts()
        self._payments = 0
        self._registration_attempted = False
        # Events are applied one at a time, in the order they were accepted.
        self._lock = asyncio.Lock()
        self._gate = AgoraGate(dossier.link)
        self._escalation = DossierEscalation(dossier.dossier_id, dossier.escalation)
        self._projections: list[asyncio.Future[None]] = []

    @workflow.run
    async def run(self, dossier: DossierInput) -> DossierView:
        async with self._lock:
            await self._register()
        await workflow.wait_condition(
            lambda: self._state not in lifecycle.OPEN_STATES and workflow.all_handlers_finished()
        )
        self._escalation.stop()
        await asyncio.gather(*self._projections)
        return self.view()

    # --- registration at AGORA (operations 4 and 5) -----------------------------------

    async def _register(self) -> None:
        """Check the NIR/surname pair, then find-or-create the dossier. Caller holds the lock."""
        person, action, user = self._input.person, self._input.action, self._input.acting_user
        try:
            await self._call(
                "ControlerUniciteNirNom",
                CheckNirNameCall(CheckNirName(person.nir, person.birth_name), user),
            )
            ack = await self._call(
                "RechercherOuCreerDossier",
                FindOrCreateDossierCall(
                    FindOrCreateDossier(self._request_id(), self._input.dossier_id, person, action),
                    user,
                ),
            )
        except ActivityError as failure:
            code, message = fault_of(failure)
            self._registration_fault = f"{code}: {message}"
            self._record("create", user, "RechercherOuCreerDossier", OUTCOME_REFUSED,
                         fault_code=code, message=message)
            self._escalation.start(REFUSED, "RechercherOuCreerDossier", code, message)
        else:
            self._agora_dossier_id = ack.agora_dossier_id
            self._registration_fault = None
            self._record("create", user, "RechercherOuCreerDossier", outcome_of(ack), ack=ack)
        finally:
            self._registration_attempted = True
            self._project()

    # --- business events ---------------------------------------------------------------

    @workflow.update(name=UPDATE_APPLY_EVENT)
    async def apply_event(self, request: EventRequest) -> DossierView:
        # An event sent right after creation waits for the registration to be tried first.
        await workflow.wait_condition(lambda: self._registration_attempted)
        async with self._lock:
            # Re-checked under the lock: another event may have moved the dossier meanwhile.
            data = self._check(request)
            if self._agora_dossier_id is None:
                return await self._retry_registration(request, data)
            operation, call = self._build_call(request, data)
            try:
                ack = await self._call(operation, call)
            except ActivityError as failure:
                code, message = fault_of(failure)
                self._record(request.event, request.acting_user, operation, OUTCOME_REFUSED,
                             fault_code=code, message=message)
                self._escalation.start(REFUSED, operation, code, message)
                self._project()
                raise ApplicationError(
                    f"AGORA a refusé {operation} : {code} {message}",
                    {"operation": operation, "code": code, "message": message},
                    type=BUSINESS_FAULT,
                ) from failure
            before = self._state
            self._move(request.event, data)
            self._record(request.event, request.acting_user, operation, outcome_of(ack), ack=ack)
            self._project()
            if self._state != before:
                await self._report_to_market()
            return self.view()

    @apply_event.validator
    def _validate_event(self, request: EventRequest) -> None:
        self._check(request)

    @workflow.signal(name=SIGNAL_LINK_REOPENED)
    def link_reopened(self) -> None:
        self._gate.reopened()

    @workflow.query(name=QUERY_VIEW)
    def view(self) -> DossierView:
        return DossierView(
            dossier_id=self._input.dossier_id,
            state=self._state,
            registered=self._agora_dossier_id is not None,
            agora_dossier_id=self._agora_dossier_id,
            allowed_events=self._allowed_events(),
            history=list(self._history),
            entry_date=self._facts.entry_date,
            registration_fault=self._registration_fault,
            link_waits=self._gate.waits(),
            emails=list(self._escalation.emails),
        )

    def _allowed_events(self) -> list[str]:
        if self._agora_dossier_id is None and self._registration_fault is not None:
            return [e for e in lifecycle.allowed_events(self._state) if e in ("cancel", "reengineer")]
        return lifecycle.allowed_events(self._state)

    def _check(self, request: EventRequest) -> dict:
        if request.event not in self._allowed_events():
            raise ApplicationError(
                str(lifecycle.IllegalTransition(self._state, request.event, self._allowed_events())),
                {"state": self._state, "event": request.event, "allowed": self._allowed_events()},
                type=ILLEGAL_EVENT,
                non_retryable=True,
            )
        try:
            return validate_event_data(request.event, request.data, self._facts)
        except ValidationError as invalid:
            raise ApplicationError(
                str(invalid), {"field": invalid.field, "reason": invalid.reason},
                type=INVALID_DATA, non_retryable=True,
            ) from invalid

    async def _retry_registration(self, request: EventRequest, data: dict) -> DossierView:
        """AGORA refused the registration: a correction retries it, a cancellation ends here."""
        if request.event == "cancel":
            self._move("cancel", data)
            self._record("cancel", request.acting_user, "", OUTCOME_ACKNOWLEDGED,
                         message="dossier jamais enregistré à AGORA")
            self._escalation.stop()
            self._project()
            await self._report_to_market()
            return self.view()
        for correction in data["corrections"]:
            for target in (self._input.person, self._input.action):
                if hasattr(target, correction["name"]):
                    current = getattr(target, correction["name"])
                    value = correction["value"]
                    setattr(target, correction["name"], int(value) if isinstance(current, int) else value)
        await self._register()
        if self._registration_fault:
            raise ApplicationError(
                f"AGORA refuse toujours l'enregistrement : {self._registration_fault}",
                type=BUSINESS_FAULT,
            )
        return self.view()

    def _build_call(self, request: EventRequest, data: dict) -> tuple[str, object]:
        agora_id = self._agora_dossier_id
        assert agora_id is not None
        rid = self._request_id()
        user = request.acting_user
        match request.event:
            case "validate":
                return "ValiderDossier", ValidateDossierCall(
                    ValidateDossier(rid, agora_id, data["validation_date"]), user)
            case "enter":
                return "EntrerEnFormation", EnterTrainingCall(
                    EnterTraining(rid, agora_id, data["entry_date"], ENTRY_FIRST,
                                  data.get("job_seeker_since")), user)
            case "resume":
                return "EntrerEnFormation", EnterTrainingCall(
                    EnterTraining(rid, agora_id, data["resume_date"], ENTRY_RESUME), user)
            case "pay":
                payment_id = f"{self._input.dossier_id}-P{self._payments + 1}"
                return "DeclarerRemuneration", DeclarePaymentCall(
                    DeclarePayment(rid, agora_id, payment_id, data["payment_date"], data["amount"]),
                    user)
            case "interrupt":
                return "SortirDeFormation", ExitTrainingCall(
                    ExitTraining(rid, agora_id, data["interruption_date"], EXIT_INTERRUPTION,
                                 data["reason"]), user)
            case "exit":
                return "SortirDeFormation", ExitTrainingCall(
                    ExitTraining(rid, agora_id, data["exit_date"], EXIT_FINAL, data["reason"]), user)
            case "settle":
                return "SolderAction", SettleActionCall(
                    SettleAction(rid, data["settlement_date"], data["amount_paid"],
                                 agora_dossier_id=agora_id), user)
            case "cancel":
                return "ReingenierieDossier", ReengineerDossierCall(
                    ReengineerDossier(rid, agora_id, data["reason"],
                                      [Correction(STATUS_CORRECTION, CANCELLED_STATUS)]), user)
            case "reengineer":
                return "ReingenierieDossier", ReengineerDossierCall(
                    ReengineerDossier(rid, agora_id, data["reason"],
                                      [Correction(c["name"], c["value"]) for c in data["corrections"]]),
                    user)
        raise ValueError(f"no AGORA operation for event {request.event}")

    def _move(self, event: str, data: dict) -> None:
        self._state = lifecycle.next_state(self._state, event)
        facts = self._facts
        if event == "enter":
            facts = DossierFacts(data["entry_date"], facts.last_interruption_date, facts.exit_date)
        elif event == "interrupt":
            facts = DossierFacts(facts.entry_date, data["interruption_date"], facts.exit_date)
        elif event == "exit":
            facts = DossierFacts(facts.entry_date, facts.last_interruption_date, data["exit_date"])
        elif event == "pay":
            self._payments += 1
        self._facts = facts
        workflow.upsert_search_attributes([DOSSIER_STATE.value_set(self._state)])

    # --- AGORA calls -------------------------------------------------------------------

    def _request_id(self) -> str:
        # Same on every retry of the call, different for each new call: AGORA dedupes on it.
        return f"{workflow.info().workflow_id}:{len(self._history) + 1}"

    async def _call(self, operation: str, call: object) -> AgoraAck:
        """One AGORA operation: through the link's gate (maintenance, cut-off), retried on
        transport faults; a clock reminds people if it waits too long."""
        self._escalation.start(WAITING, operation)
        try:
            ack = await self._gate.call(
                operation, lambda: execute_agora(operation, call, self._input.retry))
        finally:
            self._escalation.stop()
        return ack

    async def _report_to_market(self) -> None:
        """Tell the dossier's market its new state. The sequence number grows with the
        history, so the market ignores a duplicate or late delivery."""
        link = self._input.market
        if link is None:
            return
        report = DossierReport(self._input.dossier_id, self._state, len(self._history))
        try:
            await workflow.get_external_workflow_handle(market_workflow_id(link.market_id)).signal(
                SIGNAL_DOSSIER_CHANGED, report)
        except ApplicationError as gone:
            # The market ended (settled, or terminated by an operator): nothing left to count.
            workflow.logger.warning("market %s not reachable: %s", link.market_id, gone)

    def _project(self) -> None:
        """Write the business users' projection in the background; run() waits for it."""
        self._projections = [p for p in self._projections if not p.done()]
        self._projections.append(workflow.start_activity(
            RECORD_DOSSIER,
            DossierRecord(self._input, self.view()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            summary="projection",
        ))

    def _record(
        self,
        event: str,
        acting_user: str | None,
        operation: str,
        outcome: str,
        ack: AgoraAck | None = None,
        fault_code: str = "",
        message: str = "",
    ) -> None:
        self._history.append(
            HistoryEntry(
                seq=len(self._history) + 1,
                event=event,
                at=workflow.now().isoformat(),
                acting_user=acting_user,
                operation=operation,
                request_id=self._request_id(),
                outcome=outcome,
                state_after=self._state,
                ack_id=ack.ack_id if ack else "",
                fault_code=fault_code,
                message=ack.message if ack else message,
            )
        )
