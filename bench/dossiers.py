"""Dossiers driven the way the API drives them (``temporal_client.dossiers``), and the audit of
what AGORA (the simulator) recorded: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from agora import operations
from agora.messages import Person, TrainingAction
from bench.agora_admin import AgoraAdmin
from contracts.agora_link import GateConfig
from contracts.dossier import (
    OUTCOME_ACKNOWLEDGED,
    OUTCOME_REPLAY,
    DossierInput,
    DossierView,
    EscalationConfig,
    EventRequest,
    RetryConfig,
    workflow_id_for,
)
from settings import Settings
from state_models.public_holidays import default_calendar
from state_models.validators import nir_key
from temporal_client.dossiers import EventRefused, create_dossier, send_event, view_dossier

# create (NIR check + find-or-create) → validate → enter → pay → pay → exit → settle
LIFECYCLE: list[tuple[str, dict]] = [
    ("validate", {"validation_date": "2026-01-02"}),
    ("enter", {"entry_date": "2026-01-05", "job_seeker_since": "2025-06-01"}),
    ("pay", {"payment_date": "2026-01-31", "amount": "652.02"}),
    ("pay", {"payment_date": "2026-02-28", "amount": "652.02"}),
    ("exit", {"exit_date": "2026-06-30", "reason": "fin de formation"}),
    ("settle", {"settlement_date": "2026-07-15", "amount_paid": "1304.04"}),
]
TO_ENTERED = LIFECYCLE[:2]
# What AGORA must hold, exactly once, for each settled dossier (the NIR check is a read).
EXPECTED_EFFECTS = Counter({
    "RechercherOuCreerDossier": 1, "ValiderDossier": 1, "EntrerEnFormation": 1,
    "DeclarerRemuneration": 2, "SortirDeFormation": 1, "SolderAction": 1,
})
# At start, before any event: the NIR check and the find-or-create registration.
CALLS_AT_START = 2
AGORA_CALLS_PER_LIFECYCLE = CALLS_AT_START + len(LIFECYCLE)
ACTING_USERS = tuple(f"agent.{n:02d}" for n in range(1, 11))
_APPLIED = (OUTCOME_ACKNOWLEDGED, OUTCOME_REPLAY)
# Bounds on one event's delivery when Temporal itself is unreachable (a server restart).
_DELIVERY_ATTEMPTS = 60
_RPC_PAUSE_SECONDS = 1.0


def person(serial: int) -> Person:
    """A valid, distinct person per serial (below one million)."""
    base = (f"1{85 + serial % 10:02d}{1 + serial % 12:02d}2A"
            f"{serial % 1000:03d}{1 + serial // 1000 % 999:03d}")
    return Person(nir=f"{base}{nir_key(base):02d}", birth_name=f"MARTINI{serial}",
                  first_names="Anna Maria", birth_date="1985-03-14", sex="1")


ACTION = TrainingAction(
    siret="73282932000074", action_id="AF-BENCH-001", title="Titre professionnel Soudeur",
    duration_hours=420, start_date="2026-01-05", end_date="2026-06-30",
    certification_code="RNCP35987",
)


def dossier_factory(settings: Settings, run_id: str, retry: RetryConfig,
                    acting_users: tuple[str, ...] = ACTING_USERS) -> Callable[[int], DossierInput]:
    """Inputs as the API builds them: its retry policy, the link's gate, reminder clocks
    on the working-hour calendar (so payloads have their real size)."""
    year = datetime.now(UTC).year
    escalation = EscalationConfig(calendar=default_calendar(range(year, year + 3)))
    link = GateConfig(maintenance_windows=[], link_workflow_id=settings.link_workflow_id)

    def make(serial: int) -> DossierInput:
        return DossierInput(dossier_id=f"B-{run_id}-{serial:06d}", person=person(serial),
                            action=ACTION, acting_user=acting_users[serial % len(acting_users)],
                            retry=retry, link=link, escalation=escalation)

    return make


class Driver:
    """Takes dossiers through events with ``temporal_client.dossiers``; records each event's latency."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.rpc_retries = 0

    async def lifecycle(self, dossier: DossierInput, events: list[tuple[str, dict]] = LIFECYCLE,
                        on_view: Callable[[DossierView], None] = lambda _: None) -> DossierView:
        """Create, then send ``events``; ``on_view`` sees the view the creation and each event
        returned."""
        on_view(await self.create(dossier))
        seen: Counter[str] = Counter()
        view: DossierView | None = None
        for event, data in events:
            seen[event] += 1
            view = await self.send(dossier.dossier_id, event, data, seen[event],
                                   dossier.acting_user)
            on_view(view)
        assert view is not None
        return view

    async def create(self, dossier: DossierInput) -> DossierView:
        for _ in range(_DELIVERY_ATTEMPTS):
            try:
                # Safe to resend: a second creation of the same id answers the first.
                return await create_dossier(self._client, dossier, self._task_queue)
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                self.rpc_retries += 1
                await asyncio.sleep(_RPC_PAUSE_SECONDS)
        raise RuntimeError(f"could not start {dossier.dossier_id}")

    async def send(self, dossier_id: str, event: str, data: dict, occurrence: int,
                   acting_user: str | None) -> DossierView:
        """Deliver the ``occurrence``-th ``event`` once. If Temporal cannot be reached, the
        update may or may not have been applied: look before resending, never pay twice."""
        started = time.perf_counter()
        request = EventRequest(event, acting_user=acting_user, data=data)
        for _ in range(_DELIVERY_ATTEMPTS):
            try:
                view = await send_event(self._client, dossier_id, request)
                self.latencies[event].append(time.perf_counter() - started)
                return view
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                self.rpc_retries += 1
                await asyncio.sleep(_RPC_PAUSE_SECONDS)
            except EventRefused as refused:
                if refused.kind != "IllegalEvent":
                    raise
                # Refused because the first delivery was applied after all.
            view = await self._quiet_view(dossier_id)
            if view is not None and _applied(view, event) >= occurrence:
                return view
        raise RuntimeError(f"could not deliver {event} to {dossier_id}")

    async def _quiet_view(self, dossier_id: str) -> DossierView | None:
        """The view once the workflow has nothing in flight (no workflow task, no AGORA
        call), so that "not applied" means the update was lost, not that it is running."""
        handle = self._client.get_workflow_handle(workflow_id_for(dossier_id))
        for _ in range(_DELIVERY_ATTEMPTS):
            try:
                raw = (await handle.describe()).raw_description
                busy = raw.HasField("pending_workflow_task") or any(
                    a.activity_type.name in operations.BY_SOAP_NAME for a in raw.pending_activities)
                if not busy:
                    return await view_dossier(self._client, dossier_id)
            except RPCError:
                self.rpc_retries += 1
            await asyncio.sleep(_RPC_PAUSE_SECONDS)
        return None


def _applied(view: DossierView, event: str) -> int:
    return sum(1 for h in view.history if h.event == event and h.outcome in _APPLIED)


async def run_bounded(count: int, job: Callable[[int], Awaitable[object]], concurrency: int,
                      on_done: Callable[[], None] = lambda: None) -> list[BaseException]:
    """``job(0..count-1)`` with at most ``concurrency`` at a time; the failures, not raised."""
    gate = asyncio.Semaphore(concurrency)
    failures: list[BaseException] = []

    async def one(index: int) -> None:
        async with gate:
            try:
                await job(index)
            except Exception as error:  # noqa: BLE001 — any failure is counted and reported by the caller
                failures.append(error)
            finally:
                on_done()

    await asyncio.gather(*(one(i) for i in range(count)))
    return failures


@dataclass
class Audit:
    """Nothing lost: every dossier's workflow ended ``settled`` and AGORA holds each of its
    effects. Nothing duplicated: one AGORA dossier per person+action and per dossier, and
    exactly the expected effects per transition."""

    dossiers: int
    lost: list[str] = field(default_factory=list)
    duplicated_effects: int = 0
    duplicated_dossiers: int = 0

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated_effects and not self.duplicated_dossiers


async def audit(client: Client, agora: AgoraAdmin, dossier_ids: Iterable[str],
                timeout_seconds: float) -> Audit:
    """Waits (at most ``timeout_seconds``) for every lifecycle to end, then judges."""
    ids = list(dossier_ids)
    states = await _final_states(client, ids, timeout_seconds)
    return judge(ids, states, await agora.dossiers(), await agora.effects())


def judge(ids: list[str], states: dict[str, str], agora_dossiers: list[dict[str, Any]],
          effects: list[dict[str, Any]]) -> Audit:
    """The verdict from each workflow's final state and the simulator's records."""
    result = Audit(dossiers=len(ids))
    by_region: dict[str, list[str]] = defaultdict(list)
    by_person_action: Counter[tuple[str, str, str]] = Counter()
    for d in agora_dossiers:
        data = d["data"]
        by_region[data["idDossierRegion"]].append(d["id"])
        by_person_action[(data["titulaire"]["nir"], data["actionFormation"]["siretOrganisme"],
                          data["actionFormation"]["idAction"])] += 1
    result.duplicated_dossiers = (sum(len(v) - 1 for v in by_region.values())
                                  + sum(n - 1 for n in by_person_action.values()))
    held_by_agora_id: dict[str, Counter[str]] = defaultdict(Counter)
    request_ids: Counter[str] = Counter()
    for effect in effects:
        held_by_agora_id[effect["dossier_id"]][effect["operation"]] += 1
        request_ids[effect["request_id"]] += 1
    result.duplicated_effects = sum(n - 1 for n in request_ids.values())
    for dossier_id in ids:
        held = sum((held_by_agora_id[a] for a in by_region.get(dossier_id, [])), Counter())
        result.duplicated_effects += sum((held - EXPECTED_EFFECTS).values())
        if EXPECTED_EFFECTS - held or states.get(dossier_id) != "settled":
            result.lost.append(dossier_id)
    return result


async def _final_states(client: Client, ids: list[str], timeout_seconds: float) -> dict[str, str]:
    """Each workflow's final state, waiting at most ``timeout_seconds`` in all."""
    deadline = time.monotonic() + timeout_seconds
    states: dict[str, str] = {}

    async def one(dossier_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id_for(dossier_id), result_type=DossierView)
        while time.monotonic() < deadline:
            try:
                view = await asyncio.wait_for(handle.result(),
                                              max(0.1, deadline - time.monotonic()))
                states[dossier_id] = view.state
                return
            except RPCError:
                await asyncio.sleep(_RPC_PAUSE_SECONDS)
            except TimeoutError:
                return

    await run_bounded(len(ids), lambda i: one(ids[i]), concurrency=100)
    return states
