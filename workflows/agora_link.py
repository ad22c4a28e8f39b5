"""The AGORA link (SPEC §4): the singleton ``AgoraLinkWorkflow`` ("agora-link") holds
the link's state. The worker refuses to start an AGORA activity while the link is cut
(``activities.agora_link_guard``); a calling workflow's ``AgoraGate``
(``workflows/agora_gate.py``) then registers as a waiter, and the link signals
``link_reopened`` to the waiters, in registration order, once the crisis cell's
approvers have expressly agreed.

``AgoraLinkWorkflow`` also turns bursts of transport failures (reported by
the worker as they happen) into exactly one incident per kind, attaches
further failures to it, and sends the cut-off warning and crisis-cell
convocation.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the module: the payload converter
    # resolves the input's nested dataclass hints (Contacts → Contact) through
    # the sandbox's sys.modules, which lacks modules only imported transitively.
    import notifications.contacts  # noqa: F401
    from contracts.agora_link import (
        CONNECTED,
        CUT_OFF,
        QUERY_LINK_STATE,
        SIGNAL_INCIDENT_CLOSED,
        SIGNAL_LINK_REOPENED,
        SIGNAL_REGISTER_WAITER,
        SIGNAL_TRANSPORT_FAILURE,
        UPDATE_APPROVE_RECONNECTION,
        UPDATE_CUT_OFF,
        Approval,
        ApprovalRequest,
        CutOffRecord,
        CutOffRequest,
        FailureReport,
        LinkInput,
        LinkState,
        Waiter,
    )
    from contracts.incident import (
        SIGNAL_ATTACH_FAILURE,
        AttachedFailure,
        IncidentInput,
        workflow_id_for,
    )
    from contracts.notify import EmailRequest
    from state_models.calendar import add_working_days
    from state_models.incident_detection import burst_reached, counts, recent
    from workflows.incident import IncidentWorkflow
    from workflows.notify_call import send_email

# The link's email log is carried across continue-as-new: keep the latest only.
_EMAIL_LOG_LIMIT = 200


@workflow.defn
class AgoraLinkWorkflow:
    @workflow.init
    def __init__(self, link: LinkInput) -> None:
        self._config = link.config
        self._state = link.state or LinkState()

    @workflow.run
    async def run(self, link: LinkInput) -> None:
        # Lives forever; its history is bounded by continuing as new.
        await workflow.wait_condition(self._history_is_long)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(LinkInput(self._config, self._state))

    def _history_is_long(self) -> bool:
        info, limit = workflow.info(), self._config.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or (
            limit > 0 and info.get_current_history_length() >= limit)

    @workflow.query(name=QUERY_LINK_STATE)
    def link_state(self) -> LinkState:
        return self._state

    # --- transport failures → one incident per kind ----------------------------------

    @workflow.signal(name=SIGNAL_TRANSPORT_FAILURE)
    async def transport_failure(self, report: FailureReport) -> None:
        at = datetime.fromisoformat(report.at)
        if not counts(at, tuple(self._config.maintenance_windows)):
            self._state.ignored_failures += 1  # AGORA is closed then, by contract
            return
        ticket = self._state.open_incidents.get(report.kind)
        if ticket is not None:
            await workflow.get_external_workflow_handle(workflow_id_for(ticket)).signal(
                SIGNAL_ATTACH_FAILURE,
                AttachedFailure(report.at, report.operation, report.message, report.workflow_id))
            return
        now = workflow.now()
        failures = [*(datetime.fromisoformat(f) for f in self._state.failures.get(report.kind, [])), at]
        if burst_reached(failures, self._config.burst, now):
            self._state.failures.pop(report.kind, None)
            await self._open_incident(report, len(failures))
        else:
            self._state.failures[report.kind] = [
                f.isoformat() for f in recent(failures, self._config.burst, now)]

    async def _open_incident(self, report: FailureReport, failures: int) -> None:
        config, now = self._config, workflow.now()
        self._state.incidents_opened += 1
        ticket = f"{config.ticket_prefix}-{now:%Y%m%d-%H%M%S}-{self._state.incidents_opened}"
        # Claimed before the first await: a failure handled meanwhile attaches to it.
        self._state.open_incidents[report.kind] = ticket
        burst = config.burst
        await workflow.start_child_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                ticket=ticket,
                severity=config.incident_severity,
                kind=report.kind,
                description=(
                    f"Appels aux web services AGORA en échec : {failures} échecs de transport en "
                    f"moins de {burst.window_seconds / 60:g} minutes (dernier : {report.operation}, "
                    f"{report.message})."
                ),
                detected_at=now.isoformat(),
                contacts=config.contacts,
                calendar=config.calendar,
                timings=config.incident_timings,
                opened_by="agora-flow (détection automatique)",
                link_workflow_id=workflow.info().workflow_id,
                impact=config.incident_impact,
                urgency=config.incident_urgency,
                priority_matrix=config.priority_matrix,
            ),
            id=workflow_id_for(ticket),
            # The incident outlives this run of the link (continue-as-new).
            parent_close_policy=ParentClosePolicy.ABANDON,
        )

    @workflow.signal(name=SIGNAL_INCIDENT_CLOSED)
    def incident_closed(self, kind: str) -> None:
        self._state.open_incidents.pop(kind, None)

    # --- cut-off and crisis cell ----------------------------------------------------------

    @workflow.update(name=UPDATE_CUT_OFF)
    async def cut_off(self, request: CutOffRequest) -> LinkState:
        now, config = workflow.now(), self._config
        record = CutOffRecord(
            who=request.who,
            reason=request.reason,
            at=now.isoformat(),
            meeting_deadline=add_working_days(
                now, config.crisis_meeting_working_days, config.calendar).isoformat(),
        )
        # The switch takes effect before any email: the guard refuses calls from now on.
        self._state.status = CUT_OFF
        self._state.cut_offs.append(record)
        await workflow.sleep(config.guard_cache_seconds, summary="workers see the cut-off")
        contacts = config.contacts
        context = {
            "reference": f"{config.ticket_prefix}-COUPURE-{len(self._state.cut_offs)}",
            "partner_name": contacts.partner_name,
            "region_contact": asdict(contacts.region_contact),
            "cut_at": record.at,
            "cut_by": record.who,
            "reason": record.reason,
            "meeting_deadline": record.meeting_deadline,
            "members": [asdict(m) for m in contacts.crisis_cell.members],
            "approvers": contacts.crisis_cell.approvers,
            "required_approvals": contacts.crisis_cell.required_approvals,
        }
        await self._send("cutoff_warning", [contacts.cdc_support.email],
                         [contacts.region_contact.email], context, record)
        await self._send("crisis_convocation", [m.email for m in contacts.crisis_cell.members],
                         [], context, record)
        return self._state

    @cut_off.validator
    def _validate_cut_off(self, request: CutOffRequest) -> None:
        if not request.who.strip() or not request.reason.strip():
            raise ValueError("indiquez qui coupe la liaison et pourquoi")
        if self._state.status != CONNECTED:
            raise ValueError("la liaison AGORA est déjà coupée")

    @workflow.update(name=UPDATE_APPROVE_RECONNECTION)
    async def approve_reconnection(self, request: ApprovalRequest) -> LinkState:
        record = self._state.cut_offs[-1]
        now = workflow.now()
        record.approvals.append(Approval(request.who, now.isoformat(), request.note,
                                         request.recorded_by or request.who))
        if len(record.approvals) >= self._config.contacts.crisis_cell.required_approvals:
            self._state.status = CONNECTED
            record.reconnected_at = now.isoformat()
            waiters, self._state.waiters = self._state.waiters, []
            for waiter in waiters:  # in the order they registered
                await self._wake(waiter)
        return self._state

    @approve_reconnection.validator
    def _validate_approval(self, request: ApprovalRequest) -> None:
        if self._state.status != CUT_OFF:
            raise ValueError("la liaison AGORA n'est pas coupée")
        cell = self._config.contacts.crisis_cell
        if request.who not in cell.approvers:
            raise ValueError(f"{request.who} n'est pas habilité à approuver la reconnexion"
                             f" (habilités : {', '.join(cell.approvers)})")
        approvals = self._state.cut_offs[-1].approvals
        if any(a.who == request.who for a in approvals):
            raise ValueError(f"{request.who} a déjà donné son accord")
        # Distinct people: whoever records an approval (the approver signed in as themselves,
        # or someone on their behalf) supplies it, and supplies at most one.
        supplier = request.recorded_by or request.who
        if any((a.recorded_by or a.who) == supplier for a in approvals):
            raise ValueError(f"{supplier} a déjà fourni un accord pour cette reconnexion : "
                             "chaque accord requis doit venir d'une personne distincte")

    @workflow.signal(name=SIGNAL_REGISTER_WAITER)
    async def register_waiter(self, waiter: Waiter) -> None:
        if self._state.status == CUT_OFF:
            self._state.waiters.append(waiter)
        else:
            # Reopened between the refusal and this registration: go on at once.
            await self._wake(waiter)

    async def _wake(self, waiter: Waiter) -> None:
        try:
            await workflow.get_external_workflow_handle(waiter.workflow_id).signal(
                SIGNAL_LINK_REOPENED)
        except ApplicationError as gone:
            # The dossier ended (e.g. terminated by an operator) while waiting.
            workflow.logger.warning("waiter %s not reachable: %s", waiter.workflow_id, gone)

    async def _send(self, template: str, to: list[str], cc: list[str], context: dict,
                    cut_off: CutOffRecord) -> None:
        sent = await send_email(EmailRequest(
            template=template,
            to=to,
            cc=cc,
            context=context,
            # One cut-off is identified by its instant, across runs of this workflow.
            idempotency_key=f"{workflow.info().workflow_id}:cut-off:{cut_off.at}:{template}",
        ))
        self._state.emails = [*self._state.emails, sent][-_EMAIL_LOG_LIMIT:]
