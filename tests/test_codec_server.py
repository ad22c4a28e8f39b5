"""The codec endpoint for Temporal Web: sign-in, roles, masking, journal, CORS."""

from __future__ import annotations

import base64
import dataclasses
import json
import socket
import subprocess
import time
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

import devstack
from contracts.dossier import workflow_id_for
from settings import Settings
from state_models.validators import mask_nir
from store.models import NirUnmasking
from store.users import create_user
from tests.api_helpers import create_payload, registered
from tests.fixtures_api import PASSWORD, ApiHandle

UI_ORIGIN = "http://127.0.0.1:8233"


async def sealed_input(client: Client, api: ApiHandle) -> tuple[dict, list[dict[str, Any]]]:
    """A dossier created through the API, and its workflow's start input as Temporal Web
    sends it to the codec (JSON form, still sealed)."""
    payload = create_payload()
    async with api.client("gestionnaire") as http:
        created = await http.post("/api/dossiers", json=payload)
        assert created.status_code == 201, created.text
        await registered(http, created.json()["dossier_id"])
    history = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(namespace=client.namespace, execution=WorkflowExecution(
            workflow_id=workflow_id_for(created.json()["dossier_id"]))))
    started = history.history.events[0].workflow_execution_started_event_attributes
    return payload, [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                      "data": base64.b64encode(p.data).decode()} for p in started.input.payloads]


def plain(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    [payload] = answer.json()["payloads"]
    return json.loads(base64.b64decode(payload["data"]))


async def test_operators_read_payloads_with_identity_masked(temporal_client: Client, api: ApiHandle) -> None:
    person, payloads = await sealed_input(temporal_client, api)
    nir = person["person"]["nir"]
    assert nir not in json.dumps(payloads)
    body = {"payloads": payloads}
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        assert (await anonymous.post("/codec/decode", json=body)).status_code == 401
    async with api.client("gestionnaire") as manager:  # not an operator
        assert (await manager.post("/codec/decode", json=body)).status_code == 403
    async with api.client("operateur") as operator:
        seen = plain(await operator.post("/codec/decode", json=body,
                                         headers={"X-Namespace": api.settings.temporal_namespace}))
        assert (await operator.post("/codec/decode", json=body, headers={"X-Namespace": "autre"})
                ).status_code == 404
        assert (await operator.post("/codec/decode", json={"payloads": "x"})).status_code == 422
    assert seen["action"]["title"] == person["action"]["title"]  # readable
    assert seen["person"]["nir"] == mask_nir(nir)
    text = json.dumps(seen, ensure_ascii=False)
    for field in ("birth_name", "first_names", "birth_date", "email"):
        assert person["person"][field] not in text, field

    # The same through the UI's session cookie (Temporal Web with credentials included).
    async with httpx.AsyncClient(base_url=api.base_url) as browser:
        signed = await browser.post("/connexion", data={"username": "admin", "password": PASSWORD})
        assert signed.status_code in (200, 303), signed.text
        assert plain(await browser.post("/codec/decode", json=body))["person"]["nir"] == mask_nir(nir)


async def test_an_operator_who_may_unmask_sees_the_nir_and_it_is_journaled(
        temporal_client: Client, api: ApiHandle) -> None:
    with api.database.sessions.begin() as session:
        create_user(session, "operateur.audit", PASSWORD, ["operator", "auditor"])
    person, payloads = await sealed_input(temporal_client, api)
    async with api.client("operateur.audit") as http:
        seen = plain(await http.post("/codec/decode", json={"payloads": payloads}))
    assert seen["person"]["nir"] == person["person"]["nir"]
    assert seen["person"]["birth_name"] == person["person"]["birth_name"]
    with api.database.sessions() as session:
        journal = session.scalars(select(NirUnmasking).where(
            NirUnmasking.username == "operateur.audit")).all()
    assert [(j.channel, j.dossier_id) for j in journal] == [("codec", seen["dossier_id"])]


async def test_encode_then_decode_and_cors_for_temporal_web_only(api: ApiHandle) -> None:
    text = base64.b64encode(json.dumps({"note": "essai"}).encode()).decode()
    body = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                          "data": text}]}
    async with api.client("operateur") as http:
        sealed = await http.post("/codec/encode", json=body)
        assert sealed.status_code == 200
        assert base64.b64decode(sealed.json()["payloads"][0]["data"]) != base64.b64decode(text)
        assert plain(await http.post("/codec/decode", json=sealed.json())) == {"note": "essai"}
        for origin, allowed in ((UI_ORIGIN, True), ("http://evil.example", False)):
            preflight = await http.options("/codec/decode", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace"})
            assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
            answer = await http.post("/codec/decode", json=sealed.json(), headers={"Origin": origin})
            assert (answer.headers.get("access-control-allow-origin") == origin) is allowed


def test_the_dev_server_points_temporal_web_at_the_codec_endpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    settings = dataclasses.replace(Settings(), temporal_address=f"127.0.0.1:{ports[0]}",
                                   temporal_ui_port=ports[1], data_dir=tmp_path)
    server = subprocess.Popen(devstack.temporal_server_command(settings, None),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                shown = httpx.get(f"http://127.0.0.1:{ports[1]}/api/v1/settings", timeout=1).json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert shown["Codec"]["Endpoint"] == f"{settings.public_url}/codec"


def test_a_correction_of_an_identity_field_is_masked_too() -> None:
    from types import SimpleNamespace

    from api.codec.routes import _Masker

    reader = SimpleNamespace(role_codes={"operator"})
    masker = _Masker(None, reader)  # type: ignore[arg-type]  # an operator never journals
    payload = {"corrections": [{"name": "first_names", "value": "Anna Maria"},
                               {"name": "title", "value": "Soudure TIG"}],
               "reason": "rectification RGPD", "message": "prénom Anna Maria refusé"}
    masker.collect(payload)
    masked = masker.mask(payload)
    assert "Anna Maria" not in json.dumps(masked, ensure_ascii=False)
    assert masked["corrections"][1]["value"] == "Soudure TIG"
