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

Two more phases run the product with its trace log off (what recording every exchange
costs), and with its trace log off and its payloads in clear (what sealing them costs). The
phases run interleaved, in slices taken in turn on workers that all stay up, so that a load
from outside the run (another process on the machine) weighs on each alike and the ratios
stay comparable.

Per-event latency (event sent → AGORA acknowledged → update returned) is measured
at idle (one dossier at a time) and under the load; it is compared with the bare
single-activity round trip (an update running one no-op activity). Temporal round trips
per lifecycle are counted from sample histories and from the driver's calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
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
    ACTING_USERS,
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
UNTRACED_USERS = tuple(f"{user}.sans-trace" for user in ACTING_USERS)
UNSEALED_USERS = tuple(f"{user}.en-clair" for user in ACTING_USERS)
ROUNDS = 5  # slices of each phase: with five contenders, each runs once in each position
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
        """Against the tracing-off contender: the two differ only by the codec."""
        if self.unsealed is None or self.untraced is None:
            return []
        sealed = self.untraced
        cost = 1 - sealed.per_second / self.unsealed.per_second
        return [
            (f"payloads unsealed (tracing off): {self.unsealed.per_second:7.2f} dossiers/s "
             f"({self.unsealed.seconds:.1f} s, {self.unsealed.failures} failed); worker "
             f"{self.unsealed.cpu_ms(self.unsealed.worker_cpu_seconds)} CPU per lifecycle "
             f"(sealed, tracing off: {sealed.cpu_ms(sealed.worker_cpu_seconds)})"),
            f"RATIO codec cost (1 - sealed/unsealed throughput, tracing off): {cost:.1%}",
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
    run_id = uuid.uuid4().hex[:6]
    # Four workers side by side, each on its own task queue: the product, the product with
    # its trace log off (what recording every exchange costs), the product with its payloads
    # in clear (what the codec costs) and the bare engine.
    meter = stack.start_worker()
    untraced_queue = f"{settings.task_queue}-untraced"
    stack.settings = dataclasses.replace(settings, traces_enabled=False, task_queue=untraced_queue)
    untraced_meter = stack.start_worker("worker-untraced")
    # The product with its trace log off and its payloads in clear (worker and driver alike):
    # against the untraced one, what the codec costs. Its own link workflow too: a worker that
    # cannot read sealed payloads never gets a sealed one.
    unsealed_queue = f"{settings.task_queue}-unsealed"
    unsealed_settings = dataclasses.replace(
        settings, payload_encryption=False, traces_enabled=False, task_queue=unsealed_queue,
        link_workflow_id=f"{settings.link_workflow_id}-unsealed")
    stack.settings = unsealed_settings
    unsealed_meter = stack.start_worker("worker-unsealed")
    stack.settings = settings
    plain = await temporal_client.connect(unsealed_settings)
    await stack.wait_for_poller(plain, unsealed_queue, unsealed_meter.pid)
    bare_queue = f"{settings.task_queue}-bare"
    bare_meter = stack.start_bare_worker(bare_queue)
    for queue, worker in ((settings.task_queue, meter), (untraced_queue, untraced_meter),
                          (bare_queue, bare_meter)):
        await stack.wait_for_poller(client, queue, worker.pid)
    make = dossier_factory(settings, run_id, RetryConfig())
    # Its own ids, persons and users (AGORA's records of its requests are told apart by them).
    make_untraced = dossier_factory(settings, f"{run_id}u", RetryConfig(), UNTRACED_USERS)
    make_unsealed = dossier_factory(unsealed_settings, f"{run_id}c", RetryConfig(), UNSEALED_USERS)
    first = WARM_UP_DOSSIERS + IDLE_DOSSIERS
    untraced_first = first + dossiers
    unsealed_first = untraced_first + WARM_UP_DOSSIERS + dossiers
    converter = client.data_converter.payload_converter
    server_meter = stack.meter("temporal")
    simulator_meter = stack.meter("simulator")

    # Warm-up (WSDL parsing, key loading, sandbox imports), then one dossier at a time.
    # The first warm-up lifecycle gives the sizes the same-shape ceiling copies.
    views: list[DossierView] = []
    for i in range(WARM_UP_DOSSIERS):
        await _lifecycle(client, Driver(client, settings.task_queue), make(i),
                         views.append if i == 0 else _ignore)
        await _lifecycle(client, Driver(client, untraced_queue), make_untraced(untraced_first + i))
        await _lifecycle(plain, Driver(plain, unsealed_queue), make_unsealed(unsealed_first + i))
    shape = Shape(input_bytes=_size(converter, make(0)),
                  view_bytes=[_size(converter, view) for view in views])
    idle = Driver(client, settings.task_queue)
    for i in range(IDLE_DOSSIERS):
        await _lifecycle(client, idle, make(WARM_UP_DOSSIERS + i))
    bare = BareInput(activities=AGORA_CALLS_PER_LIFECYCLE)
    same = _same_shape_job(shape, converter, bare_queue)
    for _ in range(WARM_UP_DOSSIERS):
        await _bare(client, bare_queue, bare, f"bare-warm-{uuid.uuid4().hex}")
        await same(client, f"same-warm-{uuid.uuid4().hex}")
    round_trip_samples = await _round_trips(client, bare_queue)

    counters = [CallCounter() for _ in range(5)]  # the driver's calls, per contender
    load = Driver(counters[0].client(client), settings.task_queue)
    off_load = Driver(counters[1].client(client), untraced_queue)
    same_client, bare_client = counters[2].client(client), counters[3].client(client)
    plain_load = Driver(counters[4].client(plain), unsealed_queue)
    bare_ids = [f"bare-{run_id}-{i}" for i in range(dossiers)]
    same_ids = [f"same-{run_id}-{i}" for i in range(dossiers)]
    contenders = [
        Contender(meter, counters[0],
                  lambda i: _lifecycle(client, load, make(first + i))),
        Contender(untraced_meter, counters[1],
                  lambda i: _lifecycle(client, off_load, make_untraced(untraced_first + WARM_UP_DOSSIERS + i))),
        Contender(bare_meter, counters[2], lambda i: same(same_client, same_ids[i])),
        Contender(bare_meter, counters[3], lambda i: _bare(bare_client, bare_queue, bare, bare_ids[i])),
        Contender(unsealed_meter, counters[4],
                  lambda i: _lifecycle(plain, plain_load,
                                       make_unsealed(unsealed_first + WARM_UP_DOSSIERS + i))),
    ]
    product, untraced, same_shape, ceiling, unsealed = await _interleaved(
        contenders, dossiers, concurrency, server_meter, simulator_meter)

    ids = [make(first + i).dossier_id for i in range(dossiers)]
    checked = await audit(client, agora, ids, timeout_seconds=60)
    product.round_trips = await _round_trips_of(
        client, contenders[0], [workflow_id_for(i) for i in ids[:HISTORY_SAMPLES]], dossiers)
    same_shape.round_trips = await _round_trips_of(client, contenders[2],
                                                   same_ids[:HISTORY_SAMPLES], dossiers)
    ceiling.round_trips = await _round_trips_of(client, contenders[3], bare_ids[:HISTORY_SAMPLES],
                                                dossiers)
    # The traced product's requests (warm-up, idle and measured lifecycles), by their user.
    requests = [r for r in await agora.requests()
                if r["acting_user"] not in UNTRACED_USERS + UNSEALED_USERS]
    measured = {workflow_id_for(i) for i in ids}
    # Each measured lifecycle's requests carry its workflow id, but for its NIR check.
    agora_calls = dossiers + sum(1 for r in requests
                                 if (r["request_id"] or "").split(":", 1)[0] in measured)
    signatures = len({r["assertion_id"] for r in requests if r["assertion_id"]})
    for name in ("worker", "worker-untraced", "worker-unsealed", "bare-worker"):
        stack.stop_worker(name)

    return LifecycleReport(
        dossiers=dossiers, concurrency=concurrency, server=settings.temporal_address,
        product=product, ceiling=ceiling, same_shape=same_shape, shape=shape,
        agora_calls=agora_calls,
        idle_latencies=_event_latencies(idle), load_latencies=_event_latencies(load),
        bare_round_trips=round_trip_samples, vi_signatures=signatures,
        agora_requests_seen=len(requests), signing_seconds=_signing_seconds(settings),
        lost=len(checked.lost), duplicated=checked.duplicated_effects + checked.duplicated_dossiers,
        untraced=untraced, traces_written=_traces_written(settings), unsealed=unsealed,
    )


@dataclass
class Contender:
    """One of the measured kinds of workflow: its worker and how to run its i-th one."""

    meter: ProcessMeter
    counter: CallCounter  # counts the calls of the client its job drives
    job: Callable[[int], Awaitable[object]]


async def _interleaved(contenders: list[Contender], count: int, concurrency: int,
                       server: ProcessMeter | None,
                       simulator: ProcessMeter | None) -> list[Phase]:
    """Each contender runs ``count`` workflows, in ``ROUNDS`` slices taken in turn, each round
    starting one contender further (A B C D, B C D A, …), so that whatever else loads the
    machine, and whatever a slice leaves behind for the next (the server's deferred work),
    weighs on all of them alike; a contender's time and CPU are summed over its own slices."""
    phases = [Phase(0, 0.0, 0.0, 0, server_cpu_seconds=0.0 if server else None,
                    simulator_cpu_seconds=0.0 if simulator else None) for _ in contenders]
    bounds = [round(count * r / ROUNDS) for r in range(ROUNDS + 1)]
    with tqdm(total=count * len(contenders), desc="interleaved", unit="wf", smoothing=0.1) as bar:
        for turn, (low, high) in enumerate(itertools.pairwise(bounds)):
            shift = turn % len(contenders)
            for contender, phase in zip(contenders[shift:] + contenders[:shift],
                                        phases[shift:] + phases[:shift], strict=True):
                _add(phase, await _phase(contender.meter, server, high - low, concurrency,
                                         lambda i, job=contender.job, o=low: job(o + i),
                                         simulator, on_done=lambda: bar.update(1)))
    for contender, phase in zip(contenders, phases, strict=True):
        phase.worker_peak_rss_bytes = contender.meter.peak_rss_bytes()
    return phases


def _add(total: Phase, part: Phase) -> None:
    total.workflows += part.workflows
    total.seconds += part.seconds
    total.worker_cpu_seconds += part.worker_cpu_seconds
    total.failures += part.failures
    if total.server_cpu_seconds is not None:
        total.server_cpu_seconds += part.server_cpu_seconds or 0.0
    if total.simulator_cpu_seconds is not None:
        total.simulator_cpu_seconds += part.simulator_cpu_seconds or 0.0


async def _phase(meter: ProcessMeter, server: ProcessMeter | None, count: int,
                 concurrency: int, job: Callable[[int], Awaitable[object]],
                 simulator: ProcessMeter | None = None,
                 on_done: Callable[[], None] = lambda: None) -> Phase:
    before = [m.cpu_seconds() if m else 0.0 for m in (meter, server, simulator)]
    started = time.perf_counter()
    failures = await asyncio.wait_for(run_bounded(count, job, concurrency, on_done=on_done),
                                      phase_timeout(count))
    seconds = time.perf_counter() - started
    for failure in failures[:3]:
        tqdm.write(f"  failed: {failure!r}")
    spent = [m.cpu_seconds() - b if m else None
             for m, b in zip((meter, server, simulator), before, strict=True)]
    return Phase(count, seconds, spent[0] or 0.0, 0, len(failures),
                 server_cpu_seconds=spent[1], simulator_cpu_seconds=spent[2])


async def _round_trips_of(client: Client, contender: Contender, sample_ids: list[str],
                          count: int) -> RoundTrips:
    return await round_trips.from_histories(client, sample_ids, contender.counter.calls, count)


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
