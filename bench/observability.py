"""``agora-flow bench observability``: what the metrics and the log line of one AGORA call
cost, against the client CPU of the call itself.

Each AGORA attempt records a counter, a latency histogram and one JSON log line (with the
context filter looking up the activity and the request id). The call is a real one, to the
simulator over HTTP (signed identity vector, zeep, requests); both are measured in the same
run, interleaved round by round, in thread CPU time, so a busy machine weighs on both alike.
"""

from __future__ import annotations

import logging
import os
import statistics
import time

from agora import messages
from agora.client import AgoraClient
from bench.dossiers import person
from bench.harness import Stack
from observability import correlation, logs, metrics

ROUNDS = 7


def run(calls_per_round: int = 60) -> list[str]:
    recorder = logging.getLogger("bench.observability")
    recorder.propagate = False
    recorder.setLevel(logging.INFO)
    token = correlation.request_id.set("bench-observability")  # as inside an activity
    try:
        with open(os.devnull, "w") as sink:
            handler = logs.handler("worker", "json", sink)
            recorder.addHandler(handler)
            try:
                call, record = _measure(recorder, calls_per_round)
            finally:
                recorder.removeHandler(handler)
    finally:
        correlation.request_id.reset(token)
    return [(f"client CPU per AGORA call {call * 1e3:.2f} ms; metrics and log line per call "
             f"{record * 1e6:.1f} µs (median of {ROUNDS} interleaved rounds of "
             f"{calls_per_round})"),
            f"RATIO recording/call {record / call:.3f}"]


def _measure(recorder: logging.Logger, calls_per_round: int) -> tuple[float, float]:
    """Median client CPU per call and per recording (seconds)."""
    with Stack() as stack:
        stack.start_simulator()
        client = AgoraClient(stack.settings)
        client.send(messages.CheckNirName(nir=person(0).nir, birth_name="X"))  # warm
        call_cpu, record_cpu = [], []
        for _ in range(ROUNDS):
            started = time.thread_time()
            for serial in range(calls_per_round):
                someone = person(serial)
                client.send(messages.CheckNirName(nir=someone.nir,
                                                  birth_name=someone.birth_name))
            call_cpu.append((time.thread_time() - started) / calls_per_round)
            started = time.thread_time()
            for _ in range(calls_per_round):
                _record(recorder)
            record_cpu.append((time.thread_time() - started) / calls_per_round)
    return statistics.median(call_cpu), statistics.median(record_cpu)


def _record(recorder: logging.Logger) -> None:
    """What ``activities.agora_calls`` does after each attempt."""
    metrics.agora_call("ControlerUniciteNirNom", metrics.ACKNOWLEDGED, time.perf_counter(), 1)
    recorder.info("AGORA call %s: %s%s", "ControlerUniciteNirNom", metrics.ACKNOWLEDGED, "",
                  extra={"agora_operation": "ControlerUniciteNirNom",
                         "agora_outcome": metrics.ACKNOWLEDGED, "fault_code": None})
