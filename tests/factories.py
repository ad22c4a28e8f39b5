"""Test data: valid people and training actions, distinct on every call."""

from __future__ import annotations

import itertools
import uuid

from agora.messages import Person, TrainingAction
from contracts.agora_link import GateConfig
from contracts.dossier import DossierInput, RetryConfig
from contracts.market import MarketInput
from state_models.market import MarketFacts, MarketSession, MarketTerms
from state_models.validators import nir_key

_serial = itertools.count(1)


def valid_nir(serial: int, department: str = "2A") -> str:
    base = f"1{85 + serial % 10:02d}{1 + serial % 12:02d}{department}{serial % 1000:03d}{serial // 1000 % 1000:03d}"
    return f"{base}{nir_key(base):02d}"


def person(serial: int | None = None) -> Person:
    serial = next(_serial) if serial is None else serial
    return Person(
        nir=valid_nir(serial + uuid.uuid4().int % 900_000),
        birth_name=f"SANTONI{serial}",
        first_names="Maria Lucia",
        birth_date="1985-03-14",
        sex="1",
        email="maria.santoni@example.org",
    )


def action(action_id: str = "AF-2026-001") -> TrainingAction:
    return TrainingAction(
        siret="73282932000074",
        action_id=action_id,
        title="Titre professionnel Agent de restauration",
        duration_hours=420,
        start_date="2026-01-05",
        end_date="2026-06-30",
        certification_code="RNCP35987",
    )


def dossier(retry: RetryConfig, acting_user: str | None = "agent.dupont") -> DossierInput:
    return DossierInput(
        dossier_id=f"D-{uuid.uuid4().hex[:10].upper()}",
        person=person(),
        action=action(),
        acting_user=acting_user,
        retry=retry,
        # No maintenance window: tests must not depend on the day they run.
        link=GateConfig(maintenance_windows=[]),
    )


# Event data for a whole lifecycle, in order.
LIFECYCLE: list[tuple[str, dict]] = [
    ("validate", {"validation_date": "2026-01-02"}),
    ("enter", {"entry_date": "2026-01-05", "job_seeker_since": "2025-06-01"}),
    ("pay", {"payment_date": "2026-01-31", "amount": "652.02"}),
    ("interrupt", {"interruption_date": "2026-02-10", "reason": "maladie"}),
    ("resume", {"resume_date": "2026-02-24"}),
    ("pay", {"payment_date": "2026-02-28", "amount": "652.02"}),
    ("exit", {"exit_date": "2026-06-30", "reason": "fin de formation"}),
    ("settle", {"settlement_date": "2026-07-15", "amount_paid": "1304.04"}),
]


def market(retry: RetryConfig, places: tuple[int, ...] = (2, 2, 1), amount_incl_tax: str = "12000.00",
           continue_as_new_after_events: int = 0) -> MarketInput:
    """A registered market (lot), one session per entry of ``places``."""
    sessions = [MarketSession(f"S{n}", count, f"2026-0{n}-05", f"2026-0{n + 3}-30")
                for n, count in enumerate(places, start=1)]
    terms = MarketTerms(reference=f"MP-{uuid.uuid4().hex[:8].upper()}", lot_number="3",
                        lot_title="Soudure TIG", siret="73282932000074", amount_excl_tax="10000.00",
                        amount_incl_tax=amount_incl_tax, funding_source="region", sessions=sessions)
    return MarketInput(market_id=f"M-{uuid.uuid4().hex[:10].upper()}", facts=MarketFacts(terms),
                       acting_user="agent.marches", retry=retry,
                       link=GateConfig(maintenance_windows=[]),
                       continue_as_new_after_events=continue_as_new_after_events)


# Market event data for a whole lifecycle, in order (dossiers aside).
MARKET_LIFECYCLE: list[tuple[str, dict]] = [
    ("validate", {"notification_date": "2025-12-15"}),
    ("enter", {"start_date": "2026-01-05"}),
    ("pay", {"payment_date": "2026-01-10", "amount": "3600.00", "kind": "advance"}),
    ("exit", {"end_date": "2026-06-30"}),
    ("settle", {"settlement_date": "2026-07-31"}),
]
