"""MarketWorkflow: one procurement market (one lot), from its registration to its settlement.

Each business event is an update: the validator asks the market model whether the
event is allowed now and its data valid (refused → nothing changes, nothing is sent
to AGORA); the handler calls AGORA where the event has an AGORA counterpart (the
settlement, operation 10 SolderAction with the market's reference), through the same
link gate and with the same retry rules as the dossiers, then keeps the new state.

Dossiers reserve a place in one of the market's sessions (update ``reserve_place``,
idempotent per dossier) before they start, then report each state change by signal
(``dossier_changed``): the market counts its dossiers by state without reading them.

Settlement rule: the market is settled only once every one of its dossiers is settled
or cancelled; the refusal names the dossiers still open and those exited but not yet
settled (each dossier's own settlement belongs to its workflow, which reports its own
amount to AGORA). See ``state_models/market.py``.

A market lives for years: the run continues as new once its history is long,
carrying the whole state, after every update and signal handler has finished.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the modules of the input's nested
    # dataclasses (the payload converter resolves their type hints through them).
    import state_models.calendar
    import state_models.market
    import state_models.market_dossiers  # noqa: F401
    from activities.agora_calls import AgoraActivities
    from activities.projections import ProjectionActivities
    from agora.messages import SettleAction
    from contracts.agora_calls import BUSINESS_FAULT, SettleActionCall
    from contracts.agora_link import SIGNAL_LINK_REOPENED
    from contracts.dossier import OUTCOME_REFUSED
    from contracts.market import (
        ILLEGAL_EVENT,
        INVALID_DATA,
        OPEN_DOSSIERS,
        PLACE_REFUSED,
        QUERY_UNCONFIRMED_PLACES,
        QUERY_VIEW,
        SIGNAL_DOSSIER_CHANGED,
        UPDATE_APPLY_EVENT,
        UPDATE_RELEASE_PLACE,
        UPDATE_RESERVE_PLACE,
        DossierReport,
        MarketCarried,
        MarketEventRequest,
        MarketHistoryEntry,
        MarketInput,
        MarketView,
        PlaceRequest,
        SessionView,
        UnconfirmedPlace,
    )
    from contracts.notify import SentEmail
    from contracts.projection import MarketRecord, outcome_of
    from state_models import market as model
    from state_models import market_dossiers as book
    from state_models.market_dossiers import MarketDossiers, PlaceRefused
    from state_models.validators import ValidationError
    from workflows.agora_call import execute_agora, fault_of
    from workflows.agora_gate import AgoraGate
    from workflows.escalation import MARKET, REFUSED, WAITING, EscalationClock

SETTLE_OPERATION = "SolderAction"
# workflow.patched id: runs started before it waited for every handler before handing over.
_PROJECT_BEFORE_HANDOVER = "market-project-before-handover"
# A refusal names at most this many dossiers of each kind (a market can have thousands).
_NAMED_DOSSIERS = 50


@workflow.defn
class MarketWorkflow:
    @workflow.init
    def __init__(self, market: MarketInput) -> None:
        self._input = market
        carried = market.carried or MarketCarried(market.facts, MarketDossiers())
        self._facts = carried.facts
        self._dossiers = carried.dossiers
        self._history = carried.history
        self._version = carried.version
        self._past_waits = carried.link_waits
        self._past_emails = carried.emails
        self._applied_event_ids = set(carried.applied_event_ids)
        self._gate = AgoraGate(market.link)
        self._escalation = EscalationClock(market.market_id, market.escalation, kind=MARKET)
        # Events are applied one at a time, in the order they were accepted.
        self._lock = asyncio.Lock()
        # Each run writes the projection once at start, then after changes, batched.
        self._dirty = True
        self._projected_version = -1

    @workflow.update
    async def stored(self) -> MarketView:
        """The registration's answer: the view once the market is in the store."""
        await self._until_projected(self._version)
        return self.view()

    async def _until_projected(self, version: int) -> None:
        """Answer only once the projection shows ``version``: the user's next page shows it."""
        await workflow.wait_condition(lambda: self._projected_version >= version)

    @workflow.run
    async def run(self, market: MarketInput) -> MarketView:
        while True:
            await workflow.wait_condition(
                lambda: self._dirty or self._settled() or self._history_is_long())
            if self._settled() and not self._dirty:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.view()
            if self._history_is_long():
                # No update or signal may be half-applied when this run hands over; the next
                # run writes the projection first.
                if workflow.patched(_PROJECT_BEFORE_HANDOVER):
                    # An update answers once its change is projected, and only this loop
                    # projects: waiting for every handler before projecting waited forever.
                    await workflow.wait_condition(
                        lambda: workflow.all_handlers_finished() or self._dirty)
                else:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                if workflow.all_handlers_finished():
                    workflow.continue_as_new(MarketInput(
                        market_id=market.market_id, facts=self._facts,
                        acting_user=market.acting_user, retry=market.retry, link=market.link,
                        escalation=market.escalation,
                        continue_as_new_after_events=market.continue_as_new_after_events,
                        carried=self._carried()))
            # Awaited: one projection at a time, each carrying every change since the last.
            self._dirty = False
            version = self._version
            await self._project()
            self._projected_version = version

    def _settled(self) -> bool:
        return self._facts.state == "settled"

    def _history_is_long(self) -> bool:
        info, limit = workflow.info(), self._input.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or (
            limit > 0 and info.get_current_history_length() >= limit)

    def _carried(self) -> MarketCarried:
        return MarketCarried(self._facts, self._dossiers, self._history, self._version,
                             [*self._past_waits, *self._gate.waits()], self._emails(),
                             sorted(self._applied_event_ids))

    def _emails(self) -> list[SentEmail]:
        return [*self._past_emails, *self._escalation.emails]

    # --- business events ---------------------------------------------------------------

    @workflow.update(name=UPDATE_APPLY_EVENT)
    async def apply_event(self, request: MarketEventRequest) -> MarketView:
        async with self._lock:
            if request.event_id in self._applied_event_ids:
                # A resend of an applied event: answered with the market as it is, not applied again.
                version = self._version
            else:
                version = await self._apply_once(request)
        await self._until_projected(version)
        return self.view()

    async def _apply_once(self, request: MarketEventRequest) -> int:
        """Apply the event (under the lock); the version the projection must reach."""
        # Re-checked under the lock: another event may have moved the market meanwhile.
        data = self._check(request)
        entry = MarketHistoryEntry(seq=len(self._history) + 1, event=request.event,
                                   at=workflow.now().isoformat(), acting_user=request.acting_user)
        if request.event == "settle":
            await self._settle_at_agora(entry, data)
        self._facts = model.apply(self._facts, request.event, data)
        self._escalation.stop()  # the market moved on
        entry.state_after = self._facts.state
        self._history.append(entry)
        if request.event_id:
            self._applied_event_ids.add(request.event_id)
        self._changed()
        return self._version

    @apply_event.validator
    def _validate_event(self, request: MarketEventRequest) -> None:
        if request.event_id in self._applied_event_ids:
            return  # already applied: the handler answers the market as it is
        self._check(request)

    def _check(self, request: MarketEventRequest) -> dict:
        allowed = model.allowed_events(self._facts)
        if request.event not in allowed:
            raise ApplicationError(
                str(model.IllegalTransition(self._facts.state, request.event, allowed)),
                {"state": self._facts.state, "event": request.event, "allowed": allowed},
                type=ILLEGAL_EVENT, non_retryable=True)
        try:
            data = model.validate_event_data(request.event, request.data, self._facts)
        except ValidationError as invalid:
            raise ApplicationError(str(invalid), {"field": invalid.field, "reason": invalid.reason},
                                   type=INVALID_DATA, non_retryable=True) from invalid
        if request.event == "settle":
            self._check_dossiers_closed()
        return data

    def _check_dossiers_closed(self) -> None:
        blockers = book.settlement_blockers(self._dossiers)
        if not blockers["open"] and not blockers["unsettled"]:
            return
        parts = []
        if blockers["open"]:
            parts.append(f"dossiers encore ouverts : {_named(blockers['open'])}")
        if blockers["unsettled"]:
            parts.append(f"dossiers sortis à solder d'abord : {_named(blockers['unsettled'])}")
        raise ApplicationError(
            f"le marché ne peut pas être soldé : {' ; '.join(parts)}",
            {"open_dossiers": blockers["open"][:_NAMED_DOSSIERS],
             "unsettled_dossiers": blockers["unsettled"][:_NAMED_DOSSIERS],
             "open_count": len(blockers["open"]), "unsettled_count": len(blockers["unsettled"])},
            type=OPEN_DOSSIERS, non_retryable=True)

    async def _settle_at_agora(self, entry: MarketHistoryEntry, data: dict) -> None:
        """Operation 10 for the whole market: its reference, the date, the total paid."""
        entry.operation = SETTLE_OPERATION
        # Same on every retry, different for each call: AGORA dedupes on it.
        entry.request_id = f"{workflow.info().workflow_id}:{entry.seq}"
        call = SettleActionCall(
            SettleAction(entry.request_id, data["settlement_date"], str(model.total_paid(self._facts)),
                         market_reference=model.agora_reference(self._facts.terms)),
            entry.acting_user)
        self._escalation.start(WAITING, SETTLE_OPERATION)
        try:
            outcome = await self._gate.call(
                SETTLE_OPERATION,
                lambda: execute_agora(AgoraActivities.settle_action, call, self._input.retry))
        except ActivityError as failure:
            code, message, _ = fault_of(failure)
            self._escalation.start(REFUSED, SETTLE_OPERATION, code, message)
            entry.outcome, entry.fault_code, entry.message = OUTCOME_REFUSED, code, message
            entry.state_after = self._facts.state
            self._history.append(entry)
            self._changed()
            raise ApplicationError(
                f"AGORA a refusé {SETTLE_OPERATION} : {code} {message}",
                {"operation": SETTLE_OPERATION, "code": code, "message": message},
                type=BUSINESS_FAULT) from failure
        ack = outcome.ack
        entry.outcome, entry.ack_id, entry.message = outcome_of(ack), ack.ack_id, ack.message

    # --- dossiers ----------------------------------------------------------------------

    @workflow.update(name=UPDATE_RESERVE_PLACE)
    def reserve_place(self, request: PlaceRequest) -> SessionView:
        if book.reserve(self._dossiers, self._facts.terms.sessions, request.dossier_id,
                        request.session_id, workflow.now().isoformat()):
            self._changed()
        return next(s for s in self._session_views() if s.session_id == request.session_id)

    @reserve_place.validator
    def _validate_reservation(self, request: PlaceRequest) -> None:
        try:
            if request.dossier_id not in self._dossiers.slots and not model.accepts_dossiers(self._facts):
                raise PlaceRefused(request.session_id, "le marché n'accepte plus de nouveaux dossiers "
                                                       f"(état : {self._facts.state})")
            book.check_reservation(self._dossiers, self._facts.terms.sessions, request.dossier_id,
                                   request.session_id)
        except PlaceRefused as refused:
            raise ApplicationError(
                refused.reason, {"session_id": refused.session_id, "reason": refused.reason},
                type=PLACE_REFUSED, non_retryable=True) from refused

    @workflow.update(name=UPDATE_RELEASE_PLACE)
    def release_place(self, request: PlaceRequest) -> bool:
        """Undo a reservation whose dossier never started (the creation saga's compensation,
        or the periodic reconciliation); True when a place was freed. A dossier that has
        reported a state keeps its place."""
        if book.release(self._dossiers, request.dossier_id):
            self._changed()
            return True
        return False

    @workflow.query(name=QUERY_UNCONFIRMED_PLACES)
    def unconfirmed_places(self) -> list[UnconfirmedPlace]:
        return [UnconfirmedPlace(dossier_id, slot.session_id, slot.reserved_at)
                for dossier_id, slot in sorted(book.unconfirmed(self._dossiers).items())]

    @workflow.signal(name=SIGNAL_DOSSIER_CHANGED)
    def dossier_changed(self, report: DossierReport) -> None:
        if book.report(self._dossiers, report.dossier_id, report.state, report.seq):
            self._changed()

    @workflow.signal(name=SIGNAL_LINK_REOPENED)
    def link_reopened(self) -> None:
        self._gate.reopened()

    # --- reads and projection ----------------------------------------------------------

    @workflow.query(name=QUERY_VIEW)
    def view(self) -> MarketView:
        return MarketView(
            market_id=self._input.market_id,
            facts=self._facts,
            allowed_events=model.allowed_events(self._facts),
            total_paid=str(model.total_paid(self._facts)),
            remaining=str(model.remaining(self._facts)),
            sessions=self._session_views(),
            dossier_counts=book.counts(self._dossiers),
            history=list(self._history),
            version=self._version,
            link_waits=[*self._past_waits, *self._gate.waits()],
            emails=self._emails(),
        )

    def _session_views(self) -> list[SessionView]:
        return [SessionView(s.session_id, s.places, book.places_used(self._dossiers, s.session_id),
                            s.start_date, s.end_date) for s in self._facts.terms.sessions]

    def _changed(self) -> None:
        self._version += 1
        self._dirty = True

    async def _project(self) -> None:
        await workflow.execute_activity_method(
            ProjectionActivities.record_market,
            MarketRecord(self._input.acting_user, self.view()),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )


def _named(dossier_ids: list[str]) -> str:
    shown = ", ".join(dossier_ids[:_NAMED_DOSSIERS])
    more = len(dossier_ids) - _NAMED_DOSSIERS
    return f"{shown} (et {more} autres)" if more > 0 else shown
