"""The Temporal SDK's own telemetry: one runtime per process, serving the engine's metrics
(workflow task and activity latencies, schedule-to-start, sticky cache, pollers) in
Prometheus format on an address of its own, and forwarding the SDK core's log lines into
Python logging so they come out in the process's log format."""

from __future__ import annotations

import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from contracts.agora_link import HELD_SECONDS_METRIC

_runtimes: dict[str, Runtime] = {}


def runtime(metrics_address: str) -> Runtime:
    """The process's runtime serving engine metrics on ``metrics_address`` ("host:port"),
    built once per address (the SDK allows one Prometheus server per runtime)."""
    if metrics_address not in _runtimes:
        _runtimes[metrics_address] = Runtime(telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=metrics_address,
                                     # Conventional Prometheus names: counters end in
                                     # _total, durations are in seconds.
                                     counters_total_suffix=True, durations_as_seconds=True,
                                     # Held AGORA calls wait minutes to days, not milliseconds.
                                     histogram_bucket_overrides={
                                         HELD_SECONDS_METRIC:
                                             [1, 10, 60, 300, 900, 3600, 14400, 86400, 604800]}),
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core"))),
        ))
    return _runtimes[metrics_address]
