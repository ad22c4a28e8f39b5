"""``agora-flow bench open-dossiers``: N dossiers left in ``entered``, as they stay for
months. What does the worker cost while they wait, and how long does an event take
to reach one of them (most are no longer in the worker's sticky cache)?"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass

from bench.dossiers import LIFECYCLE, TO_ENTERED, Driver, dossier_factory
from bench.harness import Stack
from bench.lifecycle import MB, _phase, ms, percentile
from contracts.dossier import RetryConfig

PROBES = 5  # events delivered to random waiting dossiers, one after the other


@dataclass
class OpenDossiersReport:
    dossiers: int
    ramp_seconds: float
    failures: int
    rss_before_bytes: int  # the worker with only warm-up behind it
    rss_waiting_bytes: int
    peak_rss_bytes: int
    sample_seconds: float
    waiting_cpu_seconds: float
    probe_seconds: list[float]

    def lines(self) -> list[str]:
        return [
            (f"{self.dossiers} dossiers in 'entered' after {self.ramp_seconds:.0f} s "
            f"({self.failures} failed)"),
            (f"worker RSS: {self.rss_before_bytes / MB:.0f} MB after warm-up, "
            f"{self.rss_waiting_bytes / MB:.0f} MB while they wait, peak {self.peak_rss_bytes / MB:.0f} MB"),
            (f"worker CPU while they wait: {self.waiting_cpu_seconds:.2f} CPU s over "
            f"{self.sample_seconds:.0f} s = {100 * self.waiting_cpu_seconds / self.sample_seconds:.1f}% "
            "of one core"),
            (f"one event to a random waiting dossier: p50 {ms(percentile(self.probe_seconds, 50))}, "
            f"max {ms(max(self.probe_seconds))} ({len(self.probe_seconds)} probes)"),
        ]


async def run(dossiers: int, concurrency: int, server: str | None = None,
              sample_seconds: float = 10.0) -> OpenDossiersReport:
    with Stack(server=server) as stack:
        stack.start_temporal()
        stack.start_simulator()
        client = await stack.connect()
        settings = stack.settings
        meter = stack.start_worker()
        await stack.wait_for_poller(client, settings.task_queue, meter.pid)
        make = dossier_factory(settings, uuid.uuid4().hex[:6], RetryConfig())
        driver = Driver(client, settings.task_queue)

        await driver.lifecycle(make(0), TO_ENTERED)  # warm-up
        rss_before = meter.rss_bytes()
        started = time.perf_counter()
        ramp = await _phase("dossiers to 'entered'", meter, dossiers, concurrency,
                            lambda i: driver.lifecycle(make(1 + i), TO_ENTERED))
        ramp_seconds = time.perf_counter() - started

        # Let the last projections and workflow tasks finish before watching the idle worker.
        await asyncio.sleep(2)
        cpu_before = meter.cpu_seconds()
        await asyncio.sleep(sample_seconds)
        waiting_cpu = meter.cpu_seconds() - cpu_before
        rss_waiting = meter.rss_bytes()

        pay, data = LIFECYCLE[2]
        probes = []
        for serial in random.sample(range(1, dossiers + 1), min(PROBES, dossiers)):
            dossier = make(serial)
            began = time.perf_counter()
            await driver.send(dossier.dossier_id, pay, data, 1, dossier.acting_user)
            probes.append(time.perf_counter() - began)
        return OpenDossiersReport(
            dossiers=dossiers, ramp_seconds=ramp_seconds, failures=ramp.failures,
            rss_before_bytes=rss_before, rss_waiting_bytes=rss_waiting,
            peak_rss_bytes=meter.peak_rss_bytes(), sample_seconds=sample_seconds,
            waiting_cpu_seconds=waiting_cpu, probe_seconds=probes,
        )
