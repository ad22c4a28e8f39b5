"""``agora-flow chaos``: lifecycles run while something breaks; then the audit.

Scenarios (each a coroutine run beside the lifecycles, acting at random moments):
- ``worker-crash``: the worker is killed with SIGKILL twice and restarted;
- ``flaky-agora``: AGORA answers 20% HTTP 503, 10% too late (client timeout), 20% slowly;
- ``agora-down``: AGORA refuses every connection for longer than one attempt's budget,
  then comes back;
- ``temporal-restart``: the file-backed dev server is stopped and started again;
- ``two-workers``: two worker processes poll the same task queue; one of them is killed
  with SIGKILL mid-run and not restarted, so the survivor must finish what the dead one
  held (its workflow tasks after the sticky queue's timeout, its activities after their
  attempt's timeout).
- ``duplicate-submissions``: the lifecycles go through the API process, every creation
  and event submitted two or three times under one ``Idempotency-Key`` (some copies at
  once, some after the client gave up waiting), while AGORA answers slowly or too late
  (see :mod:`bench.duplicates`). Every copy must get the first copy's answer.

The verdict holds only when no dossier was lost (every workflow ``settled``, every
effect at AGORA) and no effect was applied twice (see :func:`bench.dossiers.audit`).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from temporalio.client import Client
from temporalio.service import RPCError
from tqdm import tqdm

from bench.agora_admin import AgoraAdmin
from bench.dossiers import LIFECYCLE, Audit, Driver, audit, dossier_factory, run_bounded
from bench.duplicates import ApiDriver
from bench.harness import Stack
from contracts.dossier import RetryConfig
from temporal_client.link import LinkRefused, link_state

_EVENTS_PER_LIFECYCLE = len(LIFECYCLE)  # the updates; creation is not counted


@dataclass
class ChaosOptions:
    dossiers: int = 500
    concurrency: int = 50
    # Short enough for a run of minutes; attempts outlast the AGORA client's own timeout.
    retry: RetryConfig = field(default_factory=lambda: RetryConfig(
        initial_interval_seconds=0.2, backoff_coefficient=2.0, maximum_interval_seconds=2.0,
        attempt_timeout_seconds=5.0))
    agora_timeout_seconds: float = 2.0
    temporal_down_seconds: float = 5.0
    seed: int | None = None


@dataclass
class ChaosReport:
    scenario: str
    audit: Audit
    seconds: float
    actions: list[str]
    failures: list[str]
    agora_retries: int  # AGORA calls that failed (503, timeout) and were tried again
    incidents_opened: int
    temporal_rpc_retries: int
    # Through the API (duplicate-submissions): copies sent beyond the first, by how they
    # were sent; answers replayed from a remembered key; client-side timeouts.
    duplicates: dict[str, int] = field(default_factory=dict)
    replays: int = 0
    client_timeouts: int = 0

    def lines(self) -> list[str]:
        a = self.audit
        verdict = "PASS" if a.ok else "FAIL"
        return [
            *(f"  {action}" for action in self.actions),
            *(f"  lifecycle failed: {failure}" for failure in self.failures[:5]),
            (f"  AGORA calls retried after a failure: {self.agora_retries}; incidents opened: "
            f"{self.incidents_opened}; Temporal calls retried by the client: "
            f"{self.temporal_rpc_retries}"),
            *([(f"  duplicate submissions: {dict(self.duplicates)}; answers replayed: "
               f"{self.replays}; client timeouts: {self.client_timeouts}")] if self.duplicates else []),
            (f"VERDICT {self.scenario}: {verdict} — {a.dossiers} dossiers in {self.seconds:.0f} s, "
            f"{len(a.lost)} lost, {a.duplicated_effects} duplicated effects, "
            f"{a.duplicated_dossiers} duplicated AGORA dossiers"),
        ]


@dataclass
class Run:
    """What a scenario may act on while the lifecycles go."""

    stack: Stack
    client: Client
    agora: AgoraAdmin
    driver: Driver | ApiDriver  # whichever delivers the events: its latencies count them
    options: ChaosOptions
    random: random.Random
    actions: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def total_events(self) -> int:
        return self.options.dossiers * _EVENTS_PER_LIFECYCLE

    def delivered(self) -> int:
        return sum(len(samples) for samples in self.driver.latencies.values())

    async def at_fraction(self, fraction: float, timeout: float) -> None:
        """Waits until that share of all events was delivered (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while self.delivered() < fraction * self.total_events and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def note(self, action: str) -> None:
        self.actions.append(f"{time.monotonic() - self.started:6.1f} s  {action} "
                            f"({self.delivered()}/{self.total_events} events delivered)")

    async def restart_worker(self) -> None:
        meter = self.stack.start_worker()
        await self.stack.wait_for_poller(self.client, self.stack.settings.task_queue, meter.pid)
        self.note("worker restarted and polling")


async def worker_crash(run: Run) -> None:
    for low, high in ((0.15, 0.4), (0.55, 0.8)):
        await run.at_fraction(run.random.uniform(low, high), timeout=_bound(run.options))
        run.stack.kill_worker()
        run.note("worker killed with SIGKILL")
        await asyncio.sleep(run.random.uniform(0, 1))
        await run.restart_worker()


async def flaky_agora(run: Run) -> None:
    late = run.options.agora_timeout_seconds + 1
    # Rules are tried in order, each with its own chance: these make 20% / 10% / 20% overall.
    await run.agora.inject("http503", probability=0.2)
    await run.agora.inject("timeout", probability=0.1 / 0.8, delay_seconds=late)
    await run.agora.inject("slow", probability=0.2 / 0.7,
                           delay_seconds=run.options.agora_timeout_seconds / 3)
    run.note("AGORA: 20% HTTP 503, 10% answers too late, 20% slow answers")


async def agora_down(run: Run) -> None:
    await run.at_fraction(run.random.uniform(0.2, 0.4), timeout=_bound(run.options))
    outage = 2 * run.options.retry.attempt_timeout_seconds + 1
    run.stack.stop_simulator()
    run.note(f"AGORA down (connections refused) for {outage:.0f} s")
    await asyncio.sleep(outage)
    await asyncio.to_thread(run.stack.start_simulator)
    run.note("AGORA back")


async def temporal_restart(run: Run) -> None:
    await run.at_fraction(run.random.uniform(0.3, 0.6), timeout=_bound(run.options))
    await asyncio.to_thread(run.stack.stop_temporal)
    run.note("Temporal dev server stopped")
    await asyncio.sleep(run.options.temporal_down_seconds)
    await asyncio.to_thread(run.stack.start_temporal)
    run.note("Temporal dev server started again on its SQLite file")
    if not run.stack.worker_alive():
        run.note("the worker had exited")
        await run.restart_worker()


async def duplicate_submissions(run: Run) -> None:
    # A slow AGORA keeps first copies running while the others arrive; an answer lost at
    # AGORA (applied, then too late) is retried by the worker with the same request id.
    late = run.options.agora_timeout_seconds + 1
    await run.agora.inject("timeout_after_apply", probability=0.05, delay_seconds=late)
    await run.agora.inject("slow", probability=0.3, delay_seconds=run.options.agora_timeout_seconds / 3)
    run.note("every request sent 2-3 times (at once, or after a client timeout); AGORA: 30% slow "
             "answers, 5% applied then answered too late")


async def two_workers(run: Run) -> None:
    await run.at_fraction(run.random.uniform(0.3, 0.6), timeout=_bound(run.options))
    victim = run.random.choice(WORKER_NAMES)
    run.stack.kill_worker(victim)
    run.note(f"{victim} of 2 killed with SIGKILL, not restarted")


SCENARIOS: dict[str, Callable[[Run], Awaitable[None]]] = {
    "worker-crash": worker_crash,
    "flaky-agora": flaky_agora,
    "agora-down": agora_down,
    "temporal-restart": temporal_restart,
    "two-workers": two_workers,
    "duplicate-submissions": duplicate_submissions,
}
# Scenarios whose lifecycles go through the API process rather than straight to Temporal.
THROUGH_THE_API = frozenset({"duplicate-submissions"})
API_USER = "chaos.gestionnaire"
# Worker processes polling the task queue before the lifecycles start (1 unless said here).
WORKERS = {"two-workers": 2}
WORKER_NAMES = ("worker", "worker-2")


def _bound(options: ChaosOptions) -> float:
    # Every wait of a run is bounded: generous for a slow machine, never endless.
    return 300 + 2.0 * options.dossiers


async def run(scenario: str, options: ChaosOptions) -> ChaosReport:
    disturb = SCENARIOS[scenario]
    with Stack(file_backed_server=scenario == "temporal-restart",
               agora_timeout_seconds=options.agora_timeout_seconds) as stack:
        stack.start_temporal()
        stack.start_simulator()
        stack.start_smtp_sink()  # incidents send emails
        client = await stack.connect()
        agora = AgoraAdmin(stack.settings)
        try:
            return await _run(scenario, disturb, stack, client, agora, options)
        finally:
            await agora.aclose()


async def _run(scenario: str, disturb: Callable[[Run], Awaitable[None]], stack: Stack,
               client: Client, agora: AgoraAdmin, options: ChaosOptions) -> ChaosReport:
    settings = stack.settings
    meters = [stack.start_worker(name) for name in WORKER_NAMES[:WORKERS.get(scenario, 1)]]
    for meter in meters:
        await stack.wait_for_poller(client, settings.task_queue, meter.pid)
    make = dossier_factory(settings, uuid.uuid4().hex[:6], options.retry)
    driver = Driver(client, settings.task_queue)
    api: ApiDriver | None = None
    if scenario in THROUGH_THE_API:
        password = uuid.uuid4().hex
        base_url = await asyncio.to_thread(stack.start_api, API_USER, password)
        api = ApiDriver(base_url, await _token(base_url, password), random.Random(options.seed))
    chaos = Run(stack, client, agora, api or driver, options, random.Random(options.seed))
    try:
        with tqdm(total=options.dossiers, desc=scenario, unit="dossier") as bar:
            job = api.lifecycle if api else (lambda i: driver.lifecycle(make(i)))
            lifecycles = run_bounded(options.dossiers, job, options.concurrency,
                                     on_done=lambda: bar.update(1))
            failures, _ = await asyncio.wait_for(asyncio.gather(lifecycles, disturb(chaos)),
                                                 _bound(options))
    finally:
        if api:
            await api.aclose()
    await agora.clear_faults()
    ids = [api.dossier_id(i) if api else make(i).dossier_id for i in range(options.dossiers)]
    checked = await audit(client, agora, ids, timeout_seconds=120)
    if api:  # two Region dossiers for one person's creation: duplicated, even if AGORA refused one
        checked.duplicated_dossiers += api.split_creations()
    requests = await agora.requests()
    return ChaosReport(
        scenario=scenario, audit=checked, seconds=time.monotonic() - chaos.started,
        actions=chaos.actions, failures=[repr(f) for f in failures],
        agora_retries=sum(1 for r in requests if r["outcome"] == "injected"),
        incidents_opened=await _incidents_opened(client, settings.link_workflow_id),
        temporal_rpc_retries=driver.rpc_retries,
        duplicates=dict(api.copies) if api else {},
        replays=api.replays if api else 0,
        client_timeouts=api.client_timeouts if api else 0,
    )


async def _token(base_url: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answer = await http.post("/api/token", data={"username": API_USER, "password": password})
        answer.raise_for_status()
        return answer.json()["access_token"]


async def _incidents_opened(client: Client, link_workflow_id: str) -> int:
    try:
        state = await link_state(client, link_workflow_id)
    except (RPCError, LinkRefused):
        return 0
    return state.incidents_opened
