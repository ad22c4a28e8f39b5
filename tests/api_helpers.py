"""Payloads and small waits shared by the API and browser tests."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
from sqlalchemy import delete

from store.db import Database
from store.exactly_once import IdempotencyKey
from tests import factories


def create_payload(**person_changes: Any) -> dict[str, Any]:
    person = dataclasses.asdict(factories.person())
    person.update(person_changes)
    return {"person": {k: v for k, v in person.items() if v is not None},
            "action": {k: v for k, v in dataclasses.asdict(factories.action()).items() if v is not None}}


async def create(client: httpx.AsyncClient, **person_changes: Any) -> str:
    response = await client.post("/api/dossiers", json=create_payload(**person_changes))
    assert response.status_code == 201, response.text
    return response.json()["dossier_id"]


async def registered(client: httpx.AsyncClient, dossier_id: str, timeout: float = 15) -> dict[str, Any]:
    """The dossier once its registration at AGORA was tried (the create entry is in the timeline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        detail = (await client.get(f"/api/dossiers/{dossier_id}")).json()
        if detail["timeline"]:
            return detail
        assert asyncio.get_running_loop().time() < deadline, detail
        await asyncio.sleep(0.1)


async def answer_not_final(database: Database, key: str, timeout: float = 15) -> None:
    """As if the request under ``key`` had answered 5xx: once its answer is remembered,
    forget it, so that a retry with the key runs again (what the middleware does with an
    answer that is not final)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        with database.sessions.begin() as session:
            if session.execute(delete(IdempotencyKey).where(
                    IdempotencyKey.key == key, IdempotencyKey.status.is_not(None))).rowcount:
                return
        assert asyncio.get_running_loop().time() < deadline, f"{key} never answered"
        await asyncio.sleep(0.05)
