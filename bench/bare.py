"""The bare engine: a workflow that only runs no-op activities, the ceiling the product
is compared with on the same server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

UPDATE_STEP = "step"
SIGNAL_FINISH = "finish"


@dataclass
class BareInput:
    activities: int  # run one after the other, as a dossier's AGORA calls are
    # Stay open for ``step`` updates (the single-activity round trip) until ``finish``.
    serve_updates: bool = False


@activity.defn(name="bench-noop")
async def noop() -> None:
    """Nothing: what is left is the engine's own cost of an activity."""


@workflow.defn(name="BenchBare")
class BareWorkflow:
    def __init__(self) -> None:
        self._finished = False

    @workflow.run
    async def run(self, bare: BareInput) -> int:
        for _ in range(bare.activities):
            await self._noop()
        if bare.serve_updates:
            await workflow.wait_condition(
                lambda: self._finished and workflow.all_handlers_finished())
        return bare.activities

    @workflow.update(name=UPDATE_STEP)
    async def step(self) -> None:
        await self._noop()

    @workflow.signal(name=SIGNAL_FINISH)
    def finish(self) -> None:
        self._finished = True

    async def _noop(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
