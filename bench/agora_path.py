"""``agora-flow bench agora-path``: the cost of one AGORA call on each side, lever by lever.

Each lever is measured against its alternative in the same run, interleaved round by round
so that a busy machine weighs on both alike:

1. the client's HTTP session: requests' defaults (proxy variables and ~/.netrc read again on
   every call) against :func:`agora.client.build_session` (read once) — client CPU per call;
2. the connection pool with waves of 50 calls in flight: 32 connections against one per
   activity thread — connections opened, client and simulator CPU per call;
3. the simulator's cache of verified identity vectors: on against off — CPU per request;
4. the identity vector in the envelope: what the WS-Security plugin costs per call, against
   the whole call, and what copying a parsed assertion would save over parsing it;
5. the trace of each call (issue 13): the exchange recorded in the trace log — sealed under
   the dossier's person key, hash-chained, committed in a transaction of its own — against
   no trace; client CPU per call, SQLite's work included (it runs in the calling thread). An
   upper bound of what tracing costs a worker: there the trace shares the transaction that
   projects the call's outcome.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import statistics
import tempfile
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
from lxml import etree
from requests.adapters import HTTPAdapter

from agora import messages
from agora.client import AgoraClient, build_session
from agora.identity_vector import IdentityVectorFactory
from agora.pki import ensure_dev_pki, load_signing_identity
from agora.simulator.app import Simulator
from agora.simulator.config import SimulatorConfig
from agora.tracing import ExchangeContext
from agora.wsse import add_security_header
from bench.dossiers import AGORA_CALLS_PER_LIFECYCLE, person
from bench.harness import ProcessMeter, Stack
from contracts.dossier import workflow_id_for
from settings import Settings
from store.traces import TraceStore

ROUNDS = 7
CALLS_PER_ROUND = 60
IN_FLIGHT = 50
CONCURRENT_CALLS = 1000
REQUESTS_IN_PROCESS = 300


def run() -> list[str]:
    with Stack() as stack:
        stack.start_simulator()
        settings = stack.settings
        simulator = stack.meter("simulator")
        assert simulator is not None
        lines = [_session_lever(settings), *_pool_lever(settings, simulator),
                 _trace_lever(settings)]
    lines.append(_vi_cache_lever(settings))
    lines.append(_envelope_lever(settings))
    return lines


def _check(serial: int) -> messages.CheckNirName:
    someone = person(serial)
    return messages.CheckNirName(nir=someone.nir, birth_name=someone.birth_name)


def _requests_defaults(pool: int = 32) -> requests.Session:
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool))
    return session


def _session_lever(settings: Settings) -> str:
    variants = {"requests defaults": AgoraClient(settings, session=_requests_defaults()),
                "session built once": AgoraClient(settings, session=build_session(settings))}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for client in variants.values():
        client.send(_check(0))  # warm: connection, VI
    for _ in range(ROUNDS):
        for name, client in variants.items():
            started = time.thread_time()
            for serial in range(CALLS_PER_ROUND):
                client.send(_check(serial))
            samples[name].append((time.thread_time() - started) / CALLS_PER_ROUND)
    before, after = (statistics.median(v) for v in samples.values())
    return (f"client CPU per call, one at a time: requests defaults {before * 1e3:.2f} ms, "
            f"session built once {after * 1e3:.2f} ms: ratio {after / before:.2f} "
            f"(median of {ROUNDS} interleaved rounds of {CALLS_PER_ROUND})")


def _trace_lever(settings: Settings) -> str:
    with tempfile.TemporaryDirectory() as folder:
        traces = TraceStore(dataclasses.replace(
            settings, database_url=f"sqlite:///{folder}/traces.sqlite3"))
        variants = {"untraced": AgoraClient(settings, session=build_session(settings)),
                    "traced": AgoraClient(settings, session=build_session(settings),
                                          traces=traces)}
        # A dossier's eight calls go to one person's key, bound when its workflow started.
        dossiers = [f"BENCH-TRACE-{serial // AGORA_CALLS_PER_LIFECYCLE}"
                    for serial in range(ROUNDS * CALLS_PER_ROUND)]
        for dossier_id in set(dossiers):
            traces.person_keys.for_workflow(workflow_id_for(dossier_id))
        for client in variants.values():
            client.send(_check(0), "agent.bench")  # warm: connection, VI, trace log
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(ROUNDS):
            for name, client in variants.items():
                started = time.thread_time()
                for serial in range(round_ * CALLS_PER_ROUND, (round_ + 1) * CALLS_PER_ROUND):
                    client.send(_check(serial), "agent.bench",
                                ExchangeContext(dossier_id=dossiers[serial]))
                samples[name].append((time.thread_time() - started) / CALLS_PER_ROUND)
    untraced, traced = (statistics.median(v) for v in samples.values())
    return (f"client CPU per call, one at a time: untraced {untraced * 1e3:.2f} ms, traced "
            f"{traced * 1e3:.2f} ms: the trace costs {(traced - untraced) * 1e3:.2f} ms per "
            f"call, {(traced - untraced) * 1e3 * AGORA_CALLS_PER_LIFECYCLE:.1f} ms per lifecycle "
            f"of {AGORA_CALLS_PER_LIFECYCLE} calls (median of {ROUNDS} interleaved rounds of "
            f"{CALLS_PER_ROUND}; its own transaction: an upper bound)")


def _pool_lever(settings: Settings, simulator: ProcessMeter) -> list[str]:
    # urllib3 warns at each connection dropped by a full pool: they are counted instead.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    lines = []
    for pool in (32, settings.worker_activity_threads):
        session = build_session(dataclasses.replace(settings, worker_activity_threads=pool))
        client = AgoraClient(settings, session=session)
        client.send(_check(0))
        opened_before = _connections_opened(session, settings)
        cpu, sim_cpu, wall = time.process_time(), simulator.cpu_seconds(), time.perf_counter()
        with ThreadPoolExecutor(IN_FLIGHT) as pool_threads:
            # In waves, as a worker's activities come: all in flight, then all idle.
            for wave in range(0, CONCURRENT_CALLS, IN_FLIGHT):
                list(pool_threads.map(lambda i, c=client: c.send(_check(i)),
                                      range(wave, wave + IN_FLIGHT)))
        lines.append(
            f"waves of {IN_FLIGHT} calls in flight, pool of {pool}: "
            f"{_connections_opened(session, settings) - opened_before} connections opened for "
            f"{CONCURRENT_CALLS} calls; client CPU {_per_call(time.process_time() - cpu)}, "
            f"simulator CPU {_per_call(simulator.cpu_seconds() - sim_cpu)}, "
            f"{CONCURRENT_CALLS / (time.perf_counter() - wall):.0f} calls/s")
    return lines


def _connections_opened(session: requests.Session, settings: Settings) -> int:
    pools = session.get_adapter(settings.agora_url).poolmanager.pools
    # urllib3's pool container refuses plain iteration; keys() is its way.
    return sum(pools[key].num_connections for key in pools.keys())  # noqa: SIM118


def _per_call(seconds: float) -> str:
    return f"{seconds / CONCURRENT_CALLS * 1e3:.2f} ms/call"


def _vi_cache_lever(settings: Settings) -> str:
    """The simulator's whole request path in this process, with and without the cache."""
    config = SimulatorConfig.from_settings(settings, db_path=":memory:")
    cached, uncached = Simulator(config), Simulator(config)
    uncached.verifier._cache_size = 0  # verify every time, as before the cache
    client = AgoraClient(settings)
    envelope = client._zeep.create_message(client._service, "ControlerUniciteNirNom",
                                           **_check(1).to_agora())
    payload = etree.tostring(envelope)
    loop = asyncio.new_event_loop()
    samples: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for _ in range(ROUNDS):
            for name, simulator in (("off", uncached), ("on", cached)):
                started = time.thread_time()
                for _ in range(REQUESTS_IN_PROCESS // ROUNDS):
                    loop.run_until_complete(simulator.handle_soap(payload))
                samples[name].append((time.thread_time() - started) / (REQUESTS_IN_PROCESS // ROUNDS))
    finally:
        loop.close()
    off, on = (statistics.median(v) for v in samples.values())
    return (f"simulator CPU per request (parse, VI, XSD, rules, SQLite): VI cache off "
            f"{off * 1e3:.2f} ms, on {on * 1e3:.2f} ms: ratio {on / off:.2f}")


def _envelope_lever(settings: Settings) -> str:
    identity = load_signing_identity(ensure_dev_pki(settings.pki_dir, settings.application_id))
    factory = IdentityVectorFactory(settings, identity)
    vector = factory.vector_for("agent.bench")
    parsed = etree.fromstring(vector.xml)

    def plugin_work(assertion: Callable[[], etree._Element]) -> Callable[[], None]:
        def once() -> None:
            envelope = etree.Element("{http://schemas.xmlsoap.org/soap/envelope/}Envelope")
            add_security_header(envelope, assertion())
        return once

    parse = _micro(plugin_work(lambda: etree.fromstring(factory.vector_for("agent.bench").xml)))
    copied = _micro(plugin_work(lambda: copy.deepcopy(parsed)))
    return (f"identity vector into the envelope, per call: parsed from its bytes "
            f"{parse * 1e6:.1f} µs, copied from a parsed one {copied * 1e6:.1f} µs "
            f"(ratio {copied / parse:.2f}); no signing per call (one VI per user and lifetime)")


def _micro(work: Callable[[], None], number: int = 5000) -> float:
    return min(timeit.repeat(work, number=number, repeat=5)) / number
