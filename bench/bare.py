"""The bare engine: workflows that only run no-op activities, the ceilings the product is
compared with on the same server.

- the 8-activity ceiling: as many no-op activities, one after the other, as a lifecycle
  makes AGORA calls (kept for continuity with earlier figures);
- the same-shape ceiling: the Temporal work a lifecycle asks for, without the business: a
  start (input padded to the size of a dossier's), two no-op activities at start (the NIR
  check and the registration), then the creation's update (answered once those have run) and one update per business
  event, each running one no-op activity, all returning a view padded to the size of the
  dossier's view at that point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

UPDATE_STEP = "step"
UPDATE_VIEW = "view"
SIGNAL_FINISH = "finish"


@dataclass
class BareInput:
    activities: int  # run one after the other, as a dossier's AGORA calls are
    # Stay open for ``step`` updates (the single-activity round trip) until ``finish``.
    serve_updates: bool = False
    # Same shape: end once this many ``view`` updates have been answered.
    views: int = 0
    padding: str = ""  # makes the start input as large as a dossier's


@dataclass
class BareView:
    """Stands for a dossier's view: only its size matters."""

    padding: str


@activity.defn(name="bench-noop")
async def noop() -> None:
    """Nothing: what is left is the engine's own cost of an activity."""


@workflow.defn(name="BenchBare")
class BareWorkflow:
    def __init__(self) -> None:
        self._finished = False
        self._started = False
        self._views = 0

    @workflow.run
    async def run(self, bare: BareInput) -> int:
        for _ in range(bare.activities):
            await self._noop()
        self._started = True
        if bare.serve_updates:
            await workflow.wait_condition(
                lambda: self._finished and workflow.all_handlers_finished())
        if bare.views:
            await workflow.wait_condition(
                lambda: self._views >= bare.views and workflow.all_handlers_finished())
        return bare.activities

    @workflow.update(name=UPDATE_STEP)
    async def step(self) -> None:
        await self._noop()

    @workflow.update(name="started")
    async def started(self, padding_chars: int) -> BareView:
        """As a dossier's creation: answers once the activities at start have run."""
        await workflow.wait_condition(lambda: self._started)
        self._views += 1
        return BareView("x" * padding_chars)

    @workflow.update(name=UPDATE_VIEW)
    async def view(self, padding_chars: int) -> BareView:
        # As a dossier's events wait for its registration at start.
        await workflow.wait_condition(lambda: self._started)
        await self._noop()
        self._views += 1
        return BareView("x" * padding_chars)

    @workflow.signal(name=SIGNAL_FINISH)
    def finish(self) -> None:
        self._finished = True

    async def _noop(self) -> None:
        await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
