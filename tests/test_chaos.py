"""Small, fast variants of the chaos scenarios of ``agora-flow chaos``: nothing lost,
nothing applied twice. Each run starts its own Temporal dev server, simulator, SMTP
sink and worker as subprocesses on free ports, apart from the session's servers."""

from __future__ import annotations

from collections import Counter

import pytest

from bench import chaos
from bench import duplicates as chaos_duplicates
from bench.cli import CHAOS_SCENARIOS
from bench.dossiers import EXPECTED_EFFECTS, judge
from contracts.dossier import RetryConfig

FAST = chaos.ChaosOptions(
    dossiers=12,
    concurrency=12,
    retry=RetryConfig(initial_interval_seconds=0.1, backoff_coefficient=1.5,
                      maximum_interval_seconds=0.5, attempt_timeout_seconds=3.0),
    agora_timeout_seconds=1.0,
    temporal_down_seconds=3.0,
    seed=7,
)


def _assert_nothing_lost_nor_duplicated(report: chaos.ChaosReport) -> None:
    assert report.audit.dossiers == FAST.dossiers
    assert report.audit.lost == []
    assert report.audit.duplicated_effects == 0
    assert report.audit.duplicated_dossiers == 0
    assert report.failures == []


async def test_worker_killed_twice() -> None:
    report = await chaos.run("worker-crash", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    assert sum("SIGKILL" in action for action in report.actions) == 2


async def test_flaky_agora() -> None:
    report = await chaos.run("flaky-agora", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    assert report.agora_retries > 0


async def test_agora_down_longer_than_one_attempt() -> None:
    report = await chaos.run("agora-down", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    assert report.incidents_opened >= 1


async def test_temporal_server_restarted() -> None:
    report = await chaos.run("temporal-restart", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    assert any("started again" in action for action in report.actions)


async def test_one_of_two_workers_killed_for_good() -> None:
    report = await chaos.run("two-workers", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    [kill] = [action for action in report.actions if "SIGKILL" in action]
    assert "not restarted" in kill


async def test_duplicate_submissions_make_no_duplicated_effect() -> None:
    report = await chaos.run("duplicate-submissions", FAST)
    _assert_nothing_lost_nor_duplicated(report)
    # Copies were really sent both ways, and some were answered from a remembered key.
    assert report.duplicates[chaos_duplicates.CONCURRENT] > 0
    assert report.duplicates[chaos_duplicates.AFTER_TIMEOUT] > 0
    assert report.replays > 0 and report.client_timeouts > 0


def test_every_scenario_has_a_command() -> None:
    assert set(CHAOS_SCENARIOS) == set(chaos.SCENARIOS)


# --- the audit itself must catch what the scenarios look for ---------------------------

def _agora_records(payments: int) -> tuple[list[dict], list[dict]]:
    dossier = {"id": "AG1", "data": {
        "idDossierRegion": "D-1",
        "titulaire": {"nir": "185012A00100142"},
        "actionFormation": {"siretOrganisme": "73282932000074", "idAction": "AF-1"},
    }}
    operations = list((EXPECTED_EFFECTS - Counter({"DeclarerRemuneration": 2})).elements())
    operations += ["DeclarerRemuneration"] * payments
    effects = [{"dossier_id": "AG1", "operation": op, "request_id": f"r{n}"}
               for n, op in enumerate(operations)]
    return [dossier], effects


def test_audit_passes_a_clean_lifecycle() -> None:
    dossiers, effects = _agora_records(payments=2)
    assert judge(["D-1"], {"D-1": "settled"}, dossiers, effects).ok


def test_audit_counts_a_payment_applied_twice() -> None:
    dossiers, effects = _agora_records(payments=3)
    verdict = judge(["D-1"], {"D-1": "settled"}, dossiers, effects)
    assert verdict.duplicated_effects == 1
    assert not verdict.ok


@pytest.mark.parametrize("state, payments", [("entered", 2), ("settled", 1)])
def test_audit_counts_a_dossier_lost(state: str, payments: int) -> None:
    dossiers, effects = _agora_records(payments=payments)
    assert judge(["D-1"], {"D-1": state}, dossiers, effects).lost == ["D-1"]


def test_audit_counts_a_second_agora_dossier_for_the_same_person() -> None:
    dossiers, effects = _agora_records(payments=2)
    twin = {**dossiers[0], "id": "AG2"}
    assert judge(["D-1"], {"D-1": "settled"}, [*dossiers, twin], effects).duplicated_dossiers == 2
