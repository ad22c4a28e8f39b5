"""Per-dossier (and per-market) SLA clocks (SPEC §4), run inside the case's own workflow.

When AGORA refuses one of the dossier's calls (a business fault a person must
correct), or a call has been waiting too long, the dossier's manager gets a
reminder and then the head of service an escalation, each after a number of
working hours. The clock stops as soon as the dossier moves on. A market's
settlement call has the same clocks, addressed to its market manager.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.dossier import EscalationConfig
    from contracts.notify import EmailRequest, SentEmail
    from state_models.calendar import add_working_hours
    from workflows.notify_call import send_email

# Why a clock was started; the emails say "refused" or "waiting".
REFUSED = "refused"
WAITING = "waiting"
# What the emails are about.
DOSSIER = "dossier"
MARKET = "market"


class EscalationClock:
    def __init__(self, dossier_id: str, config: EscalationConfig, kind: str = DOSSIER) -> None:
        self._dossier_id = dossier_id
        self._kind = kind
        self._config = config
        self._clock: asyncio.Task[None] | None = None
        self._started = 0
        self.emails: list[SentEmail] = []

    def start(self, reason: str, operation: str, fault_code: str = "", fault_message: str = "") -> None:
        """(Re)start the clock for this problem; a previous clock is stopped."""
        self.stop()
        if not (self._config.manager_email or self._config.head_of_service_email):
            return  # nobody to tell: configuration says so
        self._started += 1
        self._clock = asyncio.create_task(
            self._run(self._started, reason, operation, fault_code, fault_message))

    def stop(self) -> None:
        if self._clock is not None and not self._clock.done():
            self._clock.cancel()
        self._clock = None

    def _after(self, since: datetime, working_hours: float, seconds: float | None) -> datetime:
        if seconds is not None:
            return since + timedelta(seconds=seconds)
        return add_working_hours(since, working_hours, self._config.calendar)

    async def _run(self, clock: int, reason: str, operation: str, fault_code: str,
                   fault_message: str) -> None:
        config, since = self._config, workflow.now()
        reminder_at = self._after(since, config.reminder_after_working_hours,
                                  config.reminder_after_seconds)
        escalation_at = self._after(since, config.escalation_after_working_hours,
                                    config.escalation_after_seconds)
        context = {
            "partner_name": config.partner_name,
            "dossier_id": self._dossier_id,
            "kind": self._kind,
            "reason": reason,
            "operation": operation,
            "fault_code": fault_code or "(aucun code : AGORA ne répond pas)",
            "fault_message": fault_message,
            "since": since.isoformat(),
            "escalation_at": escalation_at.isoformat(),
            "page_url": config.page_url,
            "manager": config.manager_email,
        }
        await workflow.sleep(reminder_at - workflow.now(), summary="dossier reminder")
        if config.manager_email:
            await self._send(clock, "dossier_reminder", [config.manager_email], context)
        await workflow.sleep(max(escalation_at - workflow.now(), timedelta(0)),
                             summary="dossier escalation")
        if config.head_of_service_email:
            await self._send(clock, "dossier_escalation", [config.head_of_service_email], context,
                             cc=[config.manager_email] if config.manager_email else [])

    async def _send(self, clock: int, template: str, to: list[str], context: dict,
                    cc: list[str] | None = None) -> None:
        sent = await send_email(EmailRequest(
            template=template,
            to=to,
            cc=cc or [],
            context=context,
            # One email per clock and template, whatever the retries and replays.
            idempotency_key=f"{workflow.info().workflow_id}:clock-{clock}:{template}",
        ))
        self.emails.append(sent)
