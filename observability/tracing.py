"""Optional OpenTelemetry spans: with ``AGORA_FLOW_OTLP_ENDPOINT`` set (an OTLP/HTTP
collector, e.g. ``http://127.0.0.1:4318``) and the ``otel`` extra installed, every client
built by ``temporal_client.connect`` carries the Temporal SDK's tracing interceptor, which
the worker also runs: workflow starts, updates, signals, workflow runs and activities become
spans exported to the collector. Without the extra it logs once that spans are off; the
rest of the product does not depend on it."""

from __future__ import annotations

import functools
import logging

from temporalio.client import Interceptor

log = logging.getLogger(__name__)


@functools.cache
def interceptors(otlp_endpoint: str, service_name: str = "agora-flow") -> tuple[Interceptor, ...]:
    """The tracing interceptor, its exporter set up once per process; none when no endpoint
    is configured or the packages are missing."""
    if not otlp_endpoint:
        return ()
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        log.warning("AGORA_FLOW_OTLP_ENDPOINT is set but the OpenTelemetry packages are "
                    "missing (pip install -e '.[otel]'): no spans exported")
        return ()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    return (TracingInterceptor(),)
