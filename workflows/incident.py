"""IncidentWorkflow: one anomaly on the AGORA link, from detection to resolution (SPEC §4).

It notifies the CDC's CPF support at once; for a critical/major anomaly it
counts 11 working hours from detection, reminds before the deadline, and
escalates to the designated contacts when the CDC has not acknowledged in
time and again when the deadline passes with neither fix nor workaround.
Acknowledgement, workaround and resolution are updates whose validators ask
the incident lifecycle model; each records who and when. Resolution stops
every timer.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the module: the payload converter
    # resolves the input's nested dataclass hints (Contacts → Contact) through
    # the sandbox's sys.modules, which lacks modules only imported transitively.
    import notifications.contacts  # noqa: F401
    from activities.traces import TraceActivities
    from contracts.agora_link import SIGNAL_INCIDENT_CLOSED
    from contracts.dossier import WORKFLOW_ID_PREFIX as DOSSIER_PREFIX
    from contracts.incident import (
        QUERY_VIEW,
        SIGNAL_ATTACH_FAILURE,
        UPDATE_ACKNOWLEDGE,
        UPDATE_RESOLVE,
        UPDATE_WORK_AROUND,
        ActionRecord,
        AttachedFailure,
        IncidentAction,
        IncidentInput,
        IncidentView,
    )
    from contracts.notify import EmailRequest, SentEmail
    from contracts.traces import INCIDENT_HOLD_LOOKBACK_SECONDS, IncidentHold
    from state_models import incident as lifecycle
    from state_models.calendar import add_working_hours
    from workflows.notify_call import send_email

# The SLA steps, each sent at most once; each is also its email's template.
ESCALATION_NO_ACK = "escalation"
REMINDER = "reminder"
DEADLINE_PASSED = "deadline_passed"

# The version of this workflow that holds its traces (workflow.patched).
HOLD_PATCH = "incident-legal-hold"

# States in which the CDC has not answered yet / the SLA is not met yet.
_UNANSWERED = frozenset({"detected", "notified"})
_SLA_OPEN = frozenset({"detected", "notified", "acknowledged"})


@workflow.defn
class IncidentWorkflow:
    @workflow.init
    def __init__(self, incident: IncidentInput) -> None:
        self._input = incident
        self._state = "detected"
        self._detected = datetime.fromisoformat(incident.detected_at)
        self._deadline = self._sla_deadline()
        self._notified_at: datetime | None = None
        self._actions: dict[str, ActionRecord] = {}
        self._emails: list[SentEmail] = []
        self._sent_steps: set[str] = set()
        self._attached = 0
        self._last_failure: AttachedFailure | None = None
        # The dossiers whose failures were attached: their traces are held with the window's.
        self._dossiers: set[str] = set()
        # Bumped by every update so the timer loop recomputes its next due instant.
        self._revision = 0

    @workflow.run
    async def run(self, incident: IncidentInput) -> IncidentView:
        await self._notify_cdc()
        # Incidents started before legal holds existed replay without them.
        holds = workflow.patched(HOLD_PATCH)
        if holds:
            await self._hold_traces(ends_at=None)
        if self._deadline is not None:
            await self._follow_sla()
        await workflow.wait_condition(
            lambda: self._state == "resolved" and workflow.all_handlers_finished()
        )
        if holds:
            await self._hold_traces(ends_at=workflow.now().isoformat())
        await self._tell_link()
        return self.view()

    # --- the legal hold on the incident's traces (SPEC §5) -----------------------------

    async def _hold_traces(self, ends_at: str | None) -> None:
        """Hold the traces of the incident's window (from a day before its detection, open
        until it is resolved) and of the dossiers its failures concern, until an authorised
        person releases the hold with a reason."""
        starts = self._detected - timedelta(seconds=INCIDENT_HOLD_LOOKBACK_SECONDS)
        await workflow.execute_activity_method(
            TraceActivities.hold_incident_traces,
            IncidentHold(self._input.ticket, starts.isoformat(), ends_at, sorted(self._dossiers)),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
            summary=f"gel des traces {self._input.ticket}")

    # --- the notification ---------------------------------------------------------------

    async def _notify_cdc(self) -> None:
        contacts = self._input.contacts
        await self._send("cdc_notification", [contacts.cdc_support.email],
                         cc=[contacts.region_contact.email])
        self._notified_at = workflow.now()
        # The CDC may have acknowledged (or we resolved) while the email was on its way.
        if "notify" in lifecycle.allowed_events(self._state):
            self._state = lifecycle.next_state(self._state, "notify")

    # --- the SLA clocks (critical/major) ---------------------------------------------

    async def _follow_sla(self) -> None:
        """Sleep until the next due step, recomputing whenever an update moves the incident."""
        while (step := self._next_step()) is not None:
            name, due = step
            seen = self._revision
            remaining = (due - workflow.now()).total_seconds()
            if remaining > 0:
                try:
                    await workflow.wait_condition(
                        lambda seen=seen: self._revision != seen,
                        timeout=remaining,
                        timeout_summary=f"{name} {self._input.ticket}",
                    )
                    continue  # the incident moved: recompute what is due next
                except TimeoutError:
                    pass
            await self._send_step(name)

    def _steps(self) -> dict[str, datetime]:
        """The due instant of every step still relevant in the current state."""
        assert self._deadline is not None
        timings = self._input.timings
        steps: dict[str, datetime] = {}
        if self._state in _UNANSWERED and self._notified_at is not None:
            steps[ESCALATION_NO_ACK] = self._notified_at + timedelta(
                seconds=timings.escalation_if_no_ack_seconds)
        if self._state in _SLA_OPEN:
            steps[REMINDER] = self._deadline - timedelta(
                seconds=timings.reminder_before_deadline_seconds)
            steps[DEADLINE_PASSED] = self._deadline
        return {name: due for name, due in steps.items() if name not in self._sent_steps}

    def _next_step(self) -> tuple[str, datetime] | None:
        steps = self._steps()
        if not steps:
            return None
        name = min(steps, key=lambda n: steps[n])
        return name, steps[name]

    async def _send_step(self, name: str) -> None:
        self._sent_steps.add(name)
        contacts = self._input.contacts
        cdc, region = contacts.cdc_support.email, contacts.region_contact.email
        escalation = [c.email for c in contacts.escalation]
        if name == REMINDER:
            await self._send(REMINDER, [cdc], cc=[region])
        elif name == ESCALATION_NO_ACK:
            await self._send(ESCALATION_NO_ACK, escalation, cc=[region])
        else:
            await self._send(DEADLINE_PASSED, escalation, cc=[cdc, region])

    def _sla_deadline(self) -> datetime | None:
        if self._input.severity != lifecycle.Severity.CRITICAL_MAJOR:
            return None
        timings = self._input.timings
        if timings.deadline_override_seconds is not None:
            return self._detected + timedelta(seconds=timings.deadline_override_seconds)
        return add_working_hours(self._detected, timings.sla_working_hours, self._input.calendar)

    # --- acknowledgement, workaround, resolution ----------------------------------------

    @workflow.update(name=UPDATE_ACKNOWLEDGE)
    def acknowledge(self, action: IncidentAction) -> IncidentView:
        return self._apply("acknowledge", action)

    @acknowledge.validator
    def _validate_acknowledge(self, action: IncidentAction) -> None:
        self._check("acknowledge", action)

    @workflow.update(name=UPDATE_WORK_AROUND)
    def work_around(self, action: IncidentAction) -> IncidentView:
        return self._apply("work_around", action)

    @work_around.validator
    def _validate_work_around(self, action: IncidentAction) -> None:
        self._check("work_around", action)

    @workflow.update(name=UPDATE_RESOLVE)
    def resolve(self, action: IncidentAction) -> IncidentView:
        return self._apply("resolve", action)

    @resolve.validator
    def _validate_resolve(self, action: IncidentAction) -> None:
        self._check("resolve", action)

    def _check(self, event: str, action: IncidentAction) -> None:
        if not action.who.strip():
            raise ValueError("who acted must be given")
        if event not in lifecycle.allowed_events(self._state):
            raise lifecycle.IllegalTransition(
                self._state, event, lifecycle.allowed_events(self._state))

    def _apply(self, event: str, action: IncidentAction) -> IncidentView:
        self._state = lifecycle.next_state(self._state, event)
        self._actions[event] = ActionRecord(action.who, workflow.now().isoformat(), action.note)
        self._revision += 1
        return self.view()

    @workflow.signal(name=SIGNAL_ATTACH_FAILURE)
    def attach_failure(self, failure: AttachedFailure) -> None:
        self._attached += 1
        self._last_failure = failure
        if failure.workflow_id.startswith(DOSSIER_PREFIX):
            self._dossiers.add(failure.workflow_id.removeprefix(DOSSIER_PREFIX))

    # --- views and emails -------------------------------------------------------------

    @workflow.query(name=QUERY_VIEW)
    def view(self) -> IncidentView:
        steps = self._steps() if self._deadline is not None else {}
        return IncidentView(
            ticket=self._input.ticket,
            kind=self._input.kind,
            severity=self._input.severity,
            state=self._state,
            detected_at=self._input.detected_at,
            notification_due_at=(self._detected + timedelta(
                seconds=self._input.timings.notification_limit_seconds)).isoformat(),
            notified_at=_iso(self._notified_at),
            deadline=_iso(self._deadline),
            reminder_at=_iso(steps.get(REMINDER)),
            escalation_at=_iso(steps.get(ESCALATION_NO_ACK)),
            acknowledged=self._actions.get("acknowledge"),
            worked_around=self._actions.get("work_around"),
            resolved=self._actions.get("resolve"),
            emails=list(self._emails),
            attached_failures=self._attached,
            last_failure=self._last_failure,
        )

    def _context(self) -> dict:
        incident, contacts = self._input, self._input.contacts
        return {
            "ticket": incident.ticket,
            "severity": incident.severity,
            "kind": incident.kind,
            "state": self._state,
            "domain": incident.domain,
            "application": incident.application,
            "service": incident.service,
            "description": incident.description,
            "attachments": incident.attachments,
            "detected_at": incident.detected_at,
            "notified_at": _iso(self._notified_at),
            "deadline": _iso(self._deadline),
            "partner_name": contacts.partner_name,
            "region_contact": asdict(contacts.region_contact),
        }

    async def _send(self, template: str, to: list[str], cc: list[str]) -> None:
        sent = await send_email(EmailRequest(
            template=template,
            to=to,
            cc=cc,
            context=self._context(),
            idempotency_key=f"{workflow.info().workflow_id}:{template}",
            incident_id=self._input.ticket,
        ))
        self._emails.append(sent)

    async def _tell_link(self) -> None:
        """Let the link workflow open a new incident of this kind on the next burst."""
        if self._input.link_workflow_id is None:
            return
        await workflow.get_external_workflow_handle(self._input.link_workflow_id).signal(
            SIGNAL_INCIDENT_CLOSED, self._input.kind)


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None
