"""How a workflow runs one AGORA activity, with the same retry and error rules for
dossiers and markets: transport failures retried, AGORA's business faults not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.agora_calls import BUSINESS_FAULT
    from contracts.dossier import RetryConfig
    from contracts.projection import AgoraOutcome


def execute_agora(activity: Callable[[Any, Any], AgoraOutcome], call: Any,
                  retry: RetryConfig) -> Awaitable[AgoraOutcome]:
    """Run ``activity`` (a method of ``AgoraActivities``); pass it to ``AgoraGate.call``."""
    return workflow.execute_activity_method(
        activity,
        call,
        start_to_close_timeout=timedelta(seconds=retry.attempt_timeout_seconds),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=retry.initial_interval_seconds),
            backoff_coefficient=retry.backoff_coefficient,
            maximum_interval=timedelta(seconds=retry.maximum_interval_seconds),
            maximum_attempts=retry.maximum_attempts,
            non_retryable_error_types=[BUSINESS_FAULT],
        ),
        # No summary: the activity's type is already the operation's name, and a summary is
        # one more payload to seal per call.
    )


def fault_of(failure: ActivityError) -> tuple[str, str, str]:
    """AGORA's fault code and message carried by a failed activity, and when it came
    (empty when the failure is not AGORA's refusal)."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type == BUSINESS_FAULT and len(cause.details) >= 3:
        return str(cause.details[0]), str(cause.details[1]), str(cause.details[2])
    return "", str(cause or failure), ""
