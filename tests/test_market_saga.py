"""A market place is reserved and the dossier started as one saga: a place whose dossier
never started is given back by the reconciliation (a Temporal Schedule's workflow)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from contracts.market import PlaceRequest
from contracts.reconcile import ReconcileReport, ReconcileRequest
from temporal_client.markets import release_place_if_not_started, reserve_place, view_market
from temporal_client.schedules import ensure_reconcile_schedule
from tests.api_helpers import create_payload
from tests.fixtures_api import ApiHandle
from tests.test_market_api import create_market
from workflows.reconcile import ReconcileWorkflow

pytestmark = pytest.mark.usefixtures("clean_simulator")


def _used(view, session_id: str) -> int:  # type: ignore[no-untyped-def]
    return next(s.places_used for s in view.sessions if s.session_id == session_id)


async def _reconcile(client: Client, api: ApiHandle) -> ReconcileReport:
    return await client.execute_workflow(
        ReconcileWorkflow.run, ReconcileRequest(api.settings.task_queue, grace_seconds=0),
        id=f"reconcile-{uuid.uuid4().hex[:8]}", task_queue=api.settings.task_queue)


async def test_a_place_whose_dossier_never_started_is_released_by_the_reconciliation(
        api: ApiHandle, temporal_env: WorkflowEnvironment) -> None:
    client = temporal_env.client
    async with api.client("marches") as manager:
        market_id = await create_market(manager)
    async with api.client("gestionnaire") as writer:  # a dossier that did start keeps its place
        created = await writer.post("/api/dossiers", json={**create_payload(), "market_id": market_id,
                                                            "session_id": "S1"})
        assert created.status_code == 201, created.text
    # The API reserved, then died before starting the dossier.
    await reserve_place(client, market_id, PlaceRequest("D-NEVERSTARTED", "S1"))
    assert _used(await view_market(client, market_id), "S1") == 2

    for _ in range(50):  # the market reaches the visibility store
        report = await _reconcile(client, api)
        if report.markets_checked:
            break
    released = [(p.market_id, p.dossier_id) for p in report.released]
    assert released == [(market_id, "D-NEVERSTARTED")]
    assert _used(await view_market(client, market_id), "S1") == 1
    again = await _reconcile(client, api)
    assert again.released == []  # nothing left to repair


async def test_the_saga_compensation_releases_only_a_dossier_that_never_started(
        api: ApiHandle, temporal_env: WorkflowEnvironment) -> None:
    client = temporal_env.client
    async with api.client("marches") as manager:
        market_id = await create_market(manager)
    async with api.client("gestionnaire") as writer:
        created = await writer.post("/api/dossiers", json={**create_payload(), "market_id": market_id,
                                                            "session_id": "S2"})
        started = created.json()["dossier_id"]
    await reserve_place(client, market_id, PlaceRequest("D-ORPHAN", "S3"))
    assert await release_place_if_not_started(client, market_id, "D-ORPHAN") is True
    assert await release_place_if_not_started(client, market_id, started) is False
    view = await view_market(client, market_id)
    assert (_used(view, "S2"), _used(view, "S3")) == (1, 0)


async def test_the_schedule_is_created_once(temporal_env: WorkflowEnvironment) -> None:
    client, schedule_id = temporal_env.client, f"reconcile-test-{uuid.uuid4().hex[:8]}"
    await ensure_reconcile_schedule(client, "test-queue", 3600, 600, schedule_id)
    await ensure_reconcile_schedule(client, "test-queue", 60, 600, schedule_id)  # a second worker
    handle = client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every.total_seconds() == 3600
    finally:
        await handle.delete()


async def test_a_failed_start_gives_the_place_and_the_person_back(
        api: ApiHandle, temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    """The saga's compensation in the API: the place was reserved, then the dossier's start
    failed (Temporal went away) — the place is released and the person may be created again."""
    from temporalio.service import RPCError, RPCStatusCode

    from api.dossiers import service

    async with api.client("marches") as manager:
        market_id = await create_market(manager)
    payload = {**create_payload(), "market_id": market_id, "session_id": "S1"}
    real_start = service.start_dossier

    async def start_fails(*args: object, **kwargs: object) -> None:
        raise RPCError("connexion perdue", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(service, "start_dossier", start_fails)
    async with api.client("gestionnaire") as writer:
        failed = await writer.post("/api/dossiers", json=payload)
        assert failed.status_code == 503, failed.text
        assert _used(await view_market(temporal_env.client, market_id), "S1") == 0
        monkeypatch.setattr(service, "start_dossier", real_start)
        again = await writer.post("/api/dossiers", json=payload)  # not a DossierExists
    assert again.status_code == 201, again.text
    assert _used(await view_market(temporal_env.client, market_id), "S1") == 1
