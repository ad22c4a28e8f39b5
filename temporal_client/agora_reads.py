"""AGORA consultations as Temporal calls: start ``AgoraReadWorkflow`` and wait for its answer.

A consultation carrying a NIR is sealed under that person's key, as their dossier is. The
caller waits at most ``wait_seconds``: past that (the link is cut off, AGORA is in its
maintenance window or keeps failing) a read is cancelled — nobody is left waiting for it —
while a DIF record is left to complete (it is a write the user asked for), and
:class:`AgoraReadPending` says why it waits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from contracts.agora_link import LinkWait
from contracts.agora_reads import RECORD_DIF, AgoraReadAnswer, AgoraReadInput, workflow_id_for
from temporal_client import EventRefused
from temporal_client.sealing import bind_to_person
from workflows.agora_read import AgoraReadWorkflow

# A read nobody waits for any more ends by then at the latest (the maintenance window is
# one hour; the caller normally cancels it long before).
READ_EXECUTION_TIMEOUT = timedelta(hours=2)


@dataclass
class AgoraReadPending(Exception):
    """AGORA did not answer within the wait; ``waits`` says whether the link held the call."""

    operation: str
    waits: list[LinkWait] = field(default_factory=list)
    cancelled: bool = True  # False: a write, still going on


async def ask_agora(client: Client, read: AgoraReadInput, identity: str, task_queue: str,
                    wait_seconds: float, nir: str | None = None) -> AgoraReadAnswer:
    """Run one consultation; ``identity`` (a UUID, from the request's idempotency key or
    fresh) names the workflow. EventRefused(AgoraBusinessFault) when AGORA refuses."""
    workflow_id = workflow_id_for(identity)
    if nir:
        bind_to_person(client, workflow_id, nir)
    is_write = read.call.request.operation == RECORD_DIF
    handle = await client.start_workflow(
        AgoraReadWorkflow.run, read, id=workflow_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        execution_timeout=None if is_write else READ_EXECUTION_TIMEOUT)
    try:
        return await asyncio.wait_for(handle.result(), wait_seconds)
    except WorkflowFailureError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise EventRefused(cause.type or "Refused", cause.message, details) from failed
        raise
    except TimeoutError:
        try:
            waits = await handle.query(AgoraReadWorkflow.waits)
        except (RPCError, WorkflowQueryFailedError):
            waits = []
        if not is_write:
            await handle.cancel()
        raise AgoraReadPending(read.call.request.operation, waits, cancelled=not is_write) from None
