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

import asyncio
from dataclasses import asdict
from datetime import datetime, timedelta

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
        CRISIS_DOMAINS,
        CUT_OFF,
        QUERY_LINK_STATE,
        SIGNAL_INCIDENT_CLOSED,
        SIGNAL_LINK_REOPENED,
        SIGNAL_REGISTER_WAITER,
        SIGNAL_TRANSPORT_FAILURE,
        UPDATE_APPROVE_RECONNECTION,
        UPDATE_CUT_OFF,
        UPDATE_RECORD_MEETING,
        Approval,
        ApprovalRequest,
        CrisisMeeting,
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

# The version that follows the crisis cell's meeting up (reminders, escalation).
MEETING_PATCH = "crisis-meeting-follow-up"


@workflow.defn
class AgoraLinkWorkflow:
    @workflow.init
    def __init__(self, link: LinkInput) -> None:
        self._config = link.config
        self._state = link.state or LinkState()
        # The crisis-cell follow-up is between sending an email and recording it.
        self._follow_up_sending = False

    @workflow.run
    async def run(self, link: LinkInput) -> None:
        # A cut-off whose cell has not met yet carries its follow-up across continue-as-new.
        pending = self._state.cut_offs[-1] if self._state.cut_offs else None
        if (self._state.status == CUT_OFF and pending is not None and not pending.meetings
                and workflow.patched(MEETING_PATCH)):
            self._follow_meeting_up(pending)
        # Lives forever; its history is bounded by continuing as new.
        await workflow.wait_condition(self._history_is_long)
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._follow_up_sending)
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
            domain=request.domain,
            major_disaster=request.major_disaster,
        )
        # The switch takes effect before any email: the guard refuses calls from now on.
        self._state.status = CUT_OFF
        self._state.cut_offs.append(record)
        await workflow.sleep(config.guard_cache_seconds, summary="workers see the cut-off")
        contacts = config.contacts
        context = self._context(record)
        if record.major_disaster:
            # Both parties' designated managers, before anything else (SPEC §4: escalation).
            await self._send("major_disaster", [c.email for c in contacts.escalation],
                             [contacts.cdc_support.email, contacts.region_contact.email],
                             context, record)
        await self._send("cutoff_warning", [contacts.cdc_support.email],
                         [contacts.region_contact.email], context, record)
        await self._send("crisis_convocation", [m["email"] for m in context["members"]],
                         [], context, record)
        # Cut-offs made before the follow-up existed replay without it.
        if workflow.patched(MEETING_PATCH):
            self._follow_meeting_up(record)
        return self._state

    def _context(self, record: CutOffRecord) -> dict:
        config, contacts = self._config, self._config.contacts
        number = next(i for i, r in enumerate(self._state.cut_offs, 1) if r is record)
        return {
            "reference": f"{config.ticket_prefix}-COUPURE-{number}",
            "partner_name": contacts.partner_name,
            "region_contact": asdict(contacts.region_contact),
            "cut_at": record.at,
            "cut_by": record.who,
            "reason": record.reason,
            "meeting_deadline": record.meeting_deadline,
            "domain": record.domain,
            "major_disaster": record.major_disaster,
            "members": [asdict(m) for m in (contacts.crisis_cell.members_for(record.domain)
                                            if record.domain else contacts.crisis_cell.members)],
            "approvers": contacts.crisis_cell.approvers,
            "required_approvals": contacts.crisis_cell.required_approvals,
        }

    # --- the crisis cell's meeting ----------------------------------------------------------

    def _follow_meeting_up(self, record: CutOffRecord) -> None:
        # Kept on the instance: the task lives as long as this run (continue-as-new restarts it).
        self._meeting_follow_up = asyncio.create_task(self._follow_meeting(record))

    async def _follow_meeting(self, record: CutOffRecord) -> None:
        """No meeting recorded by its deadline: remind the cell and tell both parties'
        escalation contacts, then remind the cell again every so often until it meets."""
        deadline = datetime.fromisoformat(record.meeting_deadline)
        every = timedelta(seconds=self._config.crisis_reminder_every_seconds)
        contacts = self._config.contacts
        while True:
            sent = sum(1 for f in record.follow_ups if f.startswith("reminder:"))
            due = deadline + sent * every
            try:
                await workflow.wait_condition(
                    lambda: bool(record.meetings) or record.reconnected_at is not None,
                    timeout=max((due - workflow.now()).total_seconds(), 0.001),
                    timeout_summary=f"réunion de la cellule de crise ({sent + 1})")
                return
            except TimeoutError:
                pass
            context = {**self._context(record), "reminder_number": sent + 1}
            # Recorded once sent: a run continued meanwhile sends it again under the same
            # idempotency key (the sent-mail log answers), rather than never.
            self._follow_up_sending = True
            if "escalation" not in record.follow_ups:
                await self._send("crisis_meeting_escalation", [c.email for c in contacts.escalation],
                                 [contacts.region_contact.email], context, record)
                record.follow_ups.append("escalation")
            await self._send("crisis_meeting_reminder", [m["email"] for m in context["members"]],
                             [contacts.region_contact.email], context, record,
                             key=f"reminder:{sent + 1}")
            record.follow_ups.append(f"reminder:{sent + 1}")
            self._follow_up_sending = False

    @workflow.update(name=UPDATE_RECORD_MEETING)
    def record_meeting(self, meeting: CrisisMeeting) -> LinkState:
        self._state.cut_offs[-1].meetings.append(meeting)
        return self._state

    @record_meeting.validator
    def _validate_meeting(self, meeting: CrisisMeeting) -> None:
        if self._state.status != CUT_OFF:
            raise ValueError("la liaison AGORA n'est pas coupée : aucune cellule de crise ouverte")
        if not meeting.recorded_by.strip() or not meeting.decision.strip():
            raise ValueError("indiquez la décision de la cellule de crise et qui l'enregistre")
        if not [a for a in meeting.attendees if a.strip()]:
            raise ValueError("indiquez les participants de la réunion")
        held = datetime.fromisoformat(meeting.held_at)
        if held.tzinfo is None:
            raise ValueError("la date de la réunion doit préciser son fuseau")
        # A few minutes of slack: the recorder's clock is not the server's.
        if (held < datetime.fromisoformat(self._state.cut_offs[-1].at)
                or held > workflow.now() + timedelta(minutes=5)):
            raise ValueError("la réunion doit dater d'après la coupure et pas du futur")

    @cut_off.validator
    def _validate_cut_off(self, request: CutOffRequest) -> None:
        if not request.who.strip() or not request.reason.strip():
            raise ValueError("indiquez qui coupe la liaison et pourquoi")
        if request.domain not in CRISIS_DOMAINS:
            raise ValueError(f"domaine inconnu : {request.domain!r} "
                             f"(attendu : {', '.join(CRISIS_DOMAINS)})")
        if self._state.status != CONNECTED:
            raise ValueError("la liaison AGORA est déjà coupée")

    @workflow.update(name=UPDATE_APPROVE_RECONNECTION)
    async def approve_reconnection(self, request: ApprovalRequest) -> LinkState:
        record = self._state.cut_offs[-1]
        now = workflow.now()
        meeting = record.meetings[-1] if record.meetings else None
        decision = f"réunion du {meeting.held_at} : {meeting.decision}" if meeting else ""
        record.approvals.append(Approval(request.who, now.isoformat(), request.note,
                                         request.recorded_by or request.who, decision))
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
        record = self._state.cut_offs[-1]
        if not record.meetings or not record.meetings[-1].reconnection_agreed:
            raise ValueError("la reconnexion se fonde sur la décision de la cellule de crise : "
                             "enregistrez d'abord sa réunion et sa décision de reconnecter")
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
                    cut_off: CutOffRecord, key: str = "") -> None:
        sent = await send_email(EmailRequest(
            template=template,
            to=to,
            cc=cc,
            context=context,
            # One cut-off is identified by its instant, across runs of this workflow.
            idempotency_key=f"{workflow.info().workflow_id}:cut-off:{cut_off.at}:{key or template}",
        ))
        self._state.emails = [*self._state.emails, sent][-_EMAIL_LOG_LIMIT:]
