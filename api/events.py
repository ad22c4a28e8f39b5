"""The one way the API and the pages send a business event (or a creation) to a dossier's
or a market's workflow: one Temporal round trip, whose answer (the new view) is returned;
its refusals become HTTP errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.errors import InvalidFields, Refused, http_refusal
from observability import metrics
from temporal_client import EventRefused

T = TypeVar("T")

# An AGORA answer normally takes well under a second; past this the event stays
# pending in the workflow and is applied when AGORA answers.
EVENT_WAIT_SECONDS = 30.0


async def send(call: Awaitable[T], object_kind: str, kind: str) -> T:
    """422 bad data, 409 not now, 404 unknown, 502 AGORA refused, 503 Temporal unreachable,
    504 AGORA still pending. Counted by ``object_kind`` ("dossier" or "market"), ``kind``
    (the event, or "creation") and outcome (accepted, or the refusal's code)."""
    try:
        answer = await _answer(call)
    except Refused as refused:
        metrics.event(object_kind, kind, refused.code)
        raise
    except InvalidFields:
        metrics.event(object_kind, kind, "InvalidEventData")
        raise
    metrics.event(object_kind, kind, "accepted")
    return answer


async def _answer(call: Awaitable[T]) -> T:
    try:
        return await asyncio.wait_for(call, EVENT_WAIT_SECONDS)
    except EventRefused as refused:
        raise http_refusal(refused) from refused
    # The SDK turns the cancelled wait for an update into its own error, not TimeoutError.
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as timeout:
        raise Refused(504, "AgoraPending", "AGORA n'a pas encore répondu ; l'événement reste en "
                      "attente et sera appliqué dès sa réponse.") from timeout
    except RPCError as error:
        raise Refused(503, "TemporalUnavailable",
                      "Service de workflow indisponible, réessayez plus tard.") from error
