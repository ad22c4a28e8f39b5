"""Temporal round trips per lifecycle, counted rather than assumed.

Activities and updates are read from the workflows' own histories (ActivityTaskScheduled
and WorkflowExecutionUpdateAccepted events), so a change in the product shows up here
without touching the benchmark; starts, queries and signals sent by the driver are counted
by a client interceptor.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
)

_COUNTED_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
}


class CallCounter(Interceptor):
    """Counts the client calls that cost a round trip to the server, by kind."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.calls)

    def client(self, client: Client) -> Client:
        """``client`` with this counter on its calls (same connection, same converter)."""
        config = client.config()
        config["interceptors"] = [*config["interceptors"], self]
        return Client(**config)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, calls: Counter[str]) -> None:
        super().__init__(next)
        self._calls = calls

    async def start_workflow(self, input: StartWorkflowInput) -> Any:
        self._calls["starts"] += 1
        return await super().start_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> Any:
        self._calls["updates sent"] += 1
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(self, input: StartWorkflowUpdateWithStartInput
                                               ) -> Any:
        self._calls["starts"] += 1
        self._calls["updates sent"] += 1
        return await super().start_update_with_start_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._calls["queries"] += 1
        return await super().query_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._calls["signals"] += 1
        await super().signal_workflow(input)


@dataclass
class RoundTrips:
    """Per workflow, on average: what the histories show and what the driver sent."""

    activities: float
    updates: float
    queries: float
    starts: float
    signals: float

    @property
    def total(self) -> float:
        return self.activities + self.updates + self.queries + self.starts + self.signals

    def line(self) -> str:
        return (f"{self.total:5.1f} (activities {self.activities:.1f} + updates "
                f"{self.updates:.1f} + queries {self.queries:.1f} + starts {self.starts:.1f}"
                + (f" + signals {self.signals:.1f}" if self.signals else "") + ")")


async def from_histories(client: Client, workflow_ids: Iterable[str], calls: Counter[str],
                         workflows: int) -> RoundTrips:
    """Activities and updates averaged over the histories of ``workflow_ids``; starts,
    queries and signals from ``calls``, counted while ``workflows`` workflows ran."""
    ids = list(workflow_ids)
    counts = await asyncio.gather(*(_history_counts(client, i) for i in ids))
    total = sum(counts, Counter())
    return RoundTrips(
        activities=total["activities"] / len(ids),
        updates=total["updates"] / len(ids),
        queries=calls["queries"] / workflows,
        starts=calls["starts"] / workflows,
        signals=calls["signals"] / workflows,
    )


async def _history_counts(client: Client, workflow_id: str) -> Counter[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return Counter(_COUNTED_EVENTS[e.event_type] for e in history.events
                   if e.event_type in _COUNTED_EVENTS)
