"""May a workflow call AGORA now? (SPEC §4) Two reasons to wait, both durable (timers and
signals, never a busy loop):

- the maintenance window (Sunday 22:00–23:00 Paris by default): the call sleeps until the
  window ends, decided from ``workflow.now()``;
- a cut-off: the worker refuses to start the AGORA activity (``activities.agora_link_guard``:
  non-retryable ``AgoraLinkCutOff``, nothing sent, no retry spent); the gate registers as a
  waiter with the link workflow and waits for its ``link_reopened`` signal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.agora_link import (
        HELD_CALLS_METRIC,
        HELD_SECONDS_METRIC,
        LINK_CUT_OFF,
        GateConfig,
        LinkWait,
        Waiter,
    )
    from state_models.calendar import maintenance_end
    from workflows.agora_link import AgoraLinkWorkflow

T = TypeVar("T")


class AgoraGate:
    """Used by a workflow that calls AGORA: ``await gate.call(operation, start)``.

    The workflow must also expose the signal ``link_reopened`` calling
    :meth:`reopened`, and may show :meth:`waits` in its timeline.
    """

    def __init__(self, config: GateConfig) -> None:
        self._config = config
        self._waits: list[LinkWait] = []
        self._reopened = 0

    async def call(self, operation: str, start: Callable[[], Awaitable[T]],
                   on_hold: Callable[[], Awaitable[None]] | None = None) -> T:
        """Run ``start()`` (which runs the AGORA activity) once the link is open;
        ``on_hold()`` runs first whenever the call has to wait."""
        while True:
            await self._wait_for_maintenance(operation, on_hold)
            try:
                return await start()
            except ActivityError as failure:
                if not is_cut_off(failure):
                    raise
            await self._wait_for_reconnection(operation, on_hold)

    @property
    def holding(self) -> bool:
        """A call is waiting for the maintenance window's end or the reconnection."""
        return bool(self._waits) and self._waits[-1].ended_at is None

    def reopened(self) -> None:
        """The body of the workflow's ``link_reopened`` signal handler."""
        self._reopened += 1

    def waits(self) -> list[LinkWait]:
        return list(self._waits)

    async def _wait_for_maintenance(self, operation: str,
                                    on_hold: Callable[[], Awaitable[None]] | None) -> None:
        ends = maintenance_end(workflow.now(), tuple(self._config.maintenance_windows))
        if ends is None:
            return
        if on_hold is not None:
            await on_hold()
        wait = LinkWait(operation, "maintenance", workflow.now().isoformat(), ends.isoformat())
        self._waits.append(wait)
        held = _held(operation, "maintenance")
        # Chained windows are already folded into ``ends``.
        await workflow.sleep(ends - workflow.now(), summary=f"AGORA maintenance until {ends:%H:%M}")
        wait.ended_at = workflow.now().isoformat()
        _released(operation, "maintenance", held)

    async def _wait_for_reconnection(self, operation: str,
                                     on_hold: Callable[[], Awaitable[None]] | None) -> None:
        if on_hold is not None:
            await on_hold()
        wait = LinkWait(operation, "cut_off", workflow.now().isoformat())
        self._waits.append(wait)
        held = _held(operation, "cut_off")
        seen = self._reopened
        # Registered even if the link reopened meanwhile: the link then answers at once.
        await workflow.get_external_workflow_handle(self._config.link_workflow_id).signal(
            AgoraLinkWorkflow.register_waiter, Waiter(workflow.info().workflow_id, operation))
        await workflow.wait_condition(lambda: self._reopened > seen,
                                      timeout_summary="AGORA link cut off")
        wait.ended_at = workflow.now().isoformat()
        _released(operation, "cut_off", held)


# Held calls are counted through the SDK's workflow meter: skipped on replay, so a call held
# once counts once however often its workflow is replayed; served with the engine's metrics.


def _held(operation: str, reason: str) -> datetime:
    workflow.metric_meter().create_counter(
        HELD_CALLS_METRIC, "AGORA calls held by the maintenance window or a cut-off").add(
        1, {"operation": operation, "reason": reason})
    return workflow.now()


def _released(operation: str, reason: str, since: datetime) -> None:
    workflow.metric_meter().create_histogram_float(
        HELD_SECONDS_METRIC, "How long a held AGORA call waited", "s").record(
        (workflow.now() - since).total_seconds(), {"operation": operation, "reason": reason})


def is_cut_off(failure: ActivityError) -> bool:
    cause = failure.cause
    return isinstance(cause, ApplicationError) and cause.type == LINK_CUT_OFF
