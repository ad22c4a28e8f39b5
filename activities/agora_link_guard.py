"""Worker-side half of the AGORA link (see ``workflows/agora_link.py``).

``AgoraLinkGuard`` is a worker interceptor around every AGORA activity:
- while the link is cut off it refuses to start the call (non-retryable
  ``AgoraLinkCutOff``: nothing reaches AGORA, no retry is spent); the dossier's
  ``AgoraGate`` then waits for the reconnection;
- each transport failure (``AgoraUnavailable``) is reported to the link
  workflow as it happens, every attempt counting, so a burst across dossiers
  opens an incident even while Temporal keeps retrying each call.

Also here: starting the singleton link workflow at worker start-up, with its
configuration (contacts file, public holidays) computed outside the workflow.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from activities.agora_types import UNAVAILABLE
from agora import operations
from notifications.contacts import load_contacts
from settings import Settings
from state_models.calendar import parse_maintenance_window
from state_models.incident_detection import BurstRule
from state_models.public_holidays import default_calendar
from workflows.agora_link import AgoraLinkWorkflow
from workflows.agora_link_types import (
    CUT_OFF,
    GUARD_CACHE_SECONDS,
    LINK_CUT_OFF,
    LINK_WORKFLOW_ID,
    QUERY_LINK_STATE,
    SIGNAL_TRANSPORT_FAILURE,
    FailureReport,
    LinkConfig,
    LinkInput,
    LinkState,
)

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


def link_config_from_environment(settings: Settings | None = None) -> LinkConfig:
    """The link's configuration: contacts file, maintenance windows, holidays of this year
    and the next two (deadlines never span more), burst threshold, from ``settings``."""
    settings = settings or Settings()
    year = datetime.now(UTC).year
    return LinkConfig(
        contacts=load_contacts(),
        calendar=default_calendar(range(year, year + 3)),
        maintenance_windows=[parse_maintenance_window(w) for w in settings.maintenance_windows],
        burst=BurstRule(
            failures=settings.incident_burst_failures,
            window_seconds=settings.incident_burst_window_seconds,
        ),
        ticket_prefix=settings.incident_ticket_prefix,
    )


async def ensure_link_workflow(client: Client, task_queue: str, config: LinkConfig,
                               link_workflow_id: str = LINK_WORKFLOW_ID) -> None:
    """Start the singleton link workflow unless it already runs (idempotent)."""
    await client.start_workflow(
        AgoraLinkWorkflow.run,
        LinkInput(config),
        id=link_workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
