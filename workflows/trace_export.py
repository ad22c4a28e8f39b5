"""A trace request, answered within 15 calendar days (SPEC §5, Convention art. 17).

The export is produced at once (an activity, retried until it succeeds); the clock runs until
an authorised person delivers it (downloads it for the requester): at day 10 the security
officer gets a reminder, at day 14 the escalation contacts an escalation email, and at day 15
the export is recorded as late. Every step is in the workflow's history.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.trace_export import TraceExportActivities
    from contracts.notify import EmailRequest
    from contracts.trace_export import (
        DELIVERED,
        FAILED,
        PRODUCING,
        READY,
        TraceExportRequest,
        TraceExportView,
    )
    from workflows.notify_call import send_email


@workflow.defn
class TraceExportWorkflow:
    def __init__(self) -> None:
        self._view: TraceExportView | None = None
        self._production: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, request: TraceExportRequest) -> TraceExportView:
        start = workflow.now()
        day = timedelta(seconds=request.day_seconds)
        deadline = start + day * request.deadline_days
        self._view = TraceExportView(request=request, state=PRODUCING,
                                     deadline=deadline.isoformat())
        self._production = asyncio.create_task(self._produce(request))
        steps = ((request.reminder_day, "trace_export_reminder",
                  [request.security_officer_email]),
                 (request.escalation_day, "trace_export_escalation",
                  [*request.escalation_emails, request.security_officer_email]))
        for day_number, template, recipients in steps:
            if await self._delivered_by(start + day * day_number):
                break
            to = [address for address in recipients if address]
            if to:
                await send_email(EmailRequest(
                    template=template, to=to,
                    idempotency_key=f"{workflow.info().workflow_id}:{template}",
                    context={"reference": request.reference, "requester": request.requester,
                             "requested_at": request.requested_at,
                             "deadline": deadline.isoformat(),
                             "escalation_at": (start + day * request.escalation_day).isoformat(),
                             "state": self._view.state, "page_url": request.page_url,
                             "partner_name": request.partner_name}))
                self._view.emails.append(template)
        if not await self._delivered_by(deadline):
            workflow.logger.warning("trace export %s late", request.export_id)
            self._view.error = "délai de 15 jours dépassé"
        await workflow.wait_condition(lambda: self._view.state in (DELIVERED, FAILED))
        return self._view

    async def _produce(self, request: TraceExportRequest) -> None:
        assert self._view is not None
        try:
            self._view.files = await workflow.execute_activity_method(
                TraceExportActivities.produce, request,
                start_to_close_timeout=timedelta(hours=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=30)),
                summary=request.reference)
            self._view.state = READY
        except ActivityError as failure:
            self._view.state, self._view.error = FAILED, str(failure.cause or failure)

    async def _delivered_by(self, instant: datetime) -> bool:
        remaining = (instant - workflow.now()).total_seconds()
        if remaining > 0:
            try:
                await workflow.wait_condition(lambda: self._view.state == DELIVERED,
                                              timeout=remaining,
                                              timeout_summary="échéance de l'export de traces")
            except TimeoutError:
                pass
        return self._view.state == DELIVERED

    @workflow.update
    def deliver(self, who: str) -> TraceExportView:
        assert self._view is not None
        self._view.state = DELIVERED
        self._view.delivered_by = who
        self._view.delivered_at = workflow.now().isoformat()
        return self._view

    @deliver.validator
    def _may_deliver(self, who: str) -> None:
        if self._view is None or self._view.state not in (READY, DELIVERED):
            raise ApplicationError("l'export n'est pas encore produit", type="NotReady")

    @workflow.query
    def view(self) -> TraceExportView:
        assert self._view is not None
        return self._view
