"""Per-dossier SLA clocks (SPEC §4): a dossier (or a market) AGORA refused, left uncorrected, gets a
reminder to its manager then an escalation to the head of service; a corrected one gets nothing more.
Real Temporal dev server, the simulator and a real SMTP server; durations injected small."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import pytest_asyncio
from temporalio.client import Client

import worker as agora_worker
from contracts.dossier import EscalationConfig, EventRequest
from contracts.market import MarketEventRequest, MarketInput
from settings import Settings
from temporal_client.dossiers import EventRefused, create_dossier, send_event, view_dossier
from temporal_client.markets import create_market, send_market_event, view_market
from tests import factories
from tests.conftest import FAST_RETRY
from tests.fixtures_smtp import SmtpServer

MANAGER = "gestionnaire@region.example.org"
HEAD = "chef-service@region.example.org"

pytestmark = pytest.mark.usefixtures("clean_simulator")


@pytest_asyncio.fixture
async def mailing_worker(
    temporal_client: Client, agora_settings: Settings, task_queue: str, smtp_server: SmtpServer,
) -> AsyncIterator[None]:
    settings = replace(agora_settings, smtp_port=smtp_server.config.port)
    async with agora_worker.build_worker(temporal_client, settings, task_queue=task_queue):
        yield


def _dossier(reminder: float, escalation: float) -> factories.DossierInput:
    dossier = factories.dossier(FAST_RETRY)
    dossier.escalation = EscalationConfig(
        partner_name="Collectivité de Corse", manager_email=MANAGER, head_of_service_email=HEAD,
        page_url=f"http://ui.example.org/dossiers/{dossier.dossier_id}",
        reminder_after_seconds=reminder, escalation_after_seconds=escalation)
    return dossier


def _lifecycle_event(step: int) -> EventRequest:
    event, data = factories.LIFECYCLE[step]
    return EventRequest(event, "agent.dupont", data)


async def _refused_entry(client: Client, task_queue: str, simulator, dossier) -> None:
    await create_dossier(client, dossier, task_queue)
    await send_event(client, dossier.dossier_id, _lifecycle_event(0))
    simulator.inject(operation="EntrerEnFormation", kind="soap_fault", count=1,
                     fault_code="agora:DonneesInvalides", message="date d'entrée incohérente")
    with pytest.raises(EventRefused):
        await send_event(client, dossier.dossier_id, _lifecycle_event(1))


async def _eventually(read, done, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """The value ``read()`` returns once ``done`` holds for it (or the last one read)."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await read()
    while not done(value) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        value = await read()
    return value


@pytest.mark.usefixtures("mailing_worker")
async def test_refused_dossier_left_uncorrected_is_reminded_then_escalated(
    temporal_client: Client, task_queue: str, simulator, smtp_server: SmtpServer
) -> None:
    dossier = _dossier(reminder=1.0, escalation=2.0)
    await _refused_entry(temporal_client, task_queue, simulator, dossier)

    messages = await smtp_server.wait_for(
        lambda ms: any(dossier.dossier_id in m.subject and "Escalade" in m.subject for m in ms))
    mine = [m for m in messages if dossier.dossier_id in m.subject]
    reminder, escalation = mine
    assert "Rappel" in reminder.subject and reminder.envelope_to == [MANAGER]
    assert "EntrerEnFormation" in reminder.text and "agora:DonneesInvalides" in reminder.text
    assert dossier.escalation.page_url in reminder.text
    assert HEAD in escalation.envelope_to and MANAGER in escalation.envelope_to  # manager in copy
    assert "date d'entrée incohérente" in escalation.text
    # The workflow logs an email once its activity returns, just after the SMTP sink got it.
    view = await _eventually(lambda: view_dossier(temporal_client, dossier.dossier_id),
                             lambda v: len(v.emails) == 2)
    assert [e.template for e in view.emails] == ["dossier_reminder", "dossier_escalation"]


@pytest.mark.usefixtures("mailing_worker")
async def test_corrected_dossier_stops_its_clock(
    temporal_client: Client, task_queue: str, simulator, smtp_server: SmtpServer
) -> None:
    dossier = _dossier(reminder=1.5, escalation=2.5)
    await _refused_entry(temporal_client, task_queue, simulator, dossier)
    # Corrected at once: AGORA now accepts the entry.
    view = await send_event(temporal_client, dossier.dossier_id,
                            _lifecycle_event(1))
    assert view.state == "entered"

    # Past both delays (workflow timers are durable: had they run, the emails would be out).
    await asyncio.sleep(3.5)
    assert [m for m in smtp_server.messages if dossier.dossier_id in m.subject] == []
    assert (await view_dossier(temporal_client, dossier.dossier_id)).emails == []


async def _refused_market_settlement(client: Client, task_queue: str, simulator,
                                     reminder: float, escalation: float) -> MarketInput:
    market = factories.market(FAST_RETRY)
    market.escalation = EscalationConfig(
        partner_name="Collectivité de Corse", manager_email=MANAGER, head_of_service_email=HEAD,
        page_url=f"http://ui.example.org/marches/{market.market_id}",
        reminder_after_seconds=reminder, escalation_after_seconds=escalation)
    await create_market(client, market, task_queue)
    *before, (settle, data) = factories.MARKET_LIFECYCLE
    for event, event_data in before:
        await send_market_event(client, market.market_id, MarketEventRequest(event, "marches", event_data))
    simulator.inject(operation="SolderAction", kind="soap_fault", count=1,
                     fault_code="agora:DonneesInvalides", message="montant du solde incohérent")
    with pytest.raises(EventRefused):
        await send_market_event(client, market.market_id, MarketEventRequest(settle, "marches", data))
    return market


@pytest.mark.usefixtures("mailing_worker")
async def test_a_market_whose_settlement_agora_refused_is_reminded_then_escalated(
    temporal_client: Client, task_queue: str, simulator, smtp_server: SmtpServer
) -> None:
    market = await _refused_market_settlement(temporal_client, task_queue, simulator, 1.0, 2.0)

    messages = await smtp_server.wait_for(
        lambda ms: any(market.market_id in m.subject and "Escalade" in m.subject for m in ms))
    reminder, escalation = [m for m in messages if market.market_id in m.subject]
    assert reminder.subject.startswith(f"[Marché {market.market_id}] Rappel")
    assert reminder.envelope_to == [MANAGER] and "Le marché" in reminder.text
    assert "SolderAction" in reminder.text and market.escalation.page_url in reminder.text
    assert HEAD in escalation.envelope_to and "montant du solde incohérent" in escalation.text
    view = await _eventually(lambda: view_market(temporal_client, market.market_id),
                             lambda v: len(v.emails) == 2)
    assert [e.template for e in view.emails] == ["dossier_reminder", "dossier_escalation"]


@pytest.mark.usefixtures("mailing_worker")
async def test_a_market_settled_after_a_refusal_stops_its_clock(
    temporal_client: Client, task_queue: str, simulator, smtp_server: SmtpServer
) -> None:
    market = await _refused_market_settlement(temporal_client, task_queue, simulator, 1.5, 2.5)
    _, data = factories.MARKET_LIFECYCLE[-1]
    settled = await send_market_event(temporal_client, market.market_id,
                                      MarketEventRequest("settle", "marches", data))
    assert settled.facts.state == "settled"

    await asyncio.sleep(3.5)
    assert [m for m in smtp_server.messages if market.market_id in m.subject] == []
