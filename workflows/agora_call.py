"""How a workflow runs one AGORA activity, with the same retry and error rules for
dossiers and markets: transport failures retried, AGORA's business faults not."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.agora_types import BUSINESS_FAULT
    from agora.messages import AgoraAck
    from workflows.dossier_types import OUTCOME_ACKNOWLEDGED, OUTCOME_REPLAY, RetryConfig


def execute_agora(operation: str, call: object, retry: RetryConfig) -> Awaitable[AgoraAck]:
    """The activity named after the AGORA operation; pass it to ``AgoraGate.call``."""
    return workflow.execute_activity(
        operation,
        call,
        result_type=AgoraAck,
        start_to_close_timeout=timedelta(seconds=retry.attempt_timeout_seconds),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=retry.initial_interval_seconds),
            backoff_coefficient=retry.backoff_coefficient,
            maximum_interval=timedelta(seconds=retry.maximum_interval_seconds),
            maximum_attempts=retry.maximum_attempts,
            non_retryable_error_types=[BUSINESS_FAULT],
        ),
        summary=operation,
    )


def outcome_of(ack: AgoraAck) -> str:
    return OUTCOME_REPLAY if ack.replay else OUTCOME_ACKNOWLEDGED


def fault_of(failure: ActivityError) -> tuple[str, str]:
    """AGORA's fault code and message carried by a failed activity."""
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.type == BUSINESS_FAULT and len(cause.details) >= 2:
        return str(cause.details[0]), str(cause.details[1])
    return "", str(cause or failure)
