"""The product's own metrics, one ``prometheus_client`` registry per process.

Labels only ever carry bounded, impersonal values: an AGORA operation, an outcome, a fault
code from AGORA's vocabulary, an event kind from the lifecycles' lists, a state, a route
template, an email template, an incident severity. Never a dossier id, a user or a NIR.

Recording is a counter increment or a histogram observation (a lock-free-ish update of a
few floats): nothing here queries the store or blocks on I/O on the hot path. Gauges of
states (dossiers, markets, incidents) are set by a periodic refresh, never per call.

The engine's own metrics (workflow task and activity latencies, schedule-to-start, sticky
cache, pollers) come from the Temporal SDK's runtime on their own address
(``observability.engine``); held AGORA calls are counted by the workflows through the SDK's
replay-safe meter, so they show there too.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

from contracts import agora_reads
from state_models import dossier as dossier_model
from state_models import market as market_model
from state_models.backfill import RowClass

REGISTRY = CollectorRegistry(auto_describe=True)
# CPU, memory, open files of this process, as every Prometheus exporter offers.
ProcessCollector(registry=REGISTRY)

PREFIX = "agora_flow"

# Outcomes of an AGORA call, as the dashboard and the alerts name them.
ACKNOWLEDGED = "acknowledged"
BUSINESS_FAULT = "business_fault"
TRANSPORT_FAILURE = "transport_failure"
TIMEOUT = "timeout"
CUT_OFF = "cut_off"  # refused by the worker before sending: the link is cut off
OTHER = "other"  # a label value outside the bounded list it belongs to

AGORA_CALLS = Counter(
    f"{PREFIX}_agora_calls", "AGORA calls (each attempt) by operation and outcome; "
    "fault_code is AGORA's code for a business fault, empty otherwise.",
    ["operation", "outcome", "fault_code"], registry=REGISTRY)
AGORA_CALL_SECONDS = Histogram(
    f"{PREFIX}_agora_call_seconds", "Duration of an AGORA call attempt, by operation.",
    ["operation"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
AGORA_RETRIES = Counter(
    f"{PREFIX}_agora_retries", "AGORA call attempts after the first, by operation.",
    ["operation"], registry=REGISTRY)
AGORA_HELD = Counter(
    f"{PREFIX}_agora_calls_refused_while_cut_off",
    "AGORA calls the worker refused to send because the link is cut off (the workflow then "
    "holds them until reconnection).", ["operation"], registry=REGISTRY)
MAINTENANCE_WINDOW = Gauge(
    f"{PREFIX}_agora_maintenance_window",
    "1 while AGORA's maintenance window is open (calls are held), 0 otherwise.",
    registry=REGISTRY)

EVENTS = Counter(
    f"{PREFIX}_events", "Business events sent to a dossier or market, by kind and outcome "
    "(accepted, or the refusal's code).", ["object", "kind", "outcome"], registry=REGISTRY)
DOSSIERS = Gauge(f"{PREFIX}_dossiers", "Dossiers by state (from the store, refreshed "
                 "periodically).", ["state"], registry=REGISTRY)
MARKETS = Gauge(f"{PREFIX}_markets", "Markets by state (from the store, refreshed "
                "periodically).", ["state"], registry=REGISTRY)

INCIDENTS_OPEN = Gauge(f"{PREFIX}_incidents_open", "Open incidents by severity (refreshed "
                       "periodically).", ["severity"], registry=REGISTRY)
SLA_WORKING_SECONDS_LEFT = Gauge(
    f"{PREFIX}_incident_sla_working_seconds_left",
    "Working seconds left to the nearest SLA deadline of an open incident not yet fixed or "
    "worked around (negative once passed); absent when no such incident.", registry=REGISTRY)
CDC_NOTIFICATION_PENDING_SECONDS = Gauge(
    f"{PREFIX}_incident_cdc_notification_pending_seconds",
    "Seconds since detection of the oldest open incident the CDC has not been notified of; "
    "0 when none.", registry=REGISTRY)
EMAILS = Counter(f"{PREFIX}_emails", "Emails by template and outcome (sent, failed); "
                 "incident notifications are the incident templates.",
                 ["template", "outcome"], registry=REGISTRY)
VECTORS_SIGNED = Counter(f"{PREFIX}_identity_vectors_signed",
                         "Identity vectors (SAML assertions) signed by this process.",
                         registry=REGISTRY)

# A backfill campaign's rows, by the stage of the campaign they went through and what came
# of them there (README "The campaign"): each stage's outcomes are a closed list.
CLASSIFY, NIR_RESOLUTION, DEPOSIT, ACKNOWLEDGEMENT, OPEN_DOSSIERS = (
    "classify", "nir_resolution", "deposit", "acknowledgement", "open_dossiers")
BACKFILL_OUTCOMES: dict[str, frozenset[str]] = {
    CLASSIFY: frozenset(row_class.value for row_class in RowClass),
    # deposited: sent for resolution; then AGORA's answer per row, or the request refused whole.
    NIR_RESOLUTION: frozenset({"deposited", "found", "unknown", "several", "refused"}),
    DEPOSIT: frozenset({"deposited"}),
    # refused: the rows of a chunk AGORA refused whole.
    ACKNOWLEDGEMENT: frozenset({"accepted", "rejected", "refused"}),
    OPEN_DOSSIERS: frozenset({"started"}),
}
BACKFILL_ROWS = Counter(
    f"{PREFIX}_backfill_rows", "Backfill rows by campaign stage (classify, nir_resolution, "
    "deposit, acknowledgement, open_dossiers) and outcome there; counted once per campaign "
    "step, by the worker that did it.", ["stage", "outcome"], registry=REGISTRY)

HTTP_REQUESTS = Counter(f"{PREFIX}_http_requests", "API requests by method, route template "
                        "and status.", ["method", "route", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram(f"{PREFIX}_http_request_seconds", "API request duration by method "
                         "and route template.", ["method", "route"], registry=REGISTRY,
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

_EVENT_KINDS = {"dossier": frozenset(dossier_model.EVENTS) | {"creation"},
                "market": frozenset(market_model.EVENTS) | {"creation"},
                # A manager's consultation of AGORA (or DIF record), by its operation.
                "agora_read": frozenset(agora_reads.OPERATIONS)}


def bounded(value: str, allowed: frozenset[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``other``: a label never takes a value a
    caller typed."""
    return value if value in allowed else OTHER


def agora_call(operation: str, outcome: str, started: float, attempt: int,
               fault_code: str = "") -> None:
    """One AGORA call attempt ended (``started``: its ``time.perf_counter()``)."""
    AGORA_CALLS.labels(operation, outcome, fault_code).inc()
    AGORA_CALL_SECONDS.labels(operation).observe(time.perf_counter() - started)
    if attempt > 1:
        AGORA_RETRIES.labels(operation).inc()


def declare_agora_operations(operations: list[str]) -> None:
    """Every AGORA operation's series exist from start-up at 0, so that a rate over them
    (the dashboard, the failure-rate alert) is 0 rather than absent before the first call."""
    for operation in operations:
        AGORA_CALLS.labels(operation, ACKNOWLEDGED, "")
        AGORA_CALL_SECONDS.labels(operation)
        AGORA_RETRIES.labels(operation)
        AGORA_HELD.labels(operation)


def declare_backfill_stages() -> None:
    """Every backfill stage and outcome exists from start-up at 0 (a rate over them is 0, not
    absent, before the first campaign)."""
    for stage, outcomes in BACKFILL_OUTCOMES.items():
        for outcome in outcomes:
            BACKFILL_ROWS.labels(stage, outcome)


def backfill_rows(stage: str, outcome: str, rows: int) -> None:
    """``rows`` rows of a campaign went through ``stage`` with ``outcome``."""
    if rows:
        BACKFILL_ROWS.labels(stage, bounded(outcome, BACKFILL_OUTCOMES[stage])).inc(rows)


def event(object_kind: str, kind: str, outcome: str) -> None:
    """A business event answered by its workflow: ``accepted`` or the refusal's code."""
    EVENTS.labels(object_kind, bounded(kind, _EVENT_KINDS[object_kind]), outcome).inc()


def set_counts(gauge: Gauge, states: tuple[str, ...], counts: dict[str, int]) -> None:
    """Every known state gets a value, 0 included, so a state emptied shows 0, not stale."""
    for state in states:
        gauge.labels(state).set(counts.get(state, 0))
