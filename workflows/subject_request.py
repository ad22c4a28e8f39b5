"""A data-subject request (SPEC §8, GDPR art. 12 and 15–18), answered within one calendar
month of receipt.

The clock: two weeks and three days before the deadline the DPO's team gets a reminder;
once it passes, the escalation contacts get an email and the request is marked late. An
extension (at most two more months, with the reason given to the person) moves the
deadline and the reminders with it. The DPO's team carries the request out with one action:
- access: the answer (a French document and JSON) was produced and handed over by the API;
  the workflow records who delivered it and when;
- rectification: the person's rows corrected, then each open dossier corrected through its
  own workflow (ReingenierieDossier at AGORA); the outcome of each is listed;
- restriction: each open dossier refuses events until the restriction is lifted;
- erasure: crypto-erasure, or a refusal with its legal ground (public funding records).
Every step — who, when, what — is in the view and in the workflow's history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.subject_requests import SubjectRequestActivities
    from contracts.dossier import workflow_id_for as dossier_workflow_id
    from contracts.notify import EmailRequest
    from contracts.subject_request import (
        INVALID,
        NOT_NOW,
        SIGNAL_LIFT_RESTRICTION,
        SIGNAL_RESTRICT,
        DossierOutcome,
        DpoAction,
        ErasureReport,
        Extension,
        PersonsInput,
        RectifyDossier,
        RequestStep,
        RestrictionInput,
        SubjectDossier,
        SubjectRequest,
        SubjectRequestView,
    )
    from state_models import subject_requests as rules
    from workflows.notify_call import send_email

_STORE_TIMEOUT = timedelta(minutes=5)
_STORE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# Restrictions recorded in the store too (new dossiers of the person refused): requests
# started before replay without it.
RESTRICTION_RECORDED = "restriction-recorded-in-store"
KIND_LABELS = {rules.ACCESS: "droit d'accès", rules.RECTIFICATION: "rectification",
               rules.RESTRICTION: "limitation", rules.ERASURE: "effacement"}


@workflow.defn
class SubjectRequestWorkflow:
    def __init__(self) -> None:
        self._view: SubjectRequestView | None = None
        # Notices sent, per deadline (an extension starts the reminders again).
        self._sent: dict[str, set[str]] = {}
        self._busy = False

    @workflow.run
    async def run(self, request: SubjectRequest) -> SubjectRequestView:
        self._request = request
        self._received = datetime.fromisoformat(request.received_at)
        self._recorded = datetime.fromisoformat(request.recorded_at)
        self._start = workflow.now()
        self._view = SubjectRequestView(
            request=request, state=rules.RECEIVED,
            deadline=rules.legal_deadline(self._received).isoformat(),
            steps=[RequestStep(request.recorded_at, request.recorded_by,
                               f"demande de {KIND_LABELS[request.kind]} enregistrée "
                               f"(reçue le {request.received_at} ; identité vérifiée : "
                               f"{request.identity_check})")])
        await self._clock()
        await workflow.wait_condition(lambda: self._finished() and workflow.all_handlers_finished())
        return self._view

    # --- the legal clock ---------------------------------------------------------------

    def _scale(self) -> float:
        return self._request.day_seconds / 86400.0

    def _legal_now(self) -> datetime:
        """Time on the legal calendar: workflow time, shrunk only by tests' ``day_seconds``."""
        return self._recorded + (workflow.now() - self._start) / self._scale()

    def _deadline(self) -> datetime:
        assert self._view is not None
        return rules.legal_deadline(self._received, self._view.extension_months)

    def _answered(self) -> bool:
        assert self._view is not None
        return self._view.state not in (rules.RECEIVED, rules.IN_PROGRESS)

    def _finished(self) -> bool:
        assert self._view is not None
        if self._request.kind == rules.RESTRICTION:
            return self._view.state in (rules.LIFTED, rules.REFUSED)
        return self._answered()

    async def _clock(self) -> None:
        while not self._answered():
            deadline = self._deadline()
            if deadline.isoformat() not in self._sent:
                self._sent[deadline.isoformat()] = rules.overdue_when_known(
                    deadline, self._legal_now())
            sent = self._sent[deadline.isoformat()]
            notice, due = rules.next_notice(deadline, self._legal_now(), sent)
            if notice is None:
                return  # escalated: the request stays open until answered
            if due:
                sent.add(notice.name)
                await self._notify(notice, deadline)
                continue
            extended = self._view.extension_months  # type: ignore[union-attr]
            wait = (notice.at - self._legal_now()).total_seconds() * self._scale()
            try:
                await workflow.wait_condition(
                    lambda extended=extended: self._answered()  # type: ignore[misc]
                    or self._view.extension_months != extended,  # type: ignore[union-attr]
                    timeout=max(wait, 0.001), timeout_summary="échéance de la demande RGPD")
            except TimeoutError:
                pass

    async def _notify(self, notice: rules.Notice, deadline: datetime) -> None:
        assert self._view is not None
        request = self._request
        escalation = notice.name == rules.ESCALATION
        if escalation:
            self._view.late = True
            self._step("système", "délai légal dépassé : escalade")
        template = "subject_request_escalation" if escalation else "subject_request_reminder"
        to = [a for a in ([*request.escalation_emails, request.dpo_email] if escalation
                          else [request.dpo_email]) if a]
        if not to:
            return
        await send_email(EmailRequest(
            template=template, to=to,
            idempotency_key=f"{workflow.info().workflow_id}:{notice.name}:{deadline.isoformat()}",
            context={"request_id": request.request_id, "kind": KIND_LABELS[request.kind],
                     "received_at": request.received_at, "deadline": deadline.isoformat(),
                     "days_left": max((deadline - self._legal_now()).days, 0),
                     "extension_months": self._view.extension_months,
                     "page_url": request.page_url, "partner_name": request.partner_name}))
        self._view.emails.append(notice.name)

    # --- the DPO's actions -------------------------------------------------------------

    @workflow.update
    def extend(self, extension: Extension) -> SubjectRequestView:
        assert self._view is not None
        self._view.extension_months += extension.months
        self._view.extension_reason = extension.reason
        self._view.deadline = self._deadline().isoformat()
        self._step(extension.who, f"délai prolongé de {extension.months} mois : {extension.reason}")
        return self._view

    @extend.validator
    def _may_extend(self, extension: Extension) -> None:
        assert self._view is not None
        try:
            rules.check_extension(self._view.extension_months, extension.months,
                                  extension.reason, self._view.state,
                                  self._legal_now() >= self._deadline())
        except rules.RequestRefused as refused:
            raise ApplicationError(refused.reason, {"field": refused.field, "reason": refused.reason},
                                   type=INVALID, non_retryable=True) from refused

    @workflow.update
    async def carry_out(self, action: DpoAction) -> SubjectRequestView:
        assert self._view is not None
        self._busy = True
        try:
            kind = self._request.kind
            if kind == rules.ACCESS:
                self._answer(action.who, "réponse d'accès remise à la personne (document et JSON)"
                             + (f" : {action.note}" if action.note else ""))
            elif kind == rules.RECTIFICATION:
                await self._rectify(action)
            elif kind == rules.RESTRICTION:
                await self._restrict(action)
            else:
                await self._erase(action)
        finally:
            self._busy = False
        return self._view

    @carry_out.validator
    def _may_carry_out(self, action: DpoAction) -> None:
        assert self._view is not None
        if self._busy or self._view.state != rules.RECEIVED:
            raise ApplicationError("la demande a déjà été traitée ou est en cours de traitement",
                                   {"state": self._view.state}, type=NOT_NOW, non_retryable=True)

    @workflow.update
    async def lift(self, action: DpoAction) -> SubjectRequestView:
        """End a restriction: the person's dossiers accept events again."""
        assert self._view is not None
        if workflow.patched(RESTRICTION_RECORDED):
            await workflow.execute_activity_method(
                SubjectRequestActivities.lift_restriction,
                RestrictionInput(self._request.request_id),
                start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY,
                summary="limitation levée")
        for outcome in self._view.dossiers:
            if outcome.outcome == "restricted":
                await self._signal(outcome.dossier_id, SIGNAL_LIFT_RESTRICTION)
        self._view.state = rules.LIFTED
        self._step(action.who, "limitation levée" + (f" : {action.note}" if action.note else ""))
        return self._view

    @lift.validator
    def _may_lift(self, action: DpoAction) -> None:
        assert self._view is not None
        if self._request.kind != rules.RESTRICTION or self._view.state != rules.ANSWERED:
            raise ApplicationError("aucune limitation en vigueur sur cette demande",
                                   {"state": self._view.state}, type=NOT_NOW, non_retryable=True)

    @workflow.query
    def view(self) -> SubjectRequestView:
        assert self._view is not None
        return self._view

    # --- carrying out ------------------------------------------------------------------

    async def _dossiers(self) -> list[SubjectDossier]:
        return await workflow.execute_activity_method(
            SubjectRequestActivities.dossiers_of, PersonsInput(self._request.person_ids),
            start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY,
            summary="dossiers de la personne")

    async def _rectify(self, action: DpoAction) -> None:
        assert self._view is not None
        request = self._request
        self._view.state = rules.IN_PROGRESS
        self._step(action.who, "rectification lancée : "
                   + ", ".join(sorted(request.correction_fields)))
        await workflow.execute_activity_method(
            SubjectRequestActivities.correct_persons,
            PersonsInput(request.person_ids, request.corrections_sealed),
            start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY,
            summary="rectification des données de la Région")
        for dossier in await self._dossiers():
            if dossier.state in rules.CLOSED_DOSSIER_STATES:
                outcome = DossierOutcome(dossier.dossier_id, "store_only",
                                         "dossier clos : corrigé dans les données de la Région")
            else:
                outcome = await workflow.execute_activity_method(
                    SubjectRequestActivities.rectify_dossier,
                    RectifyDossier(dossier.dossier_id, request.corrections_sealed,
                                   f"rectification RGPD {request.request_id}", action.who,
                                   f"rgpd-{request.request_id}-{dossier.dossier_id}"),
                    # The dossier's workflow may hold the call while AGORA is cut off.
                    start_to_close_timeout=timedelta(hours=1),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
                    summary=dossier.dossier_id)
            self._view.dossiers.append(outcome)
        refused = [o for o in self._view.dossiers if o.outcome == "refused"]
        self._answer(action.who, "rectification appliquée" if not refused else
                     "rectification appliquée ; refusée par AGORA pour : "
                     + "; ".join(f"{o.dossier_id} ({o.message})" for o in refused))

    async def _restrict(self, action: DpoAction) -> None:
        assert self._view is not None
        reason = f"demande RGPD {self._request.request_id}"
        if workflow.patched(RESTRICTION_RECORDED):
            # Recorded first: a dossier created while the signals go out is refused too.
            await workflow.execute_activity_method(
                SubjectRequestActivities.restrict_persons,
                RestrictionInput(self._request.request_id, self._request.person_ids),
                start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY,
                summary="limitation enregistrée")
        for dossier in await self._dossiers():
            restricted = (dossier.state not in rules.CLOSED_DOSSIER_STATES
                          and await self._signal(dossier.dossier_id, SIGNAL_RESTRICT, reason))
            self._view.dossiers.append(DossierOutcome(
                dossier.dossier_id, "restricted" if restricted else "not_running"))
        self._answer(action.who, "limitation en vigueur : les dossiers refusent tout événement")

    async def _signal(self, dossier_id: str, signal: str, *args: str) -> bool:
        try:
            await workflow.get_external_workflow_handle(dossier_workflow_id(dossier_id)).signal(
                signal, *args)
        except ApplicationError as gone:
            # The dossier's workflow has ended: no event can reach it anyway.
            workflow.logger.info("dossier %s not running: %s", dossier_id, gone)
            return False
        return True

    async def _erase(self, action: DpoAction) -> None:
        assert self._view is not None
        dossiers = await self._dossiers()
        ground = rules.erasure_refusal([rules.DossierStatus(d.dossier_id, d.state)
                                        for d in dossiers])
        if ground:
            self._view.state = rules.REFUSED
            self._view.refusal_ground = ground
            self._view.answered_at = workflow.now().isoformat()
            self._step(action.who, f"effacement refusé : {ground}")
            return
        report: ErasureReport = await workflow.execute_activity_method(
            SubjectRequestActivities.erase_persons, PersonsInput(self._request.person_ids),
            start_to_close_timeout=_STORE_TIMEOUT, retry_policy=_STORE_RETRY,
            summary="effacement par destruction des clés")
        self._view.dossiers = [DossierOutcome(d, "erased") for d in report.dossier_ids]
        self._answer(action.who, f"données effacées (destruction de {report.keys_destroyed} clé(s) "
                     f"de personne ; {len(report.dossier_ids)} dossier(s))" if report.persons
                     else "aucune donnée détenue sur la personne : rien à effacer")

    def _answer(self, who: str, what: str) -> None:
        assert self._view is not None
        self._view.state = rules.ANSWERED
        self._view.answered_at = workflow.now().isoformat()
        self._step(who, what)

    def _step(self, who: str, what: str) -> None:
        assert self._view is not None
        self._view.steps.append(RequestStep(workflow.now().isoformat(), who, what))
