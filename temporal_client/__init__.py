"""The one Temporal client module: what the API, the CLIs and the benchmarks ask of
workflows (start, update, query), and how a workflow's refusal becomes an exception.

``connect`` is the only place a product client is built, so every client shares one
configuration (namespace, data converter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from settings import Settings


async def connect(settings: Settings, target: str | None = None) -> Client:
    """A client of the product's Temporal namespace (``target`` overrides the address)."""
    return await Client.connect(target or settings.temporal_address,
                                namespace=settings.temporal_namespace)


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
