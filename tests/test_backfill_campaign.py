"""The backfill campaign end to end: a messy export through BackfillWorkflow, the simulator's
file channel, AGORA's answers, open dossiers brought to life, the report; a worker killed
mid-campaign; pause, resume and cancel."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import worker as agora_worker
from activities.backfill import ANSWER_NOT_YET, BackfillActivities
from agora.backfill_files import digest
from backfill.held import load_held
from backfill.validate import validate_export
from cli.backfill import progress_lines
from contracts.backfill import (
    CANCELLED,
    DONE,
    BackfillProgress,
    CampaignStep,
    Resolution,
    workflow_id_for,
)
from contracts.dossier import DossierInput, EventRequest
from contracts.dossier import workflow_id_for as dossier_workflow_id
from notifications.contacts import load_contacts
from observability import metrics
from settings import Settings
from temporal_client import EventRefused
from temporal_client import backfill as campaigns
from temporal_client.dossiers import send_event
from tests.fixtures_agora import FileChannelHandle, SimulatorHandle
from tests.fixtures_backfill import sample_export
from tests.fixtures_smtp import SmtpServer
from tests.test_worker_crash import _until, worker_process
from workflows.dossier import DossierWorkflow

# Fast enough for a test: answers looked for every 0.2 s, a dead worker noticed after 2 s.
FAST = {"answer_poll_seconds": 0.2, "attempt_timeout_seconds": 5.0, "heartbeat_seconds": 2.0,
        "starts_per_second": 50.0}


async def finished(client: Client, campaign_id: str, timeout: float = 90) -> BackfillProgress:
    handle = client.get_workflow_handle(workflow_id_for(campaign_id), result_type=BackfillProgress)
    return await asyncio.wait_for(handle.result(), timeout=timeout)


def report_rows(settings: Settings, campaign_id: str) -> list[list[str]]:
    text = campaigns.report_csv(settings, campaign_id).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text), delimiter=";"))


@pytest.mark.usefixtures("backfill_worker", "clean_simulator")
async def test_a_campaign_loads_the_export_and_reports(
        temporal_client: Client, backfill_settings: Settings, clean_file_channel: FileChannelHandle,
        simulator: SimulatorHandle, tmp_path: Path) -> None:
    export = sample_export(tmp_path, 300)
    expected = validate_export(export, load_held(backfill_settings)).as_json()
    clean_file_channel.inject("late_answer", count=2, delay_seconds=1.0)
    clean_file_channel.inject("reject_records", count=1, rate=0.5, code="TITULAIRE_DECEDE")
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    result = await finished(temporal_client, campaign)

    assert result.phase == DONE
    assert result.rows == expected["rows"]
    assert result.counts == {k: v for k, v in expected.items() if k != "rows"}
    resolution = result.resolution
    assert resolution.found + resolution.unknown + resolution.several == expected["nir_to_resolve"]
    assert resolution.found > 0
    assert result.rows_to_load == expected["ready"] + resolution.found
    assert result.rows_deposited == result.rows_acknowledged == result.rows_to_load
    assert result.accepted + result.rejected == result.rows_to_load
    assert result.rejected > 0  # the injected rejects, at least

    # Every file deposited once, each answered, with the digests the report lists.
    deposits = {d["name"]: d for d in clean_file_channel.deposits()}
    assert set(deposits) == {f.name for f in result.files}
    assert all(d["received"] == 1 for d in deposits.values())
    assert len(result.files) == 1 + result.chunks
    assert all(f.answer == "TRAITE" and deposits[f.name]["digest"] == f.digest for f in result.files)

    rows = report_rows(backfill_settings, campaign)
    assert result.report is not None
    assert result.report.digest == digest(campaigns.report_csv(backfill_settings, campaign))
    by_section: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        by_section.setdefault(row[0], []).append(row)
    assert {row[5].split()[0] for row in by_section["fichier"]} == {
        f"empreinte={f.digest}" for f in result.files}
    assert len([r for r in by_section["rejet_agora"] if r[3] == "rejete_par_agora"]) == result.rejected
    not_loaded = expected["rows"] - expected["ready"] - expected["nir_to_resolve"]
    manual = resolution.unknown + resolution.several
    assert len(by_section["ligne"]) == not_loaded + manual
    assert all(row[5] for row in by_section["ligne"])  # each with its reason

    # What is left on disk: the sealed report and the counts, owner-only; no clear personal data.
    folder = backfill_settings.backfill_dir / campaign
    assert sorted(p.name for p in folder.iterdir()) == ["prepared.json", "rapport.csv.sealed"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    assert b"num_dossier" not in (folder / "rapport.csv.sealed").read_bytes()

    # Open dossiers AGORA accepted live on, registered by the backfill, not by AGORA calls.
    assert result.open_to_start > 0 and result.dossiers_started == result.open_to_start
    started = [f for f in rows if f[0] == "synthese" and f[3] == "dossiers_ouverts_demarres"]
    assert started[0][4] == str(result.dossiers_started)
    assert simulator.requests(operation="RechercherOuCreerDossier") == []
    open_refs = [row[2] for row in rows if row[0] == "ouvert_demarre"]
    assert len(open_refs) == result.dossiers_started
    view = await temporal_client.get_workflow_handle(
        dossier_workflow_id(f"REPRISE-{open_refs[0]}")).query(DossierWorkflow.view)
    assert view.state == "entered" and view.registered and view.agora_dossier_id.startswith("AGR-R-")
    assert view.history[0].event == "backfill"


@pytest.mark.usefixtures("clean_simulator")
async def test_a_worker_killed_mid_deposit_resumes_without_depositing_a_chunk_twice(
        temporal_client: Client, backfill_settings: Settings, clean_file_channel: FileChannelHandle,
        tmp_path: Path) -> None:
    export = sample_export(tmp_path, 300)
    with worker_process(backfill_settings) as first:
        campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
        await _until(lambda: len(clean_file_channel.deposits()) >= 3, timeout=60)
        await campaigns.pause(temporal_client, campaign)
        # A deposit running when the pause came ends, however loaded the machine.
        before = await _steady(lambda: len(clean_file_channel.deposits()))
        # The next file is received, but its receipt answered late: the worker dies not
        # knowing whether the channel has it.
        clean_file_channel.inject("slow_deposit", count=1, delay_seconds=8)
        await campaigns.resume(temporal_client, campaign)
        await _until(lambda: len(clean_file_channel.deposits()) == before + 1, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with worker_process(backfill_settings):
        result = await finished(temporal_client, campaign, timeout=120)
    deposits = clean_file_channel.deposits()
    assert result.phase == DONE
    assert len(deposits) == 1 + result.chunks  # none lost
    assert [d for d in deposits if d["received"] != 1] == []  # none deposited twice
    assert result.rows_deposited == result.rows_acknowledged == result.rows_to_load
    assert result.accepted + result.rejected == result.rows_to_load


@pytest.mark.usefixtures("clean_simulator")
async def test_an_overdue_answer_is_shown_and_emailed_once_and_the_campaign_goes_on(
        temporal_client: Client, backfill_settings: Settings, clean_file_channel: FileChannelHandle,
        smtp_server: SmtpServer, tmp_path: Path) -> None:
    settings = dataclasses.replace(backfill_settings, smtp_port=smtp_server.config.port)
    export = sample_export(tmp_path, 60, seed=17)
    # The first answer (the NIR resolution's) comes 4 s after its file, overdue after 1 s.
    clean_file_channel.inject("late_answer", count=1, delay_seconds=4.0)
    async with agora_worker.build_worker(temporal_client, settings):
        campaign = await campaigns.start_campaign(
            temporal_client, settings, export, acting_user="gestionnaire",
            **{**FAST, "answer_overdue_seconds": 1.0})
        overdue = await _progress_when(temporal_client, campaign, lambda p: any(
            f.overdue_since and not f.answer for f in p.files))
        [late] = [f for f in overdue.files if f.overdue_since]
        assert any(f"réponse d'AGORA en retard pour {late.name}" in line
                   for line in progress_lines(overdue))
        result = await finished(temporal_client, campaign)
    assert result.phase == DONE and late.kind == "resolution"
    [kept] = [f for f in result.files if f.name == late.name]
    assert kept.overdue_since == late.overdue_since and kept.answer == "TRAITE"
    assert [f.name for f in result.files if f.overdue_since] == [late.name]  # the others in time
    emails = await smtp_server.wait_for(lambda m: [x for x in m if campaign in x.subject])
    [email_] = [m for m in emails if campaign in m.subject]  # once
    contacts = load_contacts()
    assert sorted(email_.envelope_to) == sorted([contacts.region_contact.email,
                                                 contacts.staff_email("gestionnaire")])
    assert late.name in email_.subject and late.name in email_.text
    assert f"{settings.public_url}/reprise" in email_.text


async def _progress_when(client: Client, campaign: str,
                         condition: Callable[[BackfillProgress], bool]) -> BackfillProgress:
    for _ in range(200):
        progress = await campaigns.progress(client, campaign)
        if condition(progress):
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError("the campaign's progress never got there")


@pytest.mark.usefixtures("backfill_worker", "clean_simulator")
async def test_pause_resume_and_cancel(temporal_client: Client, backfill_settings: Settings,
                                       clean_file_channel: FileChannelHandle,
                                       tmp_path: Path) -> None:
    export = sample_export(tmp_path, 300)
    # The resolution's answer comes late: the campaign is still resolving when paused.
    clean_file_channel.inject("late_answer", count=1, delay_seconds=1.5)
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    paused = await campaigns.pause(temporal_client, campaign)
    assert paused.paused
    await asyncio.sleep(2.5)  # the answer came meanwhile; no chunk may go while paused
    assert [d for d in clean_file_channel.deposits() if d["name"].startswith("LOT-")] == []
    cancelled = await campaigns.cancel(temporal_client, campaign)
    assert not cancelled.paused
    result = await finished(temporal_client, campaign)
    assert result.phase == CANCELLED
    assert result.rows_deposited == 0 and result.rows_to_load > 0
    summary = {row[3]: row[4] for row in report_rows(backfill_settings, campaign) if row[0] == "synthese"}
    assert summary["campagne"] == CANCELLED
    assert summary["non_deposees"] == str(result.rows_to_load)
    with pytest.raises(EventRefused) as refused:
        await campaigns.resume(temporal_client, campaign)
    assert refused.value.kind == "CampaignFinished"


@pytest.mark.usefixtures("backfill_worker", "clean_simulator", "clean_file_channel")
async def test_cancel_stops_bringing_open_dossiers_to_life(
        temporal_client: Client, backfill_settings: Settings, tmp_path: Path) -> None:
    export = sample_export(tmp_path, 300, seed=15)
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export,
                                              **{**FAST, "starts_per_second": 2.0})
    await _until_phase(temporal_client, campaign, "starting_dossiers")
    await asyncio.sleep(1.0)
    await campaigns.cancel(temporal_client, campaign)
    result = await finished(temporal_client, campaign)
    assert result.phase == CANCELLED
    assert 0 < result.dossiers_started < result.open_to_start
    started = [row[2] for row in report_rows(backfill_settings, campaign) if row[0] == "ouvert_demarre"]
    assert len(started) == result.dossiers_started
    for number in (started[0], started[-1]):  # the ones the report names do live
        view = await temporal_client.get_workflow_handle(
            dossier_workflow_id(f"REPRISE-{number}")).query(DossierWorkflow.view)
        assert view.state == "entered"


async def _steady(count: Callable[[], int], quiet: float = 1.5, timeout: float = 30) -> int:
    """``count()`` once it has not moved for ``quiet`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last, since = count(), asyncio.get_running_loop().time()
    while asyncio.get_running_loop().time() - since < quiet:
        assert asyncio.get_running_loop().time() < deadline, "the count never settled"
        await asyncio.sleep(0.1)
        if (now := count()) != last:
            last, since = now, asyncio.get_running_loop().time()
    return last


async def _until_phase(client: Client, campaign: str, phase: str) -> None:
    for _ in range(300):
        if (await campaigns.progress(client, campaign)).phase == phase:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the campaign never reached {phase}")


@pytest.mark.usefixtures("backfill_worker", "clean_simulator", "clean_file_channel")
async def test_a_backfilled_dossier_goes_on_in_the_live_flow(
        temporal_client: Client, backfill_settings: Settings, simulator: SimulatorHandle,
        tmp_path: Path) -> None:
    export = sample_export(tmp_path, 200, seed=16)
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    result = await finished(temporal_client, campaign)
    number = next(row[2] for row in report_rows(backfill_settings, campaign)
                  if row[0] == "ouvert_demarre")
    assert result.dossiers_started > 0
    # AGORA knows the dossiers loaded by file: an exit goes through the live operations.
    view = await send_event(temporal_client, f"REPRISE-{number}", EventRequest(
        "exit", data={"exit_date": "2026-06-30", "reason": "fin de formation"}))
    assert view.state == "exited" and view.history[-1].outcome == "acknowledged"
    assert [e["operation"] for e in simulator.effects(dossier=view.agora_dossier_id)] == [
        "SortirDeFormation"]
    # A second campaign loading the same people on the same actions is refused by AGORA.
    again = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    second = await finished(temporal_client, again)
    codes = {row[4] for row in report_rows(backfill_settings, again) if row[3] == "rejete_par_agora"}
    assert second.accepted < result.accepted
    assert "DOSSIER_DEJA_ENREGISTRE" in codes or "DOSSIER_DEJA_CHARGE" in codes


def _rows_by_stage() -> dict[tuple[str, str], float]:
    """The worker's backfill counter, as Prometheus would scrape it: (stage, outcome) → rows."""
    found: dict[tuple[str, str], float] = {}
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "agora_flow_backfill_rows_total":
                assert set(sample.labels) == {"stage", "outcome"}  # never a file or a campaign
                found[(sample.labels["stage"], sample.labels["outcome"])] = sample.value
    return found


def _moved(before: dict[tuple[str, str], float]) -> dict[tuple[str, str], int]:
    return {key: int(value - before.get(key, 0)) for key, value in _rows_by_stage().items()
            if value != before.get(key, 0)}


@pytest.mark.usefixtures("backfill_worker", "clean_simulator")
async def test_rows_are_counted_by_stage_where_they_move(
        temporal_client: Client, backfill_settings: Settings, clean_file_channel: FileChannelHandle,
        tmp_path: Path) -> None:
    export = sample_export(tmp_path, 150, seed=21)
    clean_file_channel.inject("reject_records", count=1, rate=0.5, code="TITULAIRE_DECEDE")
    before = _rows_by_stage()
    # Every stage and outcome is there at 0 from the worker's start: rates are never absent.
    assert {key for key, value in before.items()} >= {
        (stage, outcome) for stage, outcomes in metrics.BACKFILL_OUTCOMES.items()
        for outcome in outcomes}
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    result = await finished(temporal_client, campaign)
    assert result.phase == DONE and result.rejected > 0 and result.dossiers_started > 0

    expected = {("classify", row_class): rows for row_class, rows in result.counts.items()}
    expected |= {("nir_resolution", "deposited"): result.to_resolve,
                 ("nir_resolution", "found"): result.resolution.found,
                 ("nir_resolution", "unknown"): result.resolution.unknown,
                 ("nir_resolution", "several"): result.resolution.several,
                 ("deposit", "deposited"): result.rows_deposited,
                 ("acknowledgement", "accepted"): result.accepted,
                 ("acknowledgement", "rejected"): result.rejected,
                 ("open_dossiers", "started"): result.dossiers_started}
    assert _moved(before) == {key: rows for key, rows in expected.items() if rows}
    text = generate_latest(metrics.REGISTRY).decode()
    assert campaign not in text and "LOT-" not in text and "RESOLUTION-" not in text


@pytest.mark.usefixtures("backfill_worker", "clean_simulator")
async def test_rows_of_files_refused_whole_are_counted_refused(
        temporal_client: Client, backfill_settings: Settings, clean_file_channel: FileChannelHandle,
        tmp_path: Path) -> None:
    export = sample_export(tmp_path, 150, seed=22)
    # The resolution request, then the first chunk, refused whole.
    clean_file_channel.inject("refuse_file", count=2)
    before = _rows_by_stage()
    campaign = await campaigns.start_campaign(temporal_client, backfill_settings, export, **FAST)
    result = await finished(temporal_client, campaign)
    assert result.resolution.refused_code and result.to_resolve > 0
    refused_chunk = next(f for f in result.files if f.kind == "chunk" and f.answer == "REFUSE")
    moved = _moved(before)
    assert moved[("nir_resolution", "refused")] == result.to_resolve
    assert ("nir_resolution", "found") not in moved
    assert moved[("acknowledgement", "refused")] == refused_chunk.rows
    assert moved[("acknowledgement", "rejected")] + refused_chunk.rows == result.rejected
    assert moved[("acknowledgement", "accepted")] == result.accepted


@pytest.mark.usefixtures("clean_simulator", "clean_file_channel")
async def test_a_step_run_again_counts_no_row_twice(backfill_settings: Settings,
                                                    tmp_path: Path) -> None:
    """Temporal may run an activity again after it did its work (a worker presumed dead, a
    result lost): the rows it moved are counted by the attempt that moved them only."""

    async def never_started(dossier: DossierInput, task_queue: str) -> bool:
        raise AssertionError("no dossier is started here")

    activities = BackfillActivities(backfill_settings, never_started)
    campaign = campaigns.new_campaign_id()
    campaigns.campaign_files(backfill_settings, campaign).hand_in(
        sample_export(tmp_path, 60, seed=23))
    step = CampaignStep(campaign)
    environment = ActivityEnvironment()
    before = _rows_by_stage()
    for _ in range(2):
        prepared = environment.run(activities.prepare, step)
        request = environment.run(activities.deposit_resolution, step)
    assert request is not None
    answered = CampaignStep(campaign, name=request.name, digest=request.digest)
    for _ in range(2):
        resolution = await _answered(lambda: environment.run(activities.collect_resolution, answered))
    assert _moved(before) == {key: rows for key, rows in {
        **{("classify", row_class): rows for row_class, rows in prepared.counts.items()},
        ("nir_resolution", "deposited"): request.rows,
        ("nir_resolution", "found"): resolution.found,
        ("nir_resolution", "unknown"): resolution.unknown,
        ("nir_resolution", "several"): resolution.several}.items() if rows}


async def _answered(collect: Callable[[], Resolution]) -> Resolution:
    """The answer, once the channel has it (an answer not there yet fails the attempt)."""
    for _ in range(100):
        try:
            return collect()
        except ApplicationError as error:
            assert error.type == ANSWER_NOT_YET
            await asyncio.sleep(0.1)
    raise AssertionError("no answer from the channel")
