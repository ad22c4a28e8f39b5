"""Lifecycles driven through the JSON API the way an impatient client drives it: every
creation and every event submitted two or three times with one ``Idempotency-Key``, some
copies at once, some after the client gave up waiting (a timeout) — for the chaos
scenario ``duplicate-submissions``. The audit (``bench.dossiers.audit``) then counts what
AGORA holds: one effect per event, one dossier per person."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx

from bench.dossiers import ACTION, LIFECYCLE, person

# What a copy may be: sent at the same time as the first, or after the first timed out.
CONCURRENT, AFTER_TIMEOUT = "concurrent", "after_timeout"
# Answers that are not final: the same request is sent again, with the same key (a 409
# only while the first copy still runs).
_RETRY_STATUSES = frozenset({503, 504})
_IN_PROGRESS = "IdempotencyKeyInProgress"
_MAX_SENDS = 60
_PAUSE_SECONDS = 0.5
_REGISTERED_WAIT_SECONDS = 120.0


def create_body(serial: int) -> dict[str, Any]:
    """The API's creation body for the bench's person ``serial`` on the bench's action."""
    return {"person": {k: v for k, v in dataclasses.asdict(person(serial)).items() if v is not None},
            "action": {k: v for k, v in dataclasses.asdict(ACTION).items() if v is not None}}


class ApiDriver:
    """Takes dossiers through their lifecycle over HTTP, every request duplicated."""

    def __init__(self, base_url: str, token: str, rng: random.Random) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=60,
                                       headers={"Authorization": f"Bearer {token}"})
        self._random = rng
        # Each event's delivery time (as bench.dossiers.Driver: creations not counted).
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.copies: Counter[str] = Counter()  # how each duplicate was sent
        self.replays = 0  # answers marked Idempotency-Replayed
        self.client_timeouts = 0
        # Every dossier id any copy of a person's creation answered: one each, or a duplicate.
        self.dossier_ids: dict[int, set[str]] = defaultdict(set)

    async def aclose(self) -> None:
        await self._http.aclose()

    def split_creations(self) -> int:
        """Creations whose copies answered more than one Region dossier."""
        return sum(len(ids) - 1 for ids in self.dossier_ids.values())

    def dossier_id(self, serial: int) -> str:
        return min(self.dossier_ids[serial]) if self.dossier_ids[serial] else f"never-created-{serial}"

    async def lifecycle(self, serial: int) -> None:
        created = await self.submit("/api/dossiers", create_body(serial))
        dossier_id = created["dossier_id"]
        await self._registered(dossier_id)
        for event, data in LIFECYCLE:
            started = time.perf_counter()
            await self.submit(f"/api/dossiers/{dossier_id}/events/{event}", data)
            self.latencies[event].append(time.perf_counter() - started)

    async def submit(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send ``body`` two or three times under one key; every copy's answer must be the
        first's. Returns the answer's JSON."""
        key = {"Idempotency-Key": uuid.uuid4().hex}
        copies = self._random.choice((2, 3))
        how = self._random.choice((CONCURRENT, AFTER_TIMEOUT))
        self.copies[how] += copies - 1
        if how == CONCURRENT:
            answers = await asyncio.gather(*(self._until_final(path, body, key) for _ in range(copies)))
        else:
            try:  # the client gives up before the answer comes; the request goes on
                await self._http.post(path, json=body, headers=key,
                                      timeout=self._random.uniform(0.01, 0.3))
            except httpx.TimeoutException:
                self.client_timeouts += 1
            answers = [await self._until_final(path, body, key) for _ in range(copies - 1)]
        first = answers[0]
        if any(a.content != first.content for a in answers):
            raise AssertionError(f"copies of one request answered differently: {path}")
        if path == "/api/dossiers":
            serial = _serial_of(body)
            self.dossier_ids[serial] |= {a.json()["dossier_id"] for a in answers}
        return first.json()

    async def _until_final(self, path: str, body: dict[str, Any], key: dict[str, str]) -> httpx.Response:
        """The same request again (same key) until its answer is final."""
        for _ in range(_MAX_SENDS):
            try:
                answer = await self._http.post(path, json=body, headers=key)
            except httpx.TransportError:
                await asyncio.sleep(_PAUSE_SECONDS)
                continue
            if answer.headers.get("idempotency-replayed") == "true":
                self.replays += 1
            if answer.status_code < 300:
                return answer
            in_progress = answer.status_code == 409 and _IN_PROGRESS in answer.text
            if answer.status_code not in _RETRY_STATUSES and not in_progress:
                raise AssertionError(f"{path} answered {answer.status_code}: {answer.text}")
            await asyncio.sleep(_PAUSE_SECONDS)
        raise AssertionError(f"{path} never answered for good")

    async def _registered(self, dossier_id: str) -> None:
        """Events follow AGORA's registration of the dossier (its first timeline entry)."""
        deadline = time.monotonic() + _REGISTERED_WAIT_SECONDS
        while time.monotonic() < deadline:
            detail = await self._http.get(f"/api/dossiers/{dossier_id}")
            if detail.status_code == 200 and detail.json()["timeline"]:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"{dossier_id} was never registered at AGORA")


def _serial_of(body: dict[str, Any]) -> int:
    return int(body["person"]["birth_name"].removeprefix("MARTINI"))
