"""DossierWorkflow: one trainee dossier, from its registration at AGORA to its settlement.

Each business event is an update: the validator asks the lifecycle model and the event
rules whether the event is allowed now (a refusal reaches the caller at once and nothing
is sent to AGORA); the handler reports the event to AGORA through its activity, which also
projects the outcome for business users, then adopts the model's new value.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the modules of the input's nested
    # dataclasses (the payload converter resolves their type hints through them).
    import contracts.agora_link
    import contracts.notify  # noqa: F401
    import notifications.contacts  # noqa: F401
    import state_models.calendar  # noqa: F401
    from activities.agora_calls import AgoraActivities
    from activities.projections import ProjectionActivities
    from agora.messages import CheckNirName, FindOrCreateDossier
    from contracts.agora_calls import BUSINESS_FAULT, CheckNirNameCall, FindOrCreateDossierCall
    from contracts.dossier import (
        ILLEGAL_EVENT,
        INVALID_DATA,
        OUTCOME_ACKNOWLEDGED,
        DossierInput,
        DossierView,
        EventRequest,
        HistoryEntry,
        corrected_by,
    )
    from contracts.market import SIGNAL_DOSSIER_CHANGED, DossierReport
    from contracts.market import workflow_id_for as market_workflow_id
    from contracts.projection import REGISTRATION, AgoraOutcome, DossierStep, OutcomePlan
    from contracts.search_attributes import DOSSIER_STATE
    from contracts.subject_request import RESTRICTED
    from state_models import dossier as lifecycle
    from state_models.dossier import DossierFacts
    from state_models.dossier_events import validate_event_data
    from state_models.validators import ValidationError
    from workflows.agora_call import execute_agora, fault_of
    from workflows.agora_gate import AgoraGate
    from workflows.dossier_requests import Ids, call_for, payment_id_for, request_id_for
    from workflows.escalation import REFUSED, WAITING, EscalationClock


@workflow.defn
class DossierWorkflow:
    @workflow.init
    def __init__(self, dossier: DossierInput) -> None:
        self._input = dossier
        self._facts = DossierFacts()
        self._history: list[HistoryEntry] = []
        self._registration_attempted = False
        # The projection's row exists (written by the first AGORA call, or before a held one).
        self._row_written = False
        # Events are applied one at a time, in the order they were accepted.
        self._lock = asyncio.Lock()
        self._gate = AgoraGate(dossier.link)
        self._escalation = EscalationClock(dossier.dossier_id, dossier.escalation)
        self._projections: list[asyncio.Future[None]] = []
        # Events by their own identity: None while being applied, then the refusal they got
        # ("" when applied). A resend of a known event is answered, never applied again.
        self._events: dict[str, str | None] = {}
        self._event_refusals: dict[str, ApplicationError] = {}
        # The person's data restricted (GDPR art. 18, a data-subject request): events refused.
        self._restricted = ""

    @workflow.run
    async def run(self, dossier: DossierInput) -> DossierView:
        async with self._lock:
            if dossier.backfilled is None:
                await self._register()
            else:
                await self._adopt_backfilled()
        await workflow.wait_condition(
            lambda: self._facts.state not in lifecycle.OPEN_STATES
            and workflow.all_handlers_finished()
        )
        self._escalation.stop()
        await asyncio.gather(*self._projections)
        return self.view()

    # --- registration at AGORA (operations 4 and 5) -----------------------------------

    @workflow.update
    async def registration(self) -> DossierView:
        """The creation's answer: the view once AGORA was asked to register the dossier,
        or once that call waits for the link (the dossier is stored either way)."""
        await workflow.wait_condition(
            lambda: self._registration_attempted or (self._row_written and self._gate.holding))
        return self.view()

    async def _register(self) -> None:
        """Check the NIR/surname pair, then find-or-create the dossier. Caller holds the lock."""
        person, action, user = self._input.person, self._input.action, self._input.acting_user
        plan = self._plan(REGISTRATION, user, self._facts)
        # The check writes the dossier's row first; only its refusal adds a timeline entry.
        check = CheckNirNameCall(CheckNirName(person.nir, person.birth_name), user,
                                 replace(plan, dossier=self._input, entry_on_ack=False))
        find = FindOrCreateDossierCall(
            FindOrCreateDossier(plan.request_id, self._input.dossier_id, person, action), user, plan)
        call: CheckNirNameCall | FindOrCreateDossierCall = check
        try:
            await self._call(AgoraActivities.check_nir_name, check)
            self._row_written = True
            call = find
            outcome = await self._call(AgoraActivities.find_or_create_dossier, find)
        except ActivityError as failure:
            self._refused(plan, failure, call.request.operation)
        else:
            await self._acknowledged(plan, call.request.operation, outcome)
        finally:
            self._row_written = True
            self._registration_attempted = True

    async def _adopt_backfilled(self) -> None:
        """An open dossier the backfill loaded into AGORA by batch file: it starts in its
        state at the cut-over, registered under AGORA's id, without calling AGORA again."""
        backfilled = self._input.backfilled
        assert backfilled is not None
        self._facts = DossierFacts(state=backfilled.state,
                                   agora_dossier_id=backfilled.agora_dossier_id,
                                   entry_date=backfilled.entry_date)
        entry = self._entry("backfill", self._input.acting_user, "", OUTCOME_ACKNOWLEDGED,
                            message="chargé à AGORA par la reprise d'antériorité "
                                    f"({backfilled.campaign_id})")
        await self._project(DossierStep(self._input.dossier_id, self._facts, entry, self._input))
        self._row_written = True
        self._registration_attempted = True
        workflow.upsert_search_attributes([DOSSIER_STATE.value_set(self._facts.state)])

    # --- business events ---------------------------------------------------------------

    @workflow.update
    async def apply_event(self, request: EventRequest) -> DossierView:
        event_id = request.event_id
        if event_id and event_id in self._events:
            return await self._answered_again(event_id)
        if event_id:
            self._events[event_id] = None
        try:
            view = await self._apply(request)
        except ApplicationError as refused:
            if event_id:
                self._events[event_id] = refused.type or "refused"
                self._event_refusals[event_id] = refused
            raise
        if event_id:
            self._events[event_id] = ""
        return view

    async def _answered_again(self, event_id: str) -> DossierView:
        """A resend (lost answer, timeout, double click): the first one's outcome, once it
        has one; nothing is sent to AGORA again."""
        await workflow.wait_condition(lambda: self._events[event_id] is not None)
        refusal = self._event_refusals.get(event_id)
        if refusal is not None:
            raise ApplicationError(refusal.message, *refusal.details, type=refusal.type,
                                   non_retryable=True)
        return self.view()

    async def _apply(self, request: EventRequest) -> DossierView:
        # An event sent right after creation waits for the registration to be tried first.
        await workflow.wait_condition(lambda: self._registration_attempted)
        seen = self._facts
        async with self._lock:
            if self._facts != seen:
                # Another event moved the dossier while this one waited: check it again.
                self._check(request)
            if self._facts.agora_dossier_id is None:
                return await self._while_unregistered(request)
            plan = self._plan(request.event, request.acting_user,
                              lifecycle.apply(self._facts, request.event, request.data),
                              request.event_id)
            if request.event == "reengineer":
                # Once AGORA acknowledges, the row and this workflow's copy carry the
                # corrected values (later calls send them).
                plan = replace(plan, corrected=corrected_by(self._input, request.data))
            ids = Ids(plan.request_id, self._facts.agora_dossier_id,
                      payment_id_for(self._input.dossier_id, request.event_id, self._facts.payments),
                      self._input.person.nir, self._input.person.birth_name)
            # The timeline records who asked (the plan); AGORA sees whose authority it is.
            caller = None if request.system_authority else request.acting_user
            activity, call = call_for(request.event, ids, request.data, caller, plan)
            try:
                outcome = await self._call(activity, call)
            except ActivityError as failure:
                code, message = self._refused(plan, failure, call.request.operation)
                raise ApplicationError(
                    f"AGORA a refusé {call.request.operation} : {code} {message}",
                    {"operation": call.request.operation, "code": code, "message": message},
                    type=BUSINESS_FAULT,
                ) from failure
            await self._acknowledged(plan, call.request.operation, outcome)
            if plan.corrected is not None:
                self._input = plan.corrected
            return self.view()

    @apply_event.validator
    def _validate_event(self, request: EventRequest) -> None:
        if request.event_id in self._events:
            return  # a resend: answered with the first one's outcome
        self._check(request)

    @workflow.signal
    def link_reopened(self) -> None:
        self._gate.reopened()

    @workflow.signal
    def restrict(self, reason: str) -> None:
        """A data-subject request restricted the person's data: no event until lifted."""
        self._restricted = reason or "limitation du traitement (RGPD art. 18)"

    @workflow.signal
    def lift_restriction(self) -> None:
        self._restricted = ""

    @workflow.query
    def view(self) -> DossierView:
        facts = self._facts
        return DossierView(
            dossier_id=self._input.dossier_id,
            state=facts.state,
            registered=facts.agora_dossier_id is not None,
            agora_dossier_id=facts.agora_dossier_id,
            allowed_events=lifecycle.allowed_events(facts),
            history=list(self._history),
            entry_date=facts.entry_date,
            registration_fault=facts.registration_fault,
            link_waits=self._gate.waits(),
            emails=list(self._escalation.emails),
            restricted=self._restricted,
            entry_situation=dict(facts.entry_situation),
            exit_reason_code=facts.exit_reason_code,
        )

    def _check(self, request: EventRequest) -> None:
        """Refuse an event the lifecycle does not allow now, or whose data is invalid against
        the dossier's facts, or not normalised (clients send the normalised data), or sent
        while the person's data are restricted."""
        if self._restricted and request.event != "reengineer":
            # A rectification is what a restriction waits for (art. 18.1.a): it goes through.
            raise ApplicationError(
                f"Traitement limité (RGPD art. 18) : {self._restricted}",
                {"reason": self._restricted}, type=RESTRICTED, non_retryable=True)
        try:
            lifecycle.check(self._facts, request.event)
        except lifecycle.IllegalTransition as illegal:
            raise ApplicationError(
                str(illegal),
                {"state": illegal.state, "event": illegal.event, "allowed": illegal.allowed},
                type=ILLEGAL_EVENT, non_retryable=True,
            ) from illegal
        try:
            clean = validate_event_data(request.event, request.data, self._facts)
        except ValidationError as invalid:
            raise ApplicationError(
                str(invalid), {"field": invalid.field, "reason": invalid.reason},
                type=INVALID_DATA, non_retryable=True,
            ) from invalid
        if clean != request.data:
            raise ApplicationError(
                "données non normalisées", {"field": "data", "reason": "données non normalisées"},
                type=INVALID_DATA, non_retryable=True)

    async def _while_unregistered(self, request: EventRequest) -> DossierView:
        """AGORA refused the registration: a correction retries it, a cancellation ends here."""
        if request.event == "cancel":
            self._facts = lifecycle.apply(self._facts, "cancel", request.data)
            entry = self._entry("cancel", request.acting_user, "", OUTCOME_ACKNOWLEDGED,
                                message="dossier jamais enregistré à AGORA")
            self._escalation.stop()
            self._write(DossierStep(self._input.dossier_id, self._facts, entry))
            await self._state_changed()
            return self.view()
        self._input = corrected_by(self._input, request.data)
        await self._register()
        if self._facts.registration_refused:
            raise ApplicationError(
                f"AGORA refuse toujours l'enregistrement : {self._facts.registration_fault}",
                type=BUSINESS_FAULT,
            )
        return self.view()

    # --- AGORA calls and their outcomes -------------------------------------------------

    def _plan(self, event: str, acting_user: str | None, acknowledged: DossierFacts,
              event_id: str = "") -> OutcomePlan:
        seq = len(self._history) + 1
        # Same on every retry of the call, different for each new call: AGORA dedupes on it.
        request_id = request_id_for(workflow.info().workflow_id, seq, event_id)
        return OutcomePlan(self._input.dossier_id, seq, event, acting_user, request_id,
                           current=self._facts, acknowledged=acknowledged)

    async def _call(self, activity, call) -> AgoraOutcome:  # type: ignore[no-untyped-def]
        """One AGORA operation: through the link's gate (maintenance, cut-off), retried on
        transport faults; a clock reminds people if it waits too long."""
        operation = call.request.operation
        self._escalation.start(WAITING, operation)
        try:
            return await self._gate.call(
                operation, lambda: execute_agora(activity, call, self._input.retry),
                on_hold=self._store_before_holding)
        finally:
            self._escalation.stop()

    async def _store_before_holding(self) -> None:
        """A held call has not written the dossier's row yet: write it, so the dossier is
        listed while it waits."""
        if not self._row_written:
            await self._project(DossierStep(self._input.dossier_id, self._facts, None, self._input))
            self._row_written = True

    async def _acknowledged(self, plan: OutcomePlan, operation: str, outcome: AgoraOutcome) -> None:
        before = self._facts.state
        step = plan.acknowledged_step(operation, outcome.ack, outcome.at)
        self._facts = step.facts
        assert step.entry is not None
        self._history.append(step.entry)
        if self._facts.state != before:
            await self._state_changed()

    def _refused(self, plan: OutcomePlan, failure: ActivityError, operation: str) -> tuple[str, str]:
        code, message, at = fault_of(failure)
        step = plan.refused_step(operation, code, message, at or workflow.now().isoformat())
        self._facts = step.facts
        assert step.entry is not None
        self._history.append(step.entry)
        if not code:
            # Not AGORA's answer (the activity gave up): nothing projected it, so project it here.
            self._write(step)
        self._escalation.start(REFUSED, operation, code, message)
        return code, message

    async def _state_changed(self) -> None:
        """Operators filter by state in Temporal Web; the dossier's market counts it. The
        sequence number grows with the history, so the market ignores a late report."""
        workflow.upsert_search_attributes([DOSSIER_STATE.value_set(self._facts.state)])
        link = self._input.market
        if link is None:
            return
        report = DossierReport(self._input.dossier_id, self._facts.state, len(self._history))
        try:
            # By name: importing the market's workflow module into every dossier's sandbox
            # would cost each dossier run its import.
            await workflow.get_external_workflow_handle(market_workflow_id(link.market_id)).signal(
                SIGNAL_DOSSIER_CHANGED, report)
        except ApplicationError as gone:
            # The market ended (settled, or terminated by an operator): nothing left to count.
            workflow.logger.warning("market %s not reachable: %s", link.market_id, gone)

    def _entry(self, event: str, acting_user: str | None, operation: str, outcome: str,
               message: str = "") -> HistoryEntry:
        """A timeline entry of a step no AGORA call records."""
        entry = HistoryEntry(
            seq=len(self._history) + 1, event=event, at=workflow.now().isoformat(),
            acting_user=acting_user, operation=operation,
            request_id=f"{workflow.info().workflow_id}:{len(self._history) + 1}",
            outcome=outcome, state_after=self._facts.state, message=message)
        self._history.append(entry)
        return entry

    def _write(self, step: DossierStep) -> None:
        """Project a step no AGORA activity wrote, in the background; run() waits for it."""
        self._projections = [p for p in self._projections if not p.done()]
        self._projections.append(asyncio.ensure_future(self._project(step)))

    async def _project(self, step: DossierStep) -> None:
        await workflow.execute_activity_method(
            ProjectionActivities.record_dossier_step, step,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
