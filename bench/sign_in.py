"""``agora-flow bench sign-in``: does a storm of bad sign-ins slow everyone else down?

The API runs as its own process (as in production). A probe fetches a static file one
request after another, first on an idle API, then while 16 clients keep signing in with
a wrong password. The throttle is set out of reach for the run, so every attempt pays
for its Argon2 check (the worst case: an attacker spreading tries over many names and
addresses); with the throttle on, attempts past the fifth cost less still. The verdict
compares the probe's p50 under load with its idle p50 (target: at most 2×).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
import uuid

import httpx

from bench.harness import Stack

PROBE_PATH = "/static/style.css"
TARGET_RATIO = 2.0


@dataclasses.dataclass
class SignInReport:
    idle_p50_ms: float
    loaded_p50_ms: float
    loaded_p95_ms: float
    attempts: int
    attempt_p50_ms: float
    statuses: dict[int, int]

    @property
    def ratio(self) -> float:
        return self.loaded_p50_ms / self.idle_p50_ms

    def lines(self) -> list[str]:
        verdict = "met" if self.ratio <= TARGET_RATIO else "NOT met"
        return [
            f"static file p50 idle: {self.idle_p50_ms:.1f} ms",
            (f"static file during bad sign-ins: p50 {self.loaded_p50_ms:.1f} ms, "
            f"p95 {self.loaded_p95_ms:.1f} ms"),
            (f"bad sign-ins meanwhile: {self.attempts} (p50 {self.attempt_p50_ms:.0f} ms each), "
            f"answers {self.statuses}"),
            f"RATIO loaded/idle p50: {self.ratio:.2f} (target ≤ {TARGET_RATIO:g}: {verdict})",
        ]


async def _probe(http: httpx.AsyncClient, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        answer = await http.get(PROBE_PATH)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
    return latencies


async def _measure(base_url: str, username: str, samples: int, attackers: int) -> SignInReport:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as probe, \
            httpx.AsyncClient(base_url=base_url, timeout=60,
                              limits=httpx.Limits(max_connections=attackers)) as attack:
        await _probe(probe, 20)  # warm-up: connections, caches
        idle = await _probe(probe, samples)
        stop = asyncio.Event()
        attempts: list[float] = []
        statuses: dict[int, int] = {}

        async def attacker() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                answer = await attack.post("/api/token", data={"username": username,
                                                               "password": uuid.uuid4().hex})
                attempts.append(time.perf_counter() - started)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

        storm = [asyncio.create_task(attacker()) for _ in range(attackers)]
        await asyncio.sleep(1.0)  # the storm is on before the probe starts
        try:
            loaded = await _probe(probe, samples)
        finally:
            stop.set()
            await asyncio.gather(*storm)
    ms = [1000 * v for v in loaded]
    return SignInReport(
        idle_p50_ms=1000 * statistics.median(idle), loaded_p50_ms=statistics.median(ms),
        loaded_p95_ms=statistics.quantiles(ms, n=20)[-1], attempts=len(attempts),
        attempt_p50_ms=1000 * statistics.median(attempts), statuses=statuses)


def run(samples: int = 300, attackers: int = 16) -> SignInReport:
    with Stack() as stack:
        # Every attempt checks its password: the throttle is out of reach for this run.
        stack.settings = dataclasses.replace(stack.settings, sign_in_free_failures=1_000_000)
        username, password = "bench.gestionnaire", uuid.uuid4().hex
        base_url = stack.start_api(username, password)
        return asyncio.run(_measure(base_url, username, samples, attackers))
