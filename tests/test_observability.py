"""Issue 17: metrics, structured logs and correlation, end to end.

One stack (API served by uvicorn, a worker whose client serves the Temporal SDK's metrics,
the link workflow, the AGORA simulator, a real SMTP server) runs a dossier's whole lifecycle
through the API, a call AGORA refuses, a dossier held by a maintenance window and an
incident; then every log line of the run is scanned for the trainee's personal values, the
request ids are followed into the activities' lines and the AGORA traces, and every metric
the alert rules and the dashboard name is looked for where Prometheus would scrape it.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest
import pytest_asyncio
import yaml
from fastapi import FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

import temporal_client
import worker as agora_worker
from agora import operations
from api.app import create_app
from api.metrics import routes as metrics_routes
from api.server import server_options
from contracts.agora_link import GateConfig
from observability import correlation, engine, logs, metrics
from settings import Settings
from state_models.public_holidays import default_calendar
from store.db import Database
from store.production import problems
from temporal_client import gauges
from temporal_client.dossiers import create_dossier, view_dossier
from temporal_client.link import ensure_link_workflow, link_config_from_environment
from tests import api_helpers, factories
from tests.conftest import FAST_RETRY
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, ApiHandle, seed_users, serve_in_thread
from tests.fixtures_smtp import SmtpServer, start_smtp_server
from tests.test_agora_link import window_around_now
from tests.test_incident_api import eventually

OPS = Path(__file__).resolve().parent.parent / "ops"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class Stack:
    api: ApiHandle
    smtp: SmtpServer
    client: Client  # the worker's, serving the engine metrics
    engine_metrics_url: str


@pytest_asyncio.fixture(scope="module")
async def stack(temporal_env: WorkflowEnvironment, agora_settings: Settings,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    smtp = start_smtp_server()
    task_queue = f"observability-{uuid.uuid4().hex[:10]}"
    settings = dataclasses.replace(
        agora_settings, task_queue=task_queue, link_workflow_id=f"agora-link-{task_queue}",
        database_url=f"sqlite:///{tmp_path_factory.mktemp('obs') / 'api.sqlite3'}",
        smtp_host=smtp.config.host, smtp_port=smtp.config.port, incident_ticket_prefix="OBS",
        maintenance_windows=())
    target = temporal_env.client.service_client.config.target_host
    namespace = temporal_env.client.namespace

    async def connect() -> Client:
        return await temporal_client.connect(settings, target, namespace)

    app = create_app(settings, connect, retry=FAST_RETRY)
    database: Database = app.state.context.db
    seed_users(database)
    # Served as `agora-flow api` serves it: uvicorn's lines go through the process's logging.
    restore_libraries = route_libraries_as_a_process()
    base_url, server, thread = serve_in_thread(app, **server_options())
    engine_address = f"127.0.0.1:{free_port()}"
    # The worker's client as `agora-flow worker` builds it: the product's converter, the
    # request-id interceptor and a runtime serving the SDK's metrics.
    client = await temporal_client.connect(settings, target, namespace,
                                           metrics_address=engine_address)
    async with agora_worker.build_worker(client, settings):
        await ensure_link_workflow(client, task_queue, link_config_from_environment(settings),
                                   settings.link_workflow_id)
        yield Stack(ApiHandle(base_url, settings, database), smtp, client,
                    f"http://{engine_address}/metrics")
        await client.get_workflow_handle(settings.link_workflow_id).terminate()
    server.should_exit = True
    thread.join(timeout=5)
    restore_libraries()
    database.dispose()
    smtp.stop()


def route_libraries_as_a_process() -> Callable[[], None]:
    """Libraries' loggers routed as `observability.logs.configure` routes them in a product
    process, before its servers start (uvicorn decides whether to write access lines from
    the state it finds). Answers what puts them back."""
    libraries = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error",
                                                      "uvicorn.access", "httpx", "httpcore")]
    saved = [(lib, list(lib.handlers), lib.propagate, lib.level) for lib in libraries]
    logs.route_library_loggers()

    def restore() -> None:
        for lib, handlers, propagate, level in saved:
            lib.handlers[:], lib.propagate, lib.level = handlers, propagate, level

    return restore


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line of the test, as the processes write them (JSON, level INFO)."""
    captured = io.StringIO()
    handler = logs.handler("test", "json", captured)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def metric_names(exposition: str) -> set[str]:
    return set(metric_labels(exposition))


def metric_labels(exposition: str) -> dict[str, set[str]]:
    """Each sample name of an exposition and the label names its samples carry."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample_ in family.samples:
            found.setdefault(sample_.name, set()).update(sample_.labels)
    return found


# --- the whole run ----------------------------------------------------------------------


async def test_a_run_logs_no_personal_data_joins_up_and_is_measured(
        stack: Stack, clean_simulator: SimulatorHandle, log_lines: io.StringIO) -> None:
    marker = uuid.uuid4().hex[:8]
    person = {"birth_name": f"OBSNOM{marker.upper()}", "first_names": "Zéphyrine Ondine",
              "birth_date": "1979-11-23", "email": f"zephyrine.{marker}@exemple.fr"}
    payload = api_helpers.create_payload(**person)
    nir = payload["person"]["nir"]
    create_id, validate_id, search_id = f"c0ffee-{marker}", f"da7a-{marker}", f"5ea4c4-{marker}"
    before = {
        "ack": sample("agora_flow_agora_calls_total", operation="ValiderDossier",
                      outcome=metrics.ACKNOWLEDGED, fault_code=""),
        "fault": sample("agora_flow_agora_calls_total", operation="ValiderDossier",
                        outcome=metrics.BUSINESS_FAULT, fault_code=operations.FAULT_STATE),
        "accepted": sample("agora_flow_events_total", object="dossier", kind="validate",
                           outcome="accepted"),
        "refused": sample("agora_flow_events_total", object="dossier", kind="validate",
                          outcome=operations.FAULT_STATE),
        "latency": sample("agora_flow_agora_call_seconds_count", operation="ValiderDossier"),
        "sent": sample("agora_flow_emails_total", template="cdc_notification", outcome="sent"),
        "outage": sample("agora_flow_agora_calls_total", operation="EntrerEnFormation",
                         outcome=metrics.TRANSPORT_FAILURE, fault_code=""),
        "retries": sample("agora_flow_agora_retries_total", operation="EntrerEnFormation"),
    }

    async with stack.api.client("gestionnaire") as http:
        created = await http.post("/api/dossiers", json=payload,
                                  headers={correlation.HTTP_HEADER: create_id})
        assert created.status_code == 201, created.text
        assert created.headers[correlation.HTTP_HEADER] == create_id
        dossier_id = created.json()["dossier_id"]
        # AGORA refuses the validation once, quoting the holder as a careless provider might.
        clean_simulator.inject("soap_fault", operation="ValiderDossier", count=1,
                               fault_code=operations.FAULT_STATE,
                               message=f"Titulaire {nir} {person['birth_name']} "
                                       f"né le {person['birth_date']} : statut incompatible")
        refused = await http.post(f"/api/dossiers/{dossier_id}/events/validate",
                                  json=factories.LIFECYCLE[0][1])
        assert refused.status_code == 502
        # And is unavailable once at the entry: the call is retried.
        clean_simulator.inject("http503", operation="EntrerEnFormation", count=1)
        for event, data in factories.LIFECYCLE:
            headers = {correlation.HTTP_HEADER: validate_id} if event == "validate" else {}
            answer = await http.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data,
                                     headers=headers)
            assert answer.status_code == 200, (event, answer.text)
        assert answer.json()["state"] == "settled"
        # An id that could carry anything is not taken: a fresh one is made.
        page = await http.get("/api/dossiers", headers={correlation.HTTP_HEADER: nir})
        assert re.fullmatch(r"[0-9a-f]{32}", page.headers[correlation.HTTP_HEADER])
        # A search by name (and a NIR a client put in the query string): the access line
        # must hold neither.
        found = await http.get("/api/dossiers", params={"q": person["birth_name"], "nir": nir},
                               headers={correlation.HTTP_HEADER: search_id})
        assert found.status_code == 200 and found.json()["total"] == 1

    # A dossier whose first call falls in a (two-second) maintenance window: held, then sent.
    held = dataclasses.replace(factories.dossier(FAST_RETRY), link=GateConfig(
        [window_around_now(2.0)], stack.api.settings.link_workflow_id))
    await create_dossier(stack.client, held, stack.api.settings.task_queue)

    async def registered() -> bool:
        return (await view_dossier(stack.client, held.dossier_id)).registered

    await eventually(registered)

    ticket = f"OBS-{marker}"
    async with stack.api.client("operateur") as http:
        opened = await http.post("/api/incidents", json={
            "severity": "critical_major", "ticket": ticket,
            "description": "AGORA répond HTTP 500 sur ValiderDossier."})
        assert opened.status_code == 201, opened.text
    await stack.smtp.wait_for(lambda messages: any(ticket in m.subject for m in messages))

    # A name typed into a page's path, signed out: sent to the sign-in page, named nowhere.
    typed_id = f"7e11ed-{marker}"
    async with httpx.AsyncClient(base_url=stack.api.base_url) as anonymous:
        typed = await anonymous.get(f"/dossiers/{person['birth_name']}",
                                    headers={correlation.HTTP_HEADER: typed_id})
    assert typed.status_code == 303

    async def logged_last_request() -> bool:  # its access line is written once it has answered
        return typed_id in log_lines.getvalue()

    await eventually(logged_last_request)

    # --- logs: JSON lines, no personal value, the ids that join them up ---------------------
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert lines, "the run logged nothing"
    text = log_lines.getvalue()
    day, month, year = "23", "11", "1979"
    for value in (nir, person["birth_name"], "Zéphyrine", "Ondine", person["birth_date"],
                  f"{day}/{month}/{year}", f"{year}{month}{day}", person["email"]):
        assert value.lower() not in text.lower(), f"{value!r} is in a log line"
    assert all({"timestamp", "level", "process", "message"} <= line.keys() for line in lines)

    def agora_line(operation: str, outcome: str) -> dict[str, Any]:
        found = [line for line in lines if line.get("agora_operation") == operation
                 and line.get("agora_outcome") == outcome and line.get("dossier_id") == dossier_id]
        assert found, (operation, outcome)
        return found[-1]

    registration = agora_line("RechercherOuCreerDossier", metrics.ACKNOWLEDGED)
    assert registration["request_id"] == create_id
    assert registration["workflow_id"] == f"dossier-{dossier_id}" and registration["run_id"]
    assert registration["activity"] == "RechercherOuCreerDossier"
    assert agora_line("ValiderDossier", metrics.ACKNOWLEDGED)["request_id"] == validate_id
    refusal = agora_line("ValiderDossier", metrics.BUSINESS_FAULT)
    assert refusal["fault_code"] == operations.FAULT_STATE and refusal["level"] == "WARNING"

    # Access lines: one per request, JSON like the rest, with its request id and the route
    # template, never the query string.
    access = [line for line in lines if line["logger"] == "api.access"]
    search = [line for line in access if line.get("request_id") == search_id]
    assert [(line["http_method"], line["route"], line["status"]) for line in search] == [
        ("GET", "/api/dossiers", 200)]
    assert all("?" not in line["message"] and line["route"] and line["request_id"]
               for line in access)
    assert {line["status"] for line in access if line["request_id"] == create_id} == {201}
    assert {line["status"] for line in access if line["request_id"] == validate_id} == {200}
    events = [line for line in access if line["route"] == "/api/dossiers/{dossier_id}/events/{event}"]
    assert {line["dossier_id"] for line in events if line["status"] == 200} == {dossier_id}

    # --- the AGORA traces carry the same request ids ----------------------------------------
    async with stack.api.client("auditeur") as http:
        traced = (await http.get("/api/traces", params={"dossier_id": dossier_id})).json()
    by_operation = {(t["operation"], t["outcome"]): t["correlation_id"] for t in traced}
    assert by_operation[("RechercherOuCreerDossier", "acknowledged")] == create_id
    assert by_operation[("ValiderDossier", "acknowledged")] == validate_id
    registration_trace = next(t["id"] for t in traced
                              if t["operation"] == "RechercherOuCreerDossier")
    async with httpx.AsyncClient(base_url=stack.api.base_url, timeout=30) as browser:
        await browser.post("/connexion", data={"username": "auditeur", "password": PASSWORD})
        trace_page = await browser.get(f"/traces/{registration_trace}")
    assert trace_page.status_code == 200 and create_id in trace_page.text

    # --- business metrics, in process and on the API's /metrics -----------------------------
    assert sample("agora_flow_agora_calls_total", operation="ValiderDossier",
                  outcome=metrics.ACKNOWLEDGED, fault_code="") == before["ack"] + 1
    assert sample("agora_flow_agora_calls_total", operation="ValiderDossier",
                  outcome=metrics.BUSINESS_FAULT,
                  fault_code=operations.FAULT_STATE) == before["fault"] + 1
    assert sample("agora_flow_agora_call_seconds_count",
                  operation="ValiderDossier") == before["latency"] + 2
    assert sample("agora_flow_events_total", object="dossier", kind="validate",
                  outcome="accepted") == before["accepted"] + 1
    assert sample("agora_flow_events_total", object="dossier", kind="validate",
                  outcome=operations.FAULT_STATE) == before["refused"] + 1
    assert sample("agora_flow_emails_total", template="cdc_notification",
                  outcome="sent") == before["sent"] + 1
    assert sample("agora_flow_agora_calls_total", operation="EntrerEnFormation",
                  outcome=metrics.TRANSPORT_FAILURE, fault_code="") == before["outage"] + 1
    assert sample("agora_flow_agora_retries_total",
                  operation="EntrerEnFormation") == before["retries"] + 1
    async with httpx.AsyncClient(base_url=stack.api.base_url) as anonymous:
        scraped = await anonymous.get("/metrics")
    assert scraped.status_code == 200
    assert 'route="/api/dossiers/{dossier_id}/events/{event}"' in scraped.text
    # Labels never carry a dossier id, a request id or a person's value.
    for value in (dossier_id, held.dossier_id, create_id, nir, person["birth_name"]):
        assert value not in scraped.text

    # --- state gauges, refreshed as the worker does -----------------------------------------
    year_now = datetime.now(UTC).year
    await gauges.refresh(stack.client, stack.api.database, stack.api.settings,
                         default_calendar(range(year_now, year_now + 2)))
    assert sample("agora_flow_dossiers", state="settled") >= 1
    assert sample("agora_flow_incidents_open", severity="critical_major") >= 1
    left = sample("agora_flow_incident_sla_working_seconds_left")
    assert 0 < left <= 11 * 3600
    assert sample("agora_flow_agora_maintenance_window") == 0

    # --- engine metrics of the worker, and what the alert rules and the dashboard name ------
    async with httpx.AsyncClient() as http:
        engine_text = (await http.get(stack.engine_metrics_url)).text
    engine_names = metric_names(engine_text)
    assert {"temporal_num_pollers", "temporal_workflow_task_execution_latency_bucket",
            "temporal_activity_schedule_to_start_latency_bucket", "temporal_sticky_cache_size",
            "agora_flow_agora_held_calls_total"} <= engine_names
    assert re.search(r'agora_flow_agora_held_calls_total\{[^}]*reason="maintenance"', engine_text)
    labels = metric_labels(engine_text) | metric_labels(generate_latest(metrics.REGISTRY).decode())
    for source, expressions in (("alerts", alert_expressions()),
                                ("dashboard", dashboard_expressions())):
        for expression in expressions:
            names = promql_metric_names(expression)
            missing = names - labels.keys() - PROMETHEUS_OWN
            assert not missing, (source, expression, missing)
            # Every label grouped on or matched is one these metrics carry.
            known = set().union(*(labels.get(name, set()) for name in names)) | TARGET_LABELS
            assert promql_label_names(expression) <= known, (source, expression, known)


async def test_the_dossier_page_shows_the_ids_that_join_it_to_temporal_and_the_logs(
        stack: Stack, clean_simulator: SimulatorHandle) -> None:
    async with stack.api.client("gestionnaire") as http:
        dossier_id = await api_helpers.create(http)
    async with httpx.AsyncClient(base_url=stack.api.base_url, timeout=30) as browser:
        signed_in = await browser.post("/connexion", data={"username": "gestionnaire",
                                                           "password": PASSWORD})
        assert signed_in.status_code == 303
        page = await browser.get(f"/dossiers/{dossier_id}",
                                 headers={correlation.HTTP_HEADER: "0000-ba9e-0001"})
    assert page.status_code == 200
    settings = stack.api.settings
    link = (f'href="{settings.temporal_web_url}/namespaces/{settings.temporal_namespace}'
            f'/workflows/dossier-{dossier_id}"')
    assert link in page.text and f"<code>dossier-{dossier_id}</code>" in page.text
    assert "<code>0000-ba9e-0001</code>" in page.text


# --- the alert rules and the dashboard ------------------------------------------------------

PROMETHEUS_OWN = {"up"}  # what Prometheus itself records about its targets
TARGET_LABELS = {"instance", "job"}  # what Prometheus adds to every scraped sample
_FUNCTIONS = {"sum", "min", "max", "avg", "count", "rate", "increase", "irate", "absent",
              "histogram_quantile", "by", "without", "on", "ignoring", "unless", "and", "or",
              "group_left", "group_right", "bool", "offset", "topk", "bottomk", "time",
              "clamp_min", "clamp_max", "abs", "vector", "scalar"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_expressions() -> list[str]:
    return [rule["expr"] for rule in alert_rules()]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((OPS / "grafana" / "agora-flow.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def promql_metric_names(expression: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers that are neither a function,
    a keyword, a label name (inside braces or a by/on list), a duration nor in a string."""
    text = re.sub(r'"[^"]*"', '""', expression)  # string contents out
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers out
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", r"\1()", text)  # grouping labels
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # range durations out
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - _FUNCTIONS
    return {name for name in names if not re.fullmatch(r"\d+[smhdwy]?", name)}


def promql_label_names(expression: str) -> set[str]:
    """The labels an expression groups on (by/on/…) or matches ({name="…"})."""
    text = re.sub(r'"[^"]*"', '""', expression)
    grouped = {label.strip() for clause in re.findall(
        r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text)
        for label in clause.split(",") if label.strip()}
    matched = set(re.findall(r"[{,]\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=|!=|=~|!~)", text))
    return grouped | matched


def check_promql(expression: str) -> None:
    """What can be checked here without Prometheus: brackets balanced and nested, label
    matchers well formed, an operator between operands, a range on every rate/increase."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"[^"]*"', '""', expression):
        if char in "([{":
            stack.append(char)
        elif char in pairs:
            assert stack and stack.pop() == pairs[char], expression
    assert not stack, expression
    for matchers in re.findall(r"\{([^}]*)\}", expression):
        for matcher in filter(None, (m.strip() for m in matchers.split(","))):
            assert re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"[^"]*"', matcher), matcher
    for function in ("rate", "increase"):
        for argument in re.findall(rf"\b{function}\(([^()]*)\)", expression):
            assert re.search(r"\[\d+[smhd]\]$", argument.strip()), (function, argument)
    assert not re.search(r"[a-z_]\s+[a-z_][a-z_]*\s*[({]", re.sub(
        r"\b(by|without|on|ignoring|unless|and|or|bool)\b", " OP ", expression)), expression


def test_the_alert_rules_are_well_formed() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "AgoraFailureRateHigh", "IncidentCdcNotNotified", "IncidentSlaDeadlineNear",
        "WorkerWithoutPollers"}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"\d+[smh]", rule["for"]) and rule["labels"]["severity"]
        assert rule["annotations"]["summary"]
        check_promql(rule["expr"])
    by_name = {rule["alert"]: rule["expr"] for rule in rules}
    # The thresholds the issue sets: 1 h 30 without notification, one working hour left.
    assert "> 5400" in by_name["IncidentCdcNotNotified"]
    assert "< 3600" in by_name["IncidentSlaDeadlineNear"]
    assert "agora_flow_agora_maintenance_window" in by_name["AgoraFailureRateHigh"]
    for expression in dashboard_expressions():
        check_promql(expression)


@pytest.mark.parametrize("broken", [
    "sum(rate(agora_flow_agora_calls_total[5m])",  # a bracket left open
    'agora_flow_agora_calls_total{outcome=acknowledged}',  # a matcher's value unquoted
    "rate(agora_flow_agora_calls_total)",  # a rate without its range
])
def test_the_promql_check_catches_a_broken_expression(broken: str) -> None:
    with pytest.raises(AssertionError):
        check_promql(broken)


def test_label_names_are_read_out_of_an_expression() -> None:
    assert promql_label_names(
        'sum by (instance, worker_type) (rate(x_total{outcome!~"a|b", operation="y"}[5m])) '
        "unless on() z") == {"instance", "worker_type", "outcome", "operation"}


def test_metric_names_are_read_out_of_an_expression() -> None:
    assert promql_metric_names(
        'sum by (operation) (rate(agora_flow_agora_calls_total{outcome="x"}[5m])) '
        "unless on() (max(agora_flow_agora_maintenance_window) == 1)") == {
        "agora_flow_agora_calls_total", "agora_flow_agora_maintenance_window"}


# --- pieces -----------------------------------------------------------------------------------


def test_an_incoming_request_id_is_kept_only_when_plain() -> None:
    kept = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    assert correlation.from_http(kept) == kept
    for bad in (None, "", "short", "a" * 65, "bad id with spaces", "x\nforged line",
                "1850775123456/89", "1850775123456" + "89", "a-185077512345689",
                "dupont-jean-1985", "req-2026-12-06.0001"):
        assert re.fullmatch(r"[0-9a-f]{32}", correlation.from_http(bad)), bad


def test_an_activity_line_names_its_workflow_dossier_and_request() -> None:
    captured = io.StringIO()
    test_logger = logging.getLogger("tests.observability")
    handler = logs.handler("worker", "json", captured)
    test_logger.addHandler(handler)
    test_logger.setLevel(logging.INFO)
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id="dossier-D-42",
                                           workflow_run_id="run-1", activity_type="ValiderDossier")

    def activity_body() -> None:
        test_logger.info("AGORA call", extra={"agora_operation": "ValiderDossier",
                                              "agora_outcome": "acknowledged"})

    token = correlation.request_id.set("req-0000-test")
    try:
        environment.run(activity_body)
        test_logger.info("outside any activity")
    finally:
        correlation.request_id.reset(token)
        test_logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in captured.getvalue().splitlines())
    assert inside["process"] == "worker" and inside["level"] == "INFO"
    assert (inside["workflow_id"], inside["run_id"], inside["activity"], inside["dossier_id"],
            inside["request_id"], inside["agora_operation"], inside["agora_outcome"]) == (
        "dossier-D-42", "run-1", "ValiderDossier", "D-42", "req-0000-test", "ValiderDossier",
        "acknowledged")
    assert "workflow_id" not in outside and "dossier_id" not in outside


def test_text_format_for_a_terminal() -> None:
    captured = io.StringIO()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "AGORA call %s", ("op",), None)
    record.agora_outcome = "timeout"
    logs.handler("api", "text", captured).handle(record)
    assert "WARNING x: AGORA call op" in captured.getvalue()
    assert "agora_outcome=timeout" in captured.getvalue()
    with pytest.raises(ValueError):
        logs.handler("api", "xml")


def test_event_kinds_outside_the_lifecycles_are_one_label() -> None:
    before = sample("agora_flow_events_total", object="dossier", kind="other", outcome="x")
    metrics.event("dossier", "typed-by-someone-1", "x")
    metrics.event("dossier", "typed-by-someone-2", "x")
    assert sample("agora_flow_events_total", object="dossier", kind="other",
                  outcome="x") == before + 2


def _scrape_app(**restrictions: Any) -> FastAPI:
    app = FastAPI()
    app.state.context = SimpleNamespace(settings=dataclasses.replace(Settings(), **restrictions))
    app.include_router(metrics_routes.router)
    return app


async def _scrape(app: FastAPI, client_host: str, headers: dict[str, str] | None = None) -> int:
    transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        return (await http.get("/metrics", headers=headers)).status_code


async def test_metrics_can_be_restricted_by_address_and_token() -> None:
    assert await _scrape(_scrape_app(), "203.0.113.9") == 200  # unrestricted by default
    by_address = _scrape_app(metrics_allowed_addresses=("10.1.0.0/16", "127.0.0.1"))
    assert await _scrape(by_address, "10.1.2.3") == 200
    assert await _scrape(by_address, "127.0.0.1") == 200
    assert await _scrape(by_address, "10.2.0.1") == 403
    by_token = _scrape_app(metrics_token="jeton-de-collecte")
    assert await _scrape(by_token, "10.2.0.1") == 401
    assert await _scrape(by_token, "10.2.0.1", {"Authorization": "Bearer autre"}) == 401
    assert await _scrape(by_token, "10.2.0.1",
                         {"Authorization": "Bearer jeton-de-collecte"}) == 200


def test_check_config_flags_metrics_open_to_anyone_in_production(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    for name, value in {"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}",
                        "DATA_DIR": str(tmp_path), "METRICS_ALLOWED_ADDRESSES": "",
                        "METRICS_TOKEN": "", "WORKER_METRICS_ADDRESS": "0.0.0.0:9464",
                        "WORKER_BUSINESS_METRICS_ADDRESS": "10.1.2.3:9466",
                        "API_ENGINE_METRICS_ADDRESS": "[::]:9465"}.items():
        monkeypatch.setenv(f"AGORA_FLOW_{name}", value)
    with pytest.raises(SystemExit):
        main(["check-config"])
    out = capsys.readouterr().out
    assert "les métriques de l'API (/metrics) sont ouvertes à tous" in out
    flagged = re.findall(r"toutes les interfaces, sans jeton possible \(AGORA_FLOW_(\w+)=", out)
    assert flagged == ["WORKER_METRICS_ADDRESS", "API_ENGINE_METRICS_ADDRESS"]

    def metric_problems(**changes: Any) -> list[str]:
        settings = dataclasses.replace(Settings(), **changes)
        return [problem.french for problem in problems(settings) if "métriques" in problem.french]

    restricted = {"worker_metrics_address": "10.1.2.3:9464", "api_engine_metrics_address": "",
                  "worker_business_metrics_address": "127.0.0.1:9466"}
    # Either restriction closes the API's endpoint; a specific or empty address is no finding.
    assert metric_problems(**restricted, metrics_token="jeton") == []
    assert metric_problems(**restricted, metrics_allowed_addresses=("10.1.0.0/16",)) == []
    assert len(metric_problems(**restricted)) == 1


def test_one_engine_runtime_per_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    assert engine.runtime(address) is engine.runtime(address)


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it receives."""

    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


async def test_spans_go_to_the_otlp_endpoint_when_one_is_configured(
        temporal_env: WorkflowEnvironment, agora_settings: Settings, task_queue: str,
        clean_simulator: SimulatorHandle) -> None:
    from opentelemetry import trace

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    settings = dataclasses.replace(
        agora_settings, otlp_endpoint=f"http://127.0.0.1:{collector.server_address[1]}")
    client = await temporal_client.connect(
        settings, temporal_env.client.service_client.config.target_host,
        temporal_env.client.namespace)
    try:
        async with agora_worker.build_worker(client, settings, task_queue=task_queue):
            dossier = factories.dossier(FAST_RETRY)
            await create_dossier(client, dossier, task_queue)
    finally:
        # Everything sent while the collector listens; the process exports nothing more.
        trace.get_tracer_provider().shutdown()
        collector.shutdown()
    sent = b"".join(body for path, body in _Collector.received if path == "/v1/traces")
    for span in (b"StartUpdateWithStartWorkflow:DossierWorkflow", b"RunWorkflow:DossierWorkflow",
                 b"RunActivity:RechercherOuCreerDossier"):
        assert span in sent, span


def test_the_command_takes_a_log_format() -> None:
    import cli

    assert cli.build_parser().parse_args(["--log-format", "text", "worker"]).log_format == "text"
    assert cli.build_parser().parse_args(["worker"]).log_format is None  # the process's default
    assert "worker" in cli.SERVICES and "check-config" not in cli.SERVICES
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--log-format", "xml", "worker"])


def test_logging_is_set_up_once_and_leaves_a_host_s_handlers_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    first, second = io.StringIO(), io.StringIO()
    logs.configure("worker", "json", stream=first)
    logs.configure("worker", "text", stream=second)  # replaces its own earlier handler
    logging.getLogger("tests.observability.setup").info("une ligne")
    assert first.getvalue() == "" and "INFO tests.observability.setup: une ligne" in second.getvalue()
    host = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [host])
    logs.configure("worker", "json", stream=first)
    assert root.handlers == [host]
