"""``agora-flow bench lifecycle``: the product against the bare engine, in one run.

1. the product: N dossiers through create (NIR check) → validate → enter → pay → pay
   → exit → settle, sent with ``temporal_client.dossiers`` as the API does, against the simulator;
2. the same-shape ceiling: on the same server, N bare workflows asking Temporal for what a
   lifecycle asks: a start with an input of a dossier's size, two no-op activities at
   start, then one update per business event (as many as ``LIFECYCLE`` has), each running
   one no-op activity and returning a view of the size the dossier's view had at that
   point (measured on a warm-up lifecycle). The target ratio is against this one;
3. the 8-activity ceiling: N bare workflows each running as many no-op activities as a
   lifecycle makes AGORA calls (kept for continuity with earlier figures).

Per-event latency (event sent → AGORA acknowledged → update returned) is measured
at idle (one dossier at a time) and under the load; it is compared with the bare
single-activity round trip (an update running one no-op activity). Temporal round trips
per lifecycle are counted from sample histories and from the driver's calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.converter import PayloadConverter
from tqdm import tqdm

import temporal_client
from agora.identity_vector import build_assertion
from agora.pki import ensure_dev_pki, load_signing_identity
from bench import round_trips
from bench.agora_admin import AgoraAdmin
from bench.bare import SIGNAL_FINISH, UPDATE_STEP, BareInput, BareView, BareWorkflow
from bench.dossiers import (
    AGORA_CALLS_PER_LIFECYCLE,
    CALLS_AT_START,
    LIFECYCLE,
    Driver,
    audit,
    dossier_factory,
    run_bounded,
)
from bench.harness import ProcessMeter, Stack
from bench.round_trips import CallCounter, RoundTrips
from contracts.dossier import DossierView, RetryConfig, workflow_id_for
from settings import Settings

WARM_UP_DOSSIERS = 3
IDLE_DOSSIERS = 10
ROUND_TRIPS = 50
SIGNING_SAMPLES = 30
HISTORY_SAMPLES = 5  # workflows of each phase whose histories are counted
MB = 1024 * 1024


@dataclass
class Phase:
    """One measured run of N workflows: wall time and the cost of each process."""

    workflows: int
    seconds: float
    worker_cpu_seconds: float
    worker_peak_rss_bytes: int
    failures: int = 0
    server_cpu_seconds: float | None = None  # None: a server this run did not start
    simulator_cpu_seconds: float | None = None
    round_trips: RoundTrips | None = None

    @property
    def per_second(self) -> float:
        return self.workflows / self.seconds

    def cpu_ms(self, seconds: float | None) -> str:
        return "n/a" if seconds is None else f"{1000 * seconds / self.workflows:.0f} ms"


@dataclass
class Shape:
    """What a lifecycle sends and gets back, in serialized bytes (from a warm-up lifecycle)."""

    input_bytes: int
    view_bytes: list[int]  # the view each event's update returned, in order


@dataclass
class LifecycleReport:
    dossiers: int
    concurrency: int
    server: str
    product: Phase
    ceiling: Phase
    same_shape: Phase
    shape: Shape
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
    # The same lifecycles with the trace log off (SPEC §5 cost), and the traces written.
    untraced: Phase | None = None
    # The same lifecycles with Temporal payloads not sealed: the codec's cost.
    unsealed: Phase | None = None
    traces_written: int = 0

    @property
    def ratio(self) -> float:
        return self.product.per_second / self.ceiling.per_second

    @property
    def same_shape_ratio(self) -> float:
        return self.product.per_second / self.same_shape.per_second

    def lines(self) -> list[str]:
        calls_per_second = self.agora_calls / self.product.seconds
        bare_calls = self.ceiling.per_second * AGORA_CALLS_PER_LIFECYCLE
        round_trip = percentile(self.bare_round_trips, 50)
        idle_p50 = percentile(self.idle_latencies, 50)
        load_p50 = percentile(self.load_latencies, 50)
        per_1000 = 1000 * self.vi_signatures / max(1, self.agora_requests_seen)
        signing_per_call = self.signing_seconds * self.vi_signatures / max(1, self.agora_requests_seen)
        views = self.shape.view_bytes
        phases = (("product", self.product), ("same-shape", self.same_shape),
                  ("8-activity", self.ceiling))
        return [
            (f"server {self.server}; {self.dossiers} dossiers, {self.concurrency} at a time; "
            f"{AGORA_CALLS_PER_LIFECYCLE} AGORA calls and {len(LIFECYCLE)} events per lifecycle"),
            (f"product : {self.product.per_second:7.2f} dossiers/s  {calls_per_second:7.1f} AGORA "
            f"calls/s  ({self.product.seconds:.1f} s, {self.product.failures} failed, "
            f"{self.lost} lost, {self.duplicated} duplicated effects)"),
            (f"same-shape ceiling: {self.same_shape.per_second:7.2f} workflows/s  (start + "
            f"{CALLS_AT_START} no-op activities + {len(views)} updates (the creation, then one per event running one); input "
            f"{self.shape.input_bytes} B, views {min(views)}–{max(views)} B; "
            f"{self.same_shape.seconds:.1f} s, {self.same_shape.failures} failed)"),
            (f"ceiling : {self.ceiling.per_second:7.2f} workflows/s {bare_calls:7.1f} no-op "
            f"activities/s  ({self.ceiling.seconds:.1f} s, {self.ceiling.failures} failed)"),
            f"RATIO product/same-shape ceiling: {self.same_shape_ratio:.2f}  (target ≥ 0.80)",
            (f"ratio product/8-activity ceiling: {self.ratio:.2f}  (the earlier measure, kept "
             "for continuity)"),
            (f"per-event latency idle : p50 {ms(idle_p50)}  p99 "
            f"{ms(percentile(self.idle_latencies, 99))}  ({len(self.idle_latencies)} events)"),
            (f"per-event latency load : p50 {ms(load_p50)}  p99 "
            f"{ms(percentile(self.load_latencies, 99))}  ({len(self.load_latencies)} events)"),
            (f"bare single-activity round trip: p50 {ms(round_trip)}  p99 "
            f"{ms(percentile(self.bare_round_trips, 99))}"),
            (f"RATIO idle p50 / round trip: {idle_p50 / round_trip:.2f}  (target ≤ 2.00); "
            f"under load: {load_p50 / round_trip:.2f}"),
            "CPU per lifecycle (per workflow for the ceilings):",
            *(f"  {name:10s}: worker {phase.cpu_ms(phase.worker_cpu_seconds):>7s}, Temporal server "
              f"{phase.cpu_ms(phase.server_cpu_seconds):>7s}"
              + (f", simulator {phase.cpu_ms(phase.simulator_cpu_seconds)}"
                 if phase.simulator_cpu_seconds is not None else "")
              for name, phase in phases),
            "Temporal round trips per lifecycle (per workflow for the ceilings):",
            *(f"  {name:10s}: {phase.round_trips.line()}" for name, phase in phases
              if phase.round_trips is not None),
            (f"worker (product): {self.product.worker_cpu_seconds:.1f} CPU s "
            f"({1000 * self.product.worker_cpu_seconds / self.dossiers:.0f} ms/dossier), "
            f"peak RSS {self.product.worker_peak_rss_bytes / MB:.0f} MB"),
            (f"worker (bare)   : {self.ceiling.worker_cpu_seconds:.1f} CPU s "
            f"({1000 * self.ceiling.worker_cpu_seconds / self.dossiers:.0f} ms/workflow), "
            f"peak RSS {self.ceiling.worker_peak_rss_bytes / MB:.0f} MB"),
            (f"identity vector: {self.vi_signatures} signatures for {self.agora_requests_seen} "
            f"AGORA calls = {per_1000:.2f} per 1000 calls; one signature {ms(self.signing_seconds)}"
            f", signing cost per call {signing_per_call * 1e6:.1f} µs"),
            *self.tracing_lines(),
            *self.codec_lines(),
            *self.notes,
        ]

    def codec_lines(self) -> list[str]:
        if self.unsealed is None:
            return []
        cost = 1 - self.product.per_second / self.unsealed.per_second
        return [
            (f"payloads unsealed: {self.unsealed.per_second:7.2f} dossiers/s "
             f"({self.unsealed.seconds:.1f} s, {self.unsealed.failures} failed); worker "
             f"{self.unsealed.cpu_ms(self.unsealed.worker_cpu_seconds)} CPU per lifecycle "
             f"(sealed: {self.product.cpu_ms(self.product.worker_cpu_seconds)})"),
            f"RATIO codec cost (1 - sealed/unsealed throughput): {cost:.1%}",
        ]

    def tracing_lines(self) -> list[str]:
        if self.untraced is None:
            return []
        cost = 1 - self.product.per_second / self.untraced.per_second
        return [
            (f"tracing off: {self.untraced.per_second:7.2f} dossiers/s ({self.untraced.seconds:.1f} s,"
             f" {self.untraced.failures} failed); worker "
             f"{self.untraced.cpu_ms(self.untraced.worker_cpu_seconds)} CPU per lifecycle"),
            (f"RATIO tracing cost (1 - on/off throughput): {cost:.1%}  (target ≤ 10 %); "
             f"{self.traces_written} exchanges traced for {self.agora_requests_seen} AGORA "
             "requests the simulator saw"),
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
    converter = client.data_converter.payload_converter
    server_meter = stack.meter("temporal")
    simulator_meter = stack.meter("simulator")

    # Warm-up (WSDL parsing, key loading, sandbox imports), then one dossier at a time.
    # The first warm-up lifecycle gives the sizes the same-shape ceiling copies.
    views: list[DossierView] = []
    for i in range(WARM_UP_DOSSIERS):
        await _lifecycle(client, Driver(client, settings.task_queue), make(i),
                         views.append if i == 0 else _ignore)
    shape = Shape(input_bytes=_size(converter, make(0)),
                  view_bytes=[_size(converter, view) for view in views])
    idle = Driver(client, settings.task_queue)
    for i in range(IDLE_DOSSIERS):
        await _lifecycle(client, idle, make(WARM_UP_DOSSIERS + i))

    calls_before = await agora.calls_received()
    counter = CallCounter()
    counted = counter.client(client)
    load = Driver(counted, settings.task_queue)
    first = WARM_UP_DOSSIERS + IDLE_DOSSIERS
    product = await _phase("product lifecycles", meter, server_meter, dossiers, concurrency,
                           lambda i: _lifecycle(counted, load, make(first + i)),
                           simulator_meter)
    agora_calls = await agora.calls_received() - calls_before
    ids = [make(first + i).dossier_id for i in range(dossiers)]
    checked = await audit(client, agora, ids, timeout_seconds=60)
    product.round_trips = await round_trips.from_histories(
        client, [workflow_id_for(i) for i in ids[:HISTORY_SAMPLES]], counter.calls, dossiers)
    requests = await agora.requests()
    signatures = len({r["assertion_id"] for r in requests if r["assertion_id"]})
    stack.stop_worker()
    traces_written = _traces_written(settings)

    # The same run with the trace log off: what recording every exchange costs.
    stack.settings = dataclasses.replace(settings, traces_enabled=False)
    untraced_meter = stack.start_worker()
    await stack.wait_for_poller(client, settings.task_queue, untraced_meter.pid)
    stack.settings = settings
    off_first = first + dossiers
    for i in range(WARM_UP_DOSSIERS):
        await _lifecycle(client, Driver(client, settings.task_queue), make(off_first + i))
    off_load = Driver(client, settings.task_queue)
    untraced = await _phase("tracing off      ", untraced_meter, server_meter, dossiers,
                            concurrency,
                            lambda i: _lifecycle(client, off_load,
                                                 make(off_first + WARM_UP_DOSSIERS + i)),
                            simulator_meter)
    stack.stop_worker()
    unsealed = await _unsealed_phase(stack, server_meter, simulator_meter,
                                     off_first + WARM_UP_DOSSIERS + dossiers, dossiers, concurrency)

    bare_queue = f"{settings.task_queue}-bare"
    # The bare worker reads payloads in clear: its driver must write them so.
    plain = await temporal_client.connect(settings, sealed=False)
    bare_meter = stack.start_bare_worker(bare_queue)
    await stack.wait_for_poller(plain, bare_queue, bare_meter.pid)
    bare = BareInput(activities=AGORA_CALLS_PER_LIFECYCLE)
    for _ in range(WARM_UP_DOSSIERS):
        await _bare(plain, bare_queue, bare, f"bare-warm-{uuid.uuid4().hex}")
    round_trip_samples = await _round_trips(plain, bare_queue)
    ceiling = await _measured_bare_phase(
        "bare workflows   ", "bare", bare_meter, server_meter, dossiers, concurrency, plain,
        lambda c, wid: _bare(c, bare_queue, bare, wid))
    same = _same_shape_job(shape, converter, bare_queue)
    for _ in range(WARM_UP_DOSSIERS):
        await same(plain, f"same-warm-{uuid.uuid4().hex}")
    same_shape = await _measured_bare_phase(
        "same-shape       ", "same", bare_meter, server_meter, dossiers, concurrency, plain,
        same)
    stack.stop_worker("bare-worker")

    return LifecycleReport(
        dossiers=dossiers, concurrency=concurrency, server=settings.temporal_address,
        product=product, ceiling=ceiling, same_shape=same_shape, shape=shape,
        agora_calls=agora_calls,
        idle_latencies=_event_latencies(idle), load_latencies=_event_latencies(load),
        bare_round_trips=round_trip_samples, vi_signatures=signatures,
        agora_requests_seen=len(requests), signing_seconds=_signing_seconds(settings),
        lost=len(checked.lost), duplicated=checked.duplicated_effects + checked.duplicated_dossiers,
        untraced=untraced, traces_written=traces_written, unsealed=unsealed,
    )


async def _unsealed_phase(stack: Stack, server_meter: ProcessMeter | None,
                          simulator_meter: ProcessMeter | None, first: int, dossiers: int,
                          concurrency: int) -> Phase:
    """The product's lifecycles with payloads in clear (worker and driver alike), on a task
    queue and link workflow of their own: the sealed link workflow of the earlier phases is
    never handed to a worker that cannot read it."""
    settings = stack.settings
    stack.settings = dataclasses.replace(
        settings, payload_encryption=False, task_queue=f"{settings.task_queue}-unsealed",
        link_workflow_id=f"{settings.link_workflow_id}-unsealed")
    # Other people (serials after the earlier phases'), gated by this phase's link workflow.
    make = dossier_factory(stack.settings, uuid.uuid4().hex[:6], RetryConfig())
    try:
        plain = await temporal_client.connect(stack.settings)
        meter = stack.start_worker()
        await stack.wait_for_poller(plain, stack.settings.task_queue, meter.pid)
        for i in range(WARM_UP_DOSSIERS):
            await _lifecycle(plain, Driver(plain, stack.settings.task_queue), make(first + i))
        load = Driver(plain, stack.settings.task_queue)
        phase = await _phase("payloads unsealed", meter, server_meter, dossiers, concurrency,
                             lambda i: _lifecycle(plain, load,
                                                  make(first + WARM_UP_DOSSIERS + i)),
                             simulator_meter)
        stack.stop_worker()
        return phase
    finally:
        stack.settings = settings


async def _phase(label: str, meter: ProcessMeter, server: ProcessMeter | None, count: int,
                 concurrency: int, job: Callable[[int], Awaitable[object]],
                 simulator: ProcessMeter | None = None) -> Phase:
    before = [m.cpu_seconds() if m else 0.0 for m in (meter, server, simulator)]
    with tqdm(total=count, desc=label, unit="wf", smoothing=0.1) as bar:
        started = time.perf_counter()
        failures = await asyncio.wait_for(
            run_bounded(count, job, concurrency, on_done=lambda: bar.update(1)),
            phase_timeout(count))
        seconds = time.perf_counter() - started
    for failure in failures[:3]:
        tqdm.write(f"  failed: {failure!r}")
    spent = [m.cpu_seconds() - b if m else None
             for m, b in zip((meter, server, simulator), before, strict=True)]
    return Phase(count, seconds, spent[0] or 0.0, meter.peak_rss_bytes(), len(failures),
                 server_cpu_seconds=spent[1], simulator_cpu_seconds=spent[2])


async def _measured_bare_phase(label: str, prefix: str, meter: ProcessMeter,
                               server: ProcessMeter | None, count: int, concurrency: int,
                               client: Client,
                               job: Callable[[Client, str], Awaitable[object]]) -> Phase:
    """A bare phase whose driver calls are counted and whose first histories are read."""
    counter = CallCounter()
    counted = counter.client(client)
    run_id = uuid.uuid4().hex[:8]
    ids = [f"{prefix}-{run_id}-{i}" for i in range(count)]
    phase = await _phase(label, meter, server, count, concurrency,
                         lambda i: job(counted, ids[i]))
    phase.round_trips = await round_trips.from_histories(client, ids[:HISTORY_SAMPLES],
                                                         counter.calls, count)
    return phase


async def _lifecycle(client: Client, driver: Driver, dossier,
                     on_view: Callable[[DossierView], None] | None = None) -> None:
    await driver.lifecycle(dossier, on_view=on_view or _ignore)
    # Done when the workflow has ended (its last projection written), as a bare workflow is.
    handle = client.get_workflow_handle(workflow_id_for(dossier.dossier_id), result_type=DossierView)
    await handle.result()


def _ignore(_: object) -> None:
    pass


async def _bare(client: Client, task_queue: str, bare: BareInput, workflow_id: str) -> None:
    await client.execute_workflow(BareWorkflow.run, bare, id=workflow_id, task_queue=task_queue)


def _same_shape_job(shape: Shape, converter: PayloadConverter, task_queue: str
                    ) -> Callable[[Client, str], Awaitable[None]]:
    """One same-shape workflow: its start input and each view padded to the product's sizes."""
    views = len(shape.view_bytes)
    empty_input = BareInput(activities=CALLS_AT_START, views=views)
    bare = BareInput(activities=CALLS_AT_START, views=views,
                     padding="x" * max(0, shape.input_bytes - _size(converter, empty_input)))
    empty_view = _size(converter, BareView(""))
    paddings = [max(0, size - empty_view) for size in shape.view_bytes]

    async def one(client: Client, workflow_id: str) -> None:
        # As a dossier's creation: started by its first update, which waits for the two
        # activities at start.
        start = WithStartWorkflowOperation(BareWorkflow.run, bare, id=workflow_id,
                                           task_queue=task_queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
        await client.execute_update_with_start_workflow(BareWorkflow.started, paddings[0],
                                                        start_workflow_operation=start)
        handle = await start.workflow_handle()
        for chars in paddings[1:]:
            await handle.execute_update(BareWorkflow.view, chars)
        await handle.result()

    return one


def _size(converter: PayloadConverter, value: object) -> int:
    """Bytes of ``value`` as Temporal carries it."""
    return len(converter.to_payloads([value])[0].data)


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


def _traces_written(settings: Settings) -> int:
    from sqlalchemy import func, select

    from store.trace_models import TraceRecord
    from store.traces import TraceStore

    with TraceStore(settings).reading() as session:
        return session.scalar(select(func.count()).select_from(TraceRecord)) or 0


def _signing_seconds(settings: Settings) -> float:
    """One VI signature with the worker's key, loaded once as the worker does."""
    identity = load_signing_identity(ensure_dev_pki(settings.pki_dir, settings.application_id))
    started = time.perf_counter()
    for _ in range(SIGNING_SAMPLES):
        build_assertion(settings, identity, "agent.bench", now=datetime.now(UTC))
    return (time.perf_counter() - started) / SIGNING_SAMPLES
