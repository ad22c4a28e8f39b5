"""How workflows send an email: the notification activity, retried until the
SMTP server accepts it (an email the convention requires is never dropped)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notify import NotifyActivities
    from contracts.notify import EmailRequest, SentEmail

_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    # Template errors are bugs: retrying cannot fix them.
    non_retryable_error_types=["UndefinedError", "TemplateNotFound", "ValueError"],
)


async def send_email(request: EmailRequest) -> SentEmail:
    return await workflow.execute_activity_method(
        NotifyActivities.send_email,
        request,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=_RETRY,
        summary=request.template,
    )
