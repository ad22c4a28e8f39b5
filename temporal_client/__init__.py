"""The one Temporal client module: what the API, the CLIs and the benchmarks ask of
workflows (start, update, query), and how a workflow's refusal becomes an exception.

``connect`` is the only place a product client is built, so every client shares one
configuration (namespace, data converter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from contracts.agora_reads import WORKFLOW_ID_PREFIX as READ_PREFIX
from contracts.dossier import WORKFLOW_ID_PREFIX
from contracts.payload_converter import ProductPayloadConverter
from crypto.codec import data_converter
from observability import correlation, engine, tracing
from settings import Settings

# Workflows whose payloads are a person's: sealed under that person's data key (a dossier,
# and an AGORA consultation about its holder).
PERSONAL_WORKFLOW_PREFIXES = (WORKFLOW_ID_PREFIX, READ_PREFIX)


def product_data_converter(settings: Settings) -> DataConverter:
    """Every payload sealed (AES-256-GCM), a dossier's under its person's key."""
    return data_converter(settings, PERSONAL_WORKFLOW_PREFIXES, ProductPayloadConverter)


async def connect(settings: Settings, target: str | None = None, namespace: str | None = None,
                  *, sealed: bool = True, metrics_address: str = "") -> Client:
    """A client of the product's Temporal namespace (``target`` and ``namespace`` override
    the settings). ``sealed=False``, or ``AGORA_FLOW_PAYLOAD_ENCRYPTION=off``, only for
    measuring the codec's cost (bench). ``metrics_address``: where this process serves the
    SDK's engine metrics (the worker's and the API's; empty: none). Every start, update and
    signal carries the current request id as a header (``observability.correlation``), and,
    with ``AGORA_FLOW_OTLP_ENDPOINT`` set, OpenTelemetry spans (``observability.tracing``)."""
    sealed = sealed and settings.payload_encryption
    return await Client.connect(
        target or settings.temporal_address, namespace=namespace or settings.temporal_namespace,
        data_converter=(product_data_converter(settings) if sealed
                        else DataConverter(payload_converter_class=ProductPayloadConverter)),
        interceptors=[correlation.ClientInterceptor(),
                      *tracing.interceptors(settings.otlp_endpoint)],
        runtime=engine.runtime(metrics_address) if metrics_address else None)


@dataclass
class EventRefused(Exception):
    """The dossier refused the event. ``kind`` says why: IllegalEvent, InvalidEventData,
    AgoraBusinessFault, or UnknownDossier; ``details`` carries the field, the state or AGORA's code."""

    kind: str
    message: str
    details: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


async def run_update(handle: WorkflowHandle, update: Callable[..., Any], argument: Any,
                     unknown: tuple[str, str]) -> Any:
    """Run a workflow update, named by its method (its return annotation types the result);
    its refusal (an ApplicationError of the validator or handler) becomes EventRefused with
    the error's type and details, an unknown workflow ``unknown``."""
    try:
        return await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise EventRefused(cause.type or "Refused", cause.message, details) from failed
        raise
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise EventRefused(*unknown, {}) from error
        raise


R = TypeVar("R")


async def completed_result(handle: WorkflowHandle[Any, R]) -> R | None:
    """What the workflow returned if it has completed (a settled dossier or market takes no
    more updates); None if it does not exist or has not completed."""
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    if described.status != WorkflowExecutionStatus.COMPLETED:
        return None
    return await handle.result()
