"""Worker-side half of the AGORA link (see ``workflows/agora_link.py``).

``AgoraLinkGuard`` is a worker interceptor around every AGORA activity:
- while the link is cut off it refuses to start the call (non-retryable
  ``AgoraLinkCutOff``: nothing reaches AGORA, no retry is spent); the dossier's
  ``AgoraGate`` then waits for the reconnection;
- each transport failure (``AgoraUnavailable``) is reported to the link
  workflow as it happens, every attempt counting, so a burst across dossiers
  opens an incident even while Temporal keeps retrying each call.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from agora import operations
from contracts.agora_calls import UNAVAILABLE
from contracts.agora_link import (
    CUT_OFF,
    GUARD_CACHE_SECONDS,
    LINK_CUT_OFF,
    LINK_WORKFLOW_ID,
    QUERY_LINK_STATE,
    SIGNAL_TRANSPORT_FAILURE,
    FailureReport,
    LinkState,
)
from observability import metrics

log = logging.getLogger(__name__)


class AgoraLinkGuard(Interceptor):
    def __init__(
        self,
        client: Client,
        link_workflow_id: str = LINK_WORKFLOW_ID,
        # How long a worker trusts the link state it last read: a cut-off
        # reaches calls starting at most this long after it.
        state_cache_seconds: float = GUARD_CACHE_SECONDS,
        agora_activities: frozenset[str] = frozenset(operations.BY_SOAP_NAME),
    ) -> None:
        self._link = client.get_workflow_handle(link_workflow_id)
        self._cache_seconds = state_cache_seconds
        self._agora_activities = agora_activities
        self._status: tuple[float, bool] | None = None  # (read at, cut off?)

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _GuardedActivity(next, self)

    async def is_cut_off(self) -> bool:
        now = time.monotonic()
        if self._status is None or now - self._status[0] >= self._cache_seconds:
            try:
                state = await self._link.query(QUERY_LINK_STATE, result_type=LinkState,
                                               rpc_timeout=timedelta(seconds=5))
                cut = state.status == CUT_OFF
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise  # retryable: Temporal itself is unreachable
                cut = False  # no link workflow: nobody ever cut the link
            self._status = (now, cut)
        return self._status[1]

    async def report(self, failure: FailureReport) -> None:
        try:
            await self._link.signal(SIGNAL_TRANSPORT_FAILURE, failure)
        except RPCError as error:
            # Reporting must never change the call's own outcome.
            log.warning("could not report an AGORA transport failure: %s", error)

    def handles(self, activity_type: str) -> bool:
        return activity_type in self._agora_activities


class _GuardedActivity(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, guard: AgoraLinkGuard) -> None:
        super().__init__(next)
        self._guard = guard

    async def execute_activity(self, input: ExecuteActivityInput) -> object:
        info = activity.info()
        if not self._guard.handles(info.activity_type):
            return await super().execute_activity(input)
        if await self._guard.is_cut_off():
            metrics.AGORA_HELD.labels(info.activity_type).inc()
            raise ApplicationError("la liaison AGORA est coupée : appel non émis",
                                   type=LINK_CUT_OFF, non_retryable=True)
        try:
            return await super().execute_activity(input)
        except ApplicationError as error:
            if error.type == UNAVAILABLE:
                await self._guard.report(FailureReport(
                    at=datetime.now(UTC).isoformat(),
                    operation=info.activity_type,
                    message=str(error),
                    workflow_id=info.workflow_id or "",
                ))
            raise
