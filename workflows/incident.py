"""IncidentWorkflow: one anomaly on the AGORA link, from detection to resolution (SPEC §4).

It notifies the CDC's CPF support at once; for a critical/major anomaly it
counts 11 working hours from detection, reminds before the deadline, and
escalates to the designated contacts when the CDC has not acknowledged in
time and again when the deadline passes with neither fix nor workaround.
Acknowledgement, workaround and resolution are updates whose validators ask
the incident lifecycle model; each records who and when. Resolution stops
every timer.

Its priority comes from impact × urgency through the configured matrix
(``state_models.incident_priority``); a reclassification is recorded and
recomputes the deadline from the original detection. An anomaly reported by
the CDC notifies nobody: the workflow follows the CDC's commitments instead
(acknowledgement, resolution) and escalates to the CDC's escalation contacts
when they are missed. A notification made by phone is recorded and confirmed
by email at once; the call counts as the notification time once confirmed.

A CDC notification still not delivered 1 h 30 after detection alerts the head of
service, the Region contact and every handler of the incident (its opener and each user
who recorded something on it, reached through the contacts' staff directory) by email,
and the other configured channels; a handler without an address is named in the history.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # Imported by name so the sandbox registers the module: the payload converter
    # resolves the input's nested dataclass hints (Contacts → Contact) through
    # the sandbox's sys.modules, which lacks modules only imported transitively.
    import notifications.contacts  # noqa: F401
    from activities.alerts import AlertActivities
    from activities.traces import TraceActivities
    from contracts.agora_link import SIGNAL_INCIDENT_CLOSED
    from contracts.alerts import ChannelAlert
    from contracts.dossier import WORKFLOW_ID_PREFIX as DOSSIER_PREFIX
    from contracts.incident import (
        ORIGIN_CDC,
        ORIGIN_REGION_SYSTEM,
        QUERY_VIEW,
        SIGNAL_ATTACH_FAILURE,
        UPDATE_ACKNOWLEDGE,
        UPDATE_ADD_ATTACHMENT,
        UPDATE_PHONE_CALL,
        UPDATE_RECLASSIFY,
        UPDATE_RESOLVE,
        UPDATE_WORK_AROUND,
        ActionRecord,
        AttachedFailure,
        IncidentAction,
        IncidentFact,
        IncidentInput,
        IncidentView,
        PhoneCall,
        Reclassification,
    )
    from contracts.notify import EmailAttachment, EmailRequest, SentEmail
    from contracts.traces import INCIDENT_HOLD_LOOKBACK_SECONDS, IncidentHold
    from state_models import incident as lifecycle
    from state_models.calendar import add_working_hours
    from state_models.incident_priority import PriorityMatrix
    from workflows.notify_call import send_email

# The SLA steps, each sent at most once; each is also its email's template.
ESCALATION_NO_ACK = "escalation"
REMINDER = "reminder"
DEADLINE_PASSED = "deadline_passed"
# The CDC's commitments on an anomaly it reported (email template: cdc_commitment_missed).
CDC_ACK_MISSED = "cdc_ack_missed"
CDC_RESOLUTION_MISSED = "cdc_resolution_missed"
CDC_COMMITMENT_MISSED = "cdc_commitment_missed"
PHONE_CONFIRMATION = "phone_confirmation"
LATE_NOTIFICATION = "late_notification"
REGION_NOTICE = "region_notice"

# The version of this workflow that holds its traces (workflow.patched).
HOLD_PATCH = "incident-legal-hold"
_CLOCK_SLACK = timedelta(minutes=5)
# The version that watches for a late CDC notification.
LATE_PATCH = "incident-late-notification"
# The version whose late-notification alert also goes to the incident's handlers.
HANDLERS_PATCH = "incident-late-alert-handlers"

# Who the product's own steps are recorded by; automatic incidents are opened by
# "agora-flow (détection automatique)".
SYSTEM_ACTOR = "agora-flow"
# The facts a user records: whoever recorded one handles the incident.
_HANDLER_FACTS = frozenset({"detected", "reclassified", "phone_call", "phone_confirmed",
                            "attachment", "acknowledge", "work_around", "resolve"})
# How the alert's fixed recipients are named in the incident's history and page.
HEAD_OF_SERVICE = "chef de service"
REGION_CONTACT = "contact AGORA de la Région"

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
        self._matrix = incident.priority_matrix or PriorityMatrix()
        self._impact, self._urgency = incident.impact, incident.urgency
        # Incidents opened before priorities existed keep the severity they were given.
        self._priority = self._matrix.priority(self._impact, self._urgency) if self._impact else ""
        self._severity = (self._matrix.severity(self._priority) if self._priority
                          else incident.severity)
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
        # Reclassifications so far: they name the emails of the steps they re-arm.
        self._classifications = 0
        self._phone_calls: list[PhoneCall] = []
        self._late_at: datetime | None = None
        self._files: list[EmailAttachment] = list(incident.files)
        self._alert_channels: list[str] = []
        # Whom the late-notification alert was emailed to (roles and user names), and the
        # handlers it could not reach by email.
        self._alerted: list[str] = []
        self._without_address: list[str] = []
        self._history: list[IncidentFact] = [IncidentFact(
            incident.detected_at, "detected", incident.opened_by, self._opening_detail())]
        self._history += [IncidentFact(f.uploaded_at or incident.detected_at, "attachment",
                                       f.uploaded_by, f"{f.filename} ({f.content_type}, {f.size} octets)")
                          for f in incident.files]

    @workflow.run
    async def run(self, incident: IncidentInput) -> IncidentView:
        watch: asyncio.Task[None] | None = None
        if incident.origin != ORIGIN_CDC:
            # Incidents started before the watch existed replay without it.
            if workflow.patched(LATE_PATCH):
                watch = asyncio.create_task(self._watch_notification())
            await self._notify_cdc()
        # Incidents started before legal holds existed replay without them.
        holds = workflow.patched(HOLD_PATCH)
        if holds:
            await self._hold_traces(ends_at=None)
        await self._follow_sla()
        if watch is not None:
            await watch
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
        template = (REGION_NOTICE if self._input.origin == ORIGIN_REGION_SYSTEM
                    else "cdc_notification")
        await self._send(template, [contacts.cdc_support.email],
                         cc=[contacts.region_contact.email])
        self._notified(workflow.now())

    def _notified(self, at: datetime) -> None:
        """The CDC was notified at ``at`` (by email, or by a phone call now confirmed)."""
        # A phone call confirmed while the email was on its way may be the earlier one.
        if self._notified_at is None or at < self._notified_at:
            self._notified_at = at
        # The CDC may have acknowledged (or we resolved) while the email was on its way.
        if "notify" in lifecycle.allowed_events(self._state):
            self._state = lifecycle.next_state(self._state, "notify")

    async def _watch_notification(self) -> None:
        """Alert the head of service and the handlers by every other channel when the CDC
        notification is still not delivered some time before its 2-hour limit."""
        timings = self._input.timings
        if self._input.origin == ORIGIN_REGION_SYSTEM:
            due = self._notification_due() - timedelta(
                seconds=timings.region_notice_reminder_before_seconds)
        else:
            due = self._detected + timedelta(seconds=timings.late_notification_alert_seconds)
        try:
            await workflow.wait_condition(
                lambda: self._notified_at is not None or self._state == "resolved",
                timeout=max((due - workflow.now()).total_seconds(), 0.001),
                timeout_summary=f"notification {self._input.ticket} en retard ?")
            return
        except TimeoutError:
            pass
        self._late_at = workflow.now()
        self._history.append(IncidentFact(self._late_at.isoformat(), "notification_late",
                                          SYSTEM_ACTOR, "notification à la CDC non délivrée"))
        # Incidents alerted before handlers were reached replay with the alert they sent.
        with_handlers = workflow.patched(HANDLERS_PATCH)
        addresses, named, without = self._alert_recipients(with_handlers)
        self._without_address = without
        self._history += [IncidentFact(self._late_at.isoformat(), "handler_without_address",
                                       SYSTEM_ACTOR, f"{username} : sans adresse")
                          for username in without]
        await asyncio.gather(
            self._send(LATE_NOTIFICATION, addresses, cc=[], named=named,
                       extra={"alerted": named, "without_address": without}),
            self._alert_other_channels(self._alert_phones(with_handlers)))
        self._alerted = named

    def _alert_recipients(self, with_handlers: bool) -> tuple[list[str], list[str], list[str]]:
        """The late alert's addresses, its recipients as the incident names them (roles and
        user names, never addresses: staff e-mails are personal data), and the handlers the
        staff directory has no address for."""
        contacts = self._input.contacts
        addresses: list[str] = []
        named: list[str] = []
        without: list[str] = []
        for label, contact in ((HEAD_OF_SERVICE, contacts.head_of_service),
                               (REGION_CONTACT, contacts.region_contact)):
            if contact is not None:
                addresses.append(contact.email)
                named.append(label)
        for username in self._handlers() if with_handlers else []:
            if address := contacts.staff_email(username):
                addresses.append(address)
                named.append(username)
            else:
                without.append(username)
        # One copy each, whoever holds two roles.
        return list(dict.fromkeys(addresses)), named, without

    def _alert_phones(self, with_handlers: bool) -> list[str]:
        """The phone numbers the late alert is texted to, where an SMS gateway is configured:
        the head of service's, the Region contact's and each handler's in the directory."""
        if not with_handlers:
            return []
        contacts = self._input.contacts
        phones = [c.phone for c in (contacts.head_of_service, contacts.region_contact) if c]
        phones += [contacts.staff[u].phone for u in self._handlers() if u in contacts.staff]
        return list(dict.fromkeys(p for p in phones if p))

    def _handlers(self) -> list[str]:
        """The users who opened the incident or recorded something on it, in order of
        first appearance."""
        return list(dict.fromkeys(
            fact.who for fact in self._history
            if fact.kind in _HANDLER_FACTS and fact.who and not fact.who.startswith(SYSTEM_ACTOR)))

    def _notification_due(self) -> datetime:
        """When the CDC must have been told: 2 hours after detecting an anomaly on AGORA; a
        day after an outage of the Region's own system, a day before its planned intervention."""
        timings, event = self._input.timings, self._input.region_event
        if self._input.origin != ORIGIN_REGION_SYSTEM or event is None:
            return self._detected + timedelta(seconds=timings.notification_limit_seconds)
        limit = timedelta(seconds=timings.region_notice_limit_seconds)
        if event.kind == "planned_intervention":
            return datetime.fromisoformat(event.starts_at) - limit
        return self._detected + limit

    async def _alert_other_channels(self, phones: list[str]) -> None:
        incident = self._input
        limit = self._notification_due()
        channels = await workflow.execute_activity_method(
            AlertActivities.post_alert,
            ChannelAlert(
                idempotency_key=f"{workflow.info().workflow_id}:{LATE_NOTIFICATION}",
                text=(f"[{incident.ticket}] Notification à la CDC non délivrée : incident "
                      f"détecté le {incident.detected_at}, limite contractuelle "
                      f"{limit.isoformat()}. Prévenir la CDC par téléphone et enregistrer "
                      f"l'appel."),
                ticket=incident.ticket, to=phones),
            start_to_close_timeout=timedelta(minutes=1),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=2)),
            summary=f"alerte {incident.ticket}")
        self._alert_channels = channels
        if channels:
            self._history.append(IncidentFact(workflow.now().isoformat(), "alert_sent",
                                              SYSTEM_ACTOR, ", ".join(channels)))

    # --- the SLA clocks (critical/major) ---------------------------------------------

    async def _follow_sla(self) -> None:
        """Sleep until the next due step, recomputing whenever an update moves the incident
        (a reclassification may give a minor incident a deadline); return once resolved."""
        while self._state != "resolved":
            seen = self._revision
            step = self._next_step()
            if step is None:
                await workflow.wait_condition(lambda seen=seen: self._revision != seen)
                continue
            name, due = step
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
        """The due instant of every step still relevant in the current state, not yet sent."""
        return {name: due for name, due in self._due_steps().items()
                if name not in self._sent_steps}

    def _due_steps(self) -> dict[str, datetime]:
        timings = self._input.timings
        steps: dict[str, datetime] = {}
        if self._input.origin == ORIGIN_CDC:
            if self._state == "detected":
                steps[CDC_ACK_MISSED] = self._detected + timedelta(
                    seconds=timings.cdc_ack_commitment_seconds)
            if self._deadline is not None and self._state in _SLA_OPEN:
                steps[CDC_RESOLUTION_MISSED] = self._deadline
            return steps
        if self._deadline is None:
            return steps
        if self._state in _UNANSWERED and self._notified_at is not None:
            steps[ESCALATION_NO_ACK] = self._notified_at + timedelta(
                seconds=timings.escalation_if_no_ack_seconds)
        if self._state in _SLA_OPEN:
            steps[REMINDER] = self._deadline - timedelta(
                seconds=timings.reminder_before_deadline_seconds)
            steps[DEADLINE_PASSED] = self._deadline
        return steps

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
        if name in (CDC_ACK_MISSED, CDC_RESOLUTION_MISSED):
            await self._send(CDC_COMMITMENT_MISSED, [c.email for c in contacts.escalation_of("cdc")],
                             cc=[cdc, region], step=name, extra={"missed": name})
        elif name == REMINDER:
            await self._send(REMINDER, [cdc], cc=[region])
        elif name == ESCALATION_NO_ACK:
            await self._send(ESCALATION_NO_ACK, escalation, cc=[region])
        else:
            await self._send(DEADLINE_PASSED, escalation, cc=[cdc, region])

    def _sla_deadline(self) -> datetime | None:
        # The CDC has no deadline to fix the Region's own system.
        if (self._severity != lifecycle.Severity.CRITICAL_MAJOR
                or self._input.origin == ORIGIN_REGION_SYSTEM):
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
        self._history.append(IncidentFact(workflow.now().isoformat(), event, action.who, action.note))
        self._revision += 1
        return self.view()

    # --- reclassification ---------------------------------------------------------------

    @workflow.update(name=UPDATE_RECLASSIFY)
    def reclassify(self, change: Reclassification) -> IncidentView:
        before = (self._impact, self._urgency, self._priority, self._deadline)
        self._impact, self._urgency = change.impact, change.urgency
        self._priority = self._matrix.priority(change.impact, change.urgency)
        self._severity = self._matrix.severity(self._priority)
        # From the original detection, never from the reclassification.
        self._deadline = self._sla_deadline()
        self._classifications += 1
        # Steps sent for the old deadline are due again when the new one is still ahead.
        now = workflow.now()
        self._sent_steps -= {name for name, due in self._due_steps().items() if due > now}
        self._history.append(IncidentFact(now.isoformat(), "reclassified", change.who, (
            f"impact {before[0] or '—'} → {change.impact}, urgence {before[1] or '—'} → "
            f"{change.urgency}, priorité {before[2] or '—'} → {self._priority}, échéance "
            f"{_iso(before[3]) or 'aucune'} → {_iso(self._deadline) or 'aucune'}"
            + (f" ({change.note})" if change.note else ""))))
        self._revision += 1
        return self.view()

    @reclassify.validator
    def _validate_reclassify(self, change: Reclassification) -> None:
        if not change.who.strip():
            raise ValueError("who acted must be given")
        if self._state == "resolved":
            raise ValueError("l'incident est résolu : sa priorité ne change plus")
        self._matrix.priority(change.impact, change.urgency)  # raises naming the unknown value
        if (change.impact, change.urgency) == (self._impact, self._urgency):
            raise ValueError("impact et urgence inchangés")

    # --- notification by phone ----------------------------------------------------------

    @workflow.update(name=UPDATE_PHONE_CALL)
    async def record_phone_call(self, call: PhoneCall) -> IncidentView:
        self._phone_calls.append(call)
        self._history.append(IncidentFact(workflow.now().isoformat(), "phone_call", call.who,
                                          f"{call.caller} a appelé {call.callee} le "
                                          f"{call.called_at} : {call.summary}"))
        contacts = self._input.contacts
        await self._send(PHONE_CONFIRMATION, [contacts.cdc_support.email],
                         cc=[contacts.region_contact.email], step=f"{PHONE_CONFIRMATION}:"
                         f"{len(self._phone_calls)}", extra={"call": asdict(call)})
        self._history.append(IncidentFact(workflow.now().isoformat(), "phone_confirmed", call.who,
                                          f"confirmation écrite de l'appel du {call.called_at}"))
        # Only now, confirmed in writing, does the call count as the notification.
        self._notified(datetime.fromisoformat(call.called_at))
        self._revision += 1
        return self.view()

    @record_phone_call.validator
    def _validate_phone_call(self, call: PhoneCall) -> None:
        if not all(v.strip() for v in (call.who, call.caller, call.callee, call.summary)):
            raise ValueError("indiquez qui a appelé qui, ce qui a été dit, et qui l'enregistre")
        if self._input.origin == ORIGIN_CDC:
            raise ValueError("anomalie signalée par la CDC : la Région ne lui notifie rien")
        if self._state == "resolved":
            raise ValueError("l'incident est résolu")
        called = datetime.fromisoformat(call.called_at)
        if called.tzinfo is None:
            raise ValueError("l'heure de l'appel doit préciser son fuseau")
        # A few minutes of slack: the caller's clock is not the server's.
        if called < self._detected or called > workflow.now() + _CLOCK_SLACK:
            raise ValueError("l'appel doit dater d'après la détection et pas du futur")

    @workflow.signal(name=SIGNAL_ATTACH_FAILURE)
    def attach_failure(self, failure: AttachedFailure) -> None:
        self._attached += 1
        self._last_failure = failure
        if failure.workflow_id.startswith(DOSSIER_PREFIX):
            self._dossiers.add(failure.workflow_id.removeprefix(DOSSIER_PREFIX))

    @workflow.update(name=UPDATE_ADD_ATTACHMENT)
    def add_attachment(self, file: EmailAttachment) -> IncidentView:
        """A file attached after the opening: kept, and sent with every later email."""
        if any(f.sha256 == file.sha256 for f in self._files):
            return self.view()  # the same file uploaded twice
        self._files.append(file)
        self._history.append(IncidentFact(file.uploaded_at or workflow.now().isoformat(),
                                          "attachment", file.uploaded_by,
                                          f"{file.filename} ({file.content_type}, {file.size} octets)"))
        return self.view()

    @add_attachment.validator
    def _validate_attachment(self, file: EmailAttachment) -> None:
        if self._state == "resolved":
            raise ValueError("l'incident est résolu")
        if file.ticket != self._input.ticket:
            raise ValueError("cette pièce jointe est gardée pour un autre incident")

    # --- views and emails -------------------------------------------------------------

    @workflow.query(name=QUERY_VIEW)
    def view(self) -> IncidentView:
        steps = self._steps()
        return IncidentView(
            ticket=self._input.ticket,
            kind=self._input.kind,
            severity=self._severity,
            state=self._state,
            detected_at=self._input.detected_at,
            notification_due_at=self._notification_due().isoformat(),
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
            impact=self._impact,
            urgency=self._urgency,
            priority=self._priority,
            origin=self._input.origin,
            cdc_report=self._input.cdc_report,
            region_event=self._input.region_event,
            cdc_ack_due_at=_iso(steps.get(CDC_ACK_MISSED)),
            phone_calls=list(self._phone_calls),
            history=list(self._history),
            notification_late_at=_iso(self._late_at),
            alert_channels=list(self._alert_channels),
            alerted=list(self._alerted),
            handlers_without_address=list(self._without_address),
            files=list(self._files),
        )

    def _opening_detail(self) -> str:
        report, event = self._input.cdc_report, self._input.region_event
        if self._input.origin == ORIGIN_REGION_SYSTEM and event is not None:
            return (f"{'intervention programmée' if event.kind == 'planned_intervention' else 'panne'}"
                    f" du système de la Région à partir du {event.starts_at}")
        if self._input.origin == ORIGIN_CDC and report is not None:
            return (f"signalée par la CDC ({report.reported_by}, {report.channel}), "
                    f"référence CDC {report.reference}")
        return f"priorité {self._priority}" if self._priority else f"gravité {self._input.severity}"

    def _context(self) -> dict:
        incident, contacts = self._input, self._input.contacts
        return {
            "ticket": incident.ticket,
            "severity": self._severity,
            "priority": self._priority,
            "impact": self._impact,
            "urgency": self._urgency,
            "origin": incident.origin,
            "cdc_report": asdict(incident.cdc_report) if incident.cdc_report else None,
            "kind": incident.kind,
            "state": self._state,
            "domain": incident.domain,
            "application": incident.application,
            "service": incident.service,
            "description": incident.description,
            "attachments": [*incident.attachments, *(f.sent_name for f in self._files)],
            "detected_at": incident.detected_at,
            "notified_at": _iso(self._notified_at),
            "notification_due_at": self._notification_due().isoformat(),
            "region_event": asdict(incident.region_event) if incident.region_event else None,
            "cdc_support": asdict(contacts.cdc_support),
            "deadline": _iso(self._deadline),
            "partner_name": contacts.partner_name,
            "region_contact": asdict(contacts.region_contact),
        }

    async def _send(self, template: str, to: list[str], cc: list[str], step: str = "",
                    extra: dict | None = None, named: list[str] | None = None) -> None:
        """Send one email and record it; ``named``: how the incident names its recipients
        when their addresses are personal data (staff), instead of the addresses."""
        key = step or template
        if self._classifications and key in (REMINDER, DEADLINE_PASSED, CDC_RESOLUTION_MISSED):
            key = f"{key}:{self._classifications}"  # re-armed for a new deadline
        sent = await send_email(EmailRequest(
            template=template,
            to=to,
            cc=cc,
            context={**self._context(), **(extra or {})},
            idempotency_key=f"{workflow.info().workflow_id}:{key}",
            incident_id=self._input.ticket,
            attachments=list(self._files),
        ))
        if named is not None:
            sent = replace(sent, to=list(named))
        self._emails.append(sent)
        self._history.append(IncidentFact(sent.sent_at, "email", SYSTEM_ACTOR,
                                          f"{template} → {', '.join(sent.to)}"))

    async def _tell_link(self) -> None:
        """Let the link workflow open a new incident of this kind on the next burst."""
        if self._input.link_workflow_id is None:
            return
        await workflow.get_external_workflow_handle(self._input.link_workflow_id).signal(
            SIGNAL_INCIDENT_CLOSED, self._input.kind)


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None
