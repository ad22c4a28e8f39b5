"""``agora-flow bench lifecycle``: the product against the bare engine, in one run.

1. the product: N dossiers through create (NIR check) → validate → enter → pay → pay
   → exit → settle, sent with ``temporal_client.dossiers`` as the API does, against the simulator;
2. the ceiling: on the same server, N bare workflows each running as many no-op
   activities as a lifecycle makes AGORA calls.

Per-event latency (event sent → AGORA acknowledged → update returned) is measured
at idle (one dossier at a time) and under the load; it is compared with the bare
single-activity round trip (an update running one no-op activity).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client
from tqdm import tqdm

from agora.identity_vector import build_assertion
from agora.pki import ensure_dev_pki, load_signing_identity
from bench.agora_admin import AgoraAdmin
from bench.bare import SIGNAL_FINISH, UPDATE_STEP, BareInput, BareWorkflow
from bench.dossiers import AGORA_CALLS_PER_LIFECYCLE, Driver, audit, dossier_factory, run_bounded
from bench.harness import ProcessMeter, Stack
from contracts.dossier import DossierView, RetryConfig, workflow_id_for
from settings import Settings

WARM_UP_DOSSIERS = 3
IDLE_DOSSIERS = 10
ROUND_TRIPS = 50
SIGNING_SAMPLES = 30
MB = 1024 * 1024


@dataclass
class Phase:
    """One measured run of N workflows: wall time and the worker's cost."""

    workflows: int
    seconds: float
    worker_cpu_seconds: float
    worker_peak_rss_bytes: int
    failures: int = 0

    @property
    def per_second(self) -> float:
        return self.workflows / self.seconds


@dataclass
class LifecycleReport:
    dossiers: int
    concurrency: int
    server: str
    product: Phase
    ceiling: Phase
    agora_calls: int
    idle_latencies: list[float]
    load_latencies: list[float]
    bare_round_trips: list[float]
    vi_signatures: int
    agora_requests_seen: int
    signing_seconds: float  # one signature, measured here with the worker's key
    lost: int = 0
    duplicated: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.product.per_second / self.ceiling.per_second

    def lines(self) -> list[str]:
        calls_per_second = self.agora_calls / self.product.seconds
        bare_calls = self.ceiling.per_second * AGORA_CALLS_PER_LIFECYCLE
        round_trip = percentile(self.bare_round_trips, 50)
        idle_p50 = percentile(self.idle_latencies, 50)
        load_p50 = percentile(self.load_latencies, 50)
        per_1000 = 1000 * self.vi_signatures / max(1, self.agora_requests_seen)
        signing_per_call = self.signing_seconds * self.vi_signatures / max(1, self.agora_requests_seen)
        return [
            (f"server {self.server}; {self.dossiers} dossiers, {self.concurrency} at a time; "
            f"{AGORA_CALLS_PER_LIFECYCLE} AGORA calls per lifecycle"),
            (f"product : {self.product.per_second:7.2f} dossiers/s  {calls_per_second:7.1f} AGORA "
            f"calls/s  ({self.product.seconds:.1f} s, {self.product.failures} failed, "
            f"{self.lost} lost, {self.duplicated} duplicated effects)"),
            (f"ceiling : {self.ceiling.per_second:7.2f} workflows/s {bare_calls:7.1f} no-op "
            f"activities/s  ({self.ceiling.seconds:.1f} s, {self.ceiling.failures} failed)"),
            f"RATIO product/ceiling: {self.ratio:.2f}  (target ≥ 0.80)",
            (f"per-event latency idle : p50 {ms(idle_p50)}  p99 "
            f"{ms(percentile(self.idle_latencies, 99))}  ({len(self.idle_latencies)} events)"),
            (f"per-event latency load : p50 {ms(load_p50)}  p99 "
            f"{ms(percentile(self.load_latencies, 99))}  ({len(self.load_latencies)} events)"),
            (f"bare single-activity round trip: p50 {ms(round_trip)}  p99 "
            f"{ms(percentile(self.bare_round_trips, 99))}"),
            (f"RATIO idle p50 / round trip: {idle_p50 / round_trip:.2f}  (target ≤ 2.00); "
            f"under load: {load_p50 / round_trip:.2f}"),
            (f"worker (product): {self.product.worker_cpu_seconds:.1f} CPU s "
            f"({1000 * self.product.worker_cpu_seconds / self.dossiers:.0f} ms/dossier), "
            f"peak RSS {self.product.worker_peak_rss_bytes / MB:.0f} MB"),
            (f"worker (bare)   : {self.ceiling.worker_cpu_seconds:.1f} CPU s "
            f"({1000 * self.ceiling.worker_cpu_seconds / self.dossiers:.0f} ms/workflow), "
            f"peak RSS {self.ceiling.worker_peak_rss_bytes / MB:.0f} MB"),
            (f"identity vector: {self.vi_signatures} signatures for {self.agora_requests_seen} "
            f"AGORA calls = {per_1000:.2f} per 1000 calls; one signature {ms(self.signing_seconds)}"
            f", signing cost per call {signing_per_call * 1e6:.1f} µs"),
            *self.notes,
        ]


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)] if ordered else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def phase_timeout(workflows: int) -> float:
    # Generous (a slow machine is not a failure) but bounded.
    return 300 + 2.0 * workflows


async def run(dossiers: int, concurrency: int, server: str | None = None) -> LifecycleReport:
    with Stack(server=server) as stack:
        stack.start_temporal()
        stack.start_simulator()
        client = await stack.connect()
        agora = AgoraAdmin(stack.settings)
        try:
            return await _measure(stack, client, agora, dossiers, concurrency)
        finally:
            await agora.aclose()


async def _measure(stack: Stack, client: Client, agora: AgoraAdmin, dossiers: int,
                   concurrency: int) -> LifecycleReport:
    settings = stack.settings
    meter = stack.start_worker()
    await stack.wait_for_poller(client, settings.task_queue, meter.pid)
    make = dossier_factory(settings, uuid.uuid4().hex[:6], RetryConfig())

    # Warm-up (WSDL parsing, key loading, sandbox imports), then one dossier at a time.
    for i in range(WARM_UP_DOSSIERS):
        await _lifecycle(client, Driver(client, settings.task_queue), make(i))
    idle = Driver(client, settings.task_queue)
    for i in range(IDLE_DOSSIERS):
        await _lifecycle(client, idle, make(WARM_UP_DOSSIERS + i))

    calls_before = await agora.calls_received()
    load = Driver(client, settings.task_queue)
    first = WARM_UP_DOSSIERS + IDLE_DOSSIERS
    product = await _phase("product lifecycles", meter, dossiers, concurrency,
                           lambda i: _lifecycle(client, load, make(first + i)))
    agora_calls = await agora.calls_received() - calls_before
    checked = await audit(client, agora, [make(first + i).dossier_id for i in range(dossiers)],
                          timeout_seconds=60)
    requests = await agora.requests()
    signatures = len({r["assertion_id"] for r in requests if r["assertion_id"]})
    stack.stop_worker()

    bare_queue = f"{settings.task_queue}-bare"
    bare_meter = stack.start_bare_worker(bare_queue)
    await stack.wait_for_poller(client, bare_queue, bare_meter.pid)
    bare = BareInput(activities=AGORA_CALLS_PER_LIFECYCLE)
    for _ in range(WARM_UP_DOSSIERS):
        await _bare(client, bare_queue, bare)
    round_trips = await _round_trips(client, bare_queue)
    ceiling = await _phase("bare workflows   ", bare_meter, dossiers, concurrency,
                           lambda i: _bare(client, bare_queue, bare))
    stack.stop_worker("bare-worker")

    return LifecycleReport(
        dossiers=dossiers, concurrency=concurrency, server=settings.temporal_address,
        product=product, ceiling=ceiling, agora_calls=agora_calls,
        idle_latencies=_event_latencies(idle), load_latencies=_event_latencies(load),
        bare_round_trips=round_trips, vi_signatures=signatures,
        agora_requests_seen=len(requests), signing_seconds=_signing_seconds(settings),
        lost=len(checked.lost), duplicated=checked.duplicated_effects + checked.duplicated_dossiers,
    )


async def _phase(label: str, meter: ProcessMeter, count: int, concurrency: int, job) -> Phase:
    cpu_before = meter.cpu_seconds()
    with tqdm(total=count, desc=label, unit="wf", smoothing=0.1) as bar:
        started = time.perf_counter()
        failures = await asyncio.wait_for(
            run_bounded(count, job, concurrency, on_done=lambda: bar.update(1)),
            phase_timeout(count))
        seconds = time.perf_counter() - started
    for failure in failures[:3]:
        tqdm.write(f"  failed: {failure!r}")
    return Phase(count, seconds, meter.cpu_seconds() - cpu_before, meter.peak_rss_bytes(),
                 len(failures))


async def _lifecycle(client: Client, driver: Driver, dossier) -> None:
    await driver.lifecycle(dossier)
    # Done when the workflow has ended (its last projection written), as a bare workflow is.
    handle = client.get_workflow_handle(workflow_id_for(dossier.dossier_id), result_type=DossierView)
    await handle.result()


async def _bare(client: Client, task_queue: str, bare: BareInput) -> None:
    await client.execute_workflow(BareWorkflow.run, bare, id=f"bare-{uuid.uuid4().hex}",
                                  task_queue=task_queue)


async def _round_trips(client: Client, task_queue: str) -> list[float]:
    """An update running one no-op activity, sent one at a time: the engine's own latency."""
    handle = await client.start_workflow(BareWorkflow.run, BareInput(0, serve_updates=True),
                                         id=f"bare-rt-{uuid.uuid4().hex}", task_queue=task_queue)
    samples: list[float] = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        await handle.execute_update(UPDATE_STEP)
        samples.append(time.perf_counter() - started)
    await handle.signal(SIGNAL_FINISH)
    await handle.result()
    return samples


def _event_latencies(driver: Driver) -> list[float]:
    # "validate" is left out: it also waits for the registration's two AGORA calls.
    return [s for event, samples in driver.latencies.items() if event != "validate"
            for s in samples]


def _signing_seconds(settings: Settings) -> float:
    """One VI signature with the worker's key, loaded once as the worker does."""
    identity = load_signing_identity(ensure_dev_pki(settings.pki_dir, settings.application_id))
    started = time.perf_counter()
    for _ in range(SIGNING_SAMPLES):
        build_assertion(settings, identity, "agent.bench", now=datetime.now(UTC))
    return (time.perf_counter() - started) / SIGNING_SAMPLES
