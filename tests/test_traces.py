"""The trace log: every AGORA exchange recorded where the call is made, every signed vector
archived once, the hash chains and signed checkpoints, tampering caught by ``traces verify``,
retention with legal holds, and the move to another store."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from temporalio.testing import ActivityEnvironment

from agora import messages as m
from agora.client import AgoraClient
from agora.errors import AgoraFault, AgoraUnavailable
from agora.tracing import ACKNOWLEDGED, ERROR, FAULT, UNAVAILABLE, Exchange, ExchangeContext
from cli import main as cli_main
from crypto.person_keys import seal
from settings import Settings
from store import traces as traces_module
from store.trace_models import AuditRecord, ChainHead, TraceRecord, VectorRecord
from store.traces import TraceStore, region_identity, trusted_ca, verify
from tests.fixtures_agora import SimulatorHandle, find_or_create_request, valid_nir


@pytest.fixture
def trace_settings(agora_settings: Settings, tmp_path: Path) -> Settings:
    # Own database (the trace log of this test only); the session's PKI and simulator.
    return dataclasses.replace(agora_settings,
                               database_url=f"sqlite:///{tmp_path / 'traces.sqlite3'}")


@pytest.fixture
def store(trace_settings: Settings) -> TraceStore:
    return TraceStore(trace_settings)


def _traces(store: TraceStore) -> list[TraceRecord]:
    with store.reading() as session:
        return list(session.scalars(select(TraceRecord).order_by(TraceRecord.seq)))


# --- recording -----------------------------------------------------------------------------


def test_each_exchange_and_each_vector_is_recorded_with_its_envelopes(
        trace_settings: Settings, store: TraceStore, clean_simulator: SimulatorHandle) -> None:
    client = AgoraClient(trace_settings, traces=store)
    request = find_or_create_request(7)
    ack = client.send(request, "agent.corse", ExchangeContext(dossier_id="D-7", attempt=1))
    clean_simulator.inject("soap_fault", "ValiderDossier", count=1)
    with pytest.raises(AgoraFault) as fault:
        client.send(m.ValidateDossier("req-v", ack.agora_dossier_id, "2025-01-02"), "agent.corse",
                    ExchangeContext(dossier_id="D-7", attempt=1))
    clean_simulator.inject("http503", "ValiderDossier", count=1, retry_after=3)
    with pytest.raises(AgoraUnavailable):
        client.send(m.ValidateDossier("req-v", ack.agora_dossier_id, "2025-01-02"), "agent.corse",
                    ExchangeContext(dossier_id="D-7", attempt=2))

    rows = _traces(store)
    assert [(r.operation, r.outcome, r.attempt, r.dossier_id) for r in rows] == [
        ("RechercherOuCreerDossier", ACKNOWLEDGED, 1, "D-7"),
        ("ValiderDossier", FAULT, 1, "D-7"),
        ("ValiderDossier", UNAVAILABLE, 2, "D-7"),
    ]
    assert rows[1].fault_code == fault.value.code and rows[1].http_status == 500
    assert rows[2].http_status == 503
    assert rows[0].request_id == request.request_id and rows[0].acting_user == "agent.corse"
    assert all(r.at <= r.received_at for r in rows)
    # One vector for the user, archived once, and every exchange points at it.
    with store.reading() as session:
        vectors = list(session.scalars(select(VectorRecord)))
    assert len(vectors) == 1 and vectors[0].subject == "agent.corse"
    assert {r.vector_id for r in rows} == {vectors[0].assertion_id}
    # Sealed at rest: the NIR is not in the stored bytes; shown masked.
    nir = request.person.nir
    assert nir.encode() not in rows[0].sealed
    shown = store.envelopes(rows[0])
    assert vectors[0].assertion_id in shown["request"] and "Assertion" in shown["request"]
    assert nir not in shown["request"]
    assert "** *** *** **" in shown["request"]
    assert shown["response"].strip().startswith("<")


def test_a_dossier_s_exchanges_are_sealed_under_its_person_s_key_and_erased_with_it(
        trace_settings: Settings, store: TraceStore, clean_simulator: SimulatorHandle) -> None:
    from contracts.dossier import workflow_id_for

    keys = store.person_keys
    kid = keys.bind_workflow(workflow_id_for("D-ERASE"), keys.for_person(valid_nir(41)))
    client = AgoraClient(trace_settings, traces=store)
    client.send(find_or_create_request(41), "agent.corse", ExchangeContext(dossier_id="D-ERASE"))
    client.send(find_or_create_request(42), "agent.corse", ExchangeContext(market_id="M-1"))
    erased, other = _traces(store)
    # Under the person's key, framed as bytes and compressed: the sealed content weighs less
    # than the envelopes as sent.
    assert erased.sealed.startswith(b"\x04" + kid.encode() + b"|")
    envelopes = store.envelopes(erased)
    raw = store.unseal(erased.sealed)
    assert raw is not None
    sent = len(base64.b64decode(raw["request"])) + len(base64.b64decode(raw["response"]))
    assert len(erased.sealed) < 0.6 * sent
    assert not other.sealed.startswith((b"\x02", b"\x03", b"\x04"))  # no dossier: data key
    assert "Assertion" in envelopes["request"]
    # Written by earlier versions (JSON, then JSON compressed): still read.
    content = json.dumps({"request": base64.b64encode(b"<ancien/>").decode(),
                          "response": base64.b64encode(b"<b/>").decode(), "message": ""}).encode()
    for legacy, plaintext in ((b"\x02", content), (b"\x03", zlib.compress(content))):
        header = legacy + kid.encode()
        erased.sealed = header + b"|" + seal(keys.key(kid), plaintext, header)
        assert "ancien" in store.envelopes(erased)["request"]
    keys.erase(kid)
    assert store.envelopes(erased) == {"request": "", "response": "", "message": ""}
    assert "Assertion" in store.envelopes(other)["request"]
    assert _problems(store, trace_settings) == []  # the chain covers the sealed bytes


def test_an_exchange_whose_trace_cannot_be_written_fails_the_call(
        trace_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    class Broken(TraceStore):
        def record_exchange(self, exchange: Exchange) -> None:
            raise OSError("disk full")

    client = AgoraClient(trace_settings, traces=Broken(trace_settings))
    with pytest.raises(OSError):
        client.send(find_or_create_request(8), "agent.corse")


def test_an_activity_writes_its_exchange_and_its_outcome_in_one_transaction(
        trace_settings: Settings, clean_simulator: SimulatorHandle,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The AGORA activity holds the exchange's trace and writes it with the timeline entry it
    projects: both or neither, so a failed write retries the whole attempt."""
    import store.traces
    import store.writer
    from activities.agora_calls import AgoraActivities
    from contracts.agora_calls import FindOrCreateDossierCall
    from contracts.projection import REGISTRATION, OutcomePlan
    from state_models.dossier import DossierFacts
    from store.models import TimelineEntry
    from store.writer import ProjectionWriter
    from tests import factories
    from tests.conftest import FAST_RETRY

    activities = AgoraActivities(trace_settings, ProjectionWriter(trace_settings))
    traces = store.traces.trace_store_for(trace_settings)

    def call_for(dossier):  # type: ignore[no-untyped-def]
        plan = OutcomePlan(dossier.dossier_id, 1, REGISTRATION, "agent.corse",
                           f"req-{uuid.uuid4().hex}", DossierFacts(), DossierFacts(),
                           dossier=dossier)
        request = m.FindOrCreateDossier(plan.request_id, dossier.dossier_id, dossier.person,
                                        dossier.action)
        return FindOrCreateDossierCall(request, "agent.corse", plan)

    def written(dossier_id: str) -> tuple[int, int]:
        with traces.reading() as session:
            return (len(list(session.scalars(select(TraceRecord).where(
                        TraceRecord.dossier_id == dossier_id)))),
                    len(list(session.scalars(select(TimelineEntry).where(
                        TimelineEntry.dossier_id == dossier_id)))))

    environment = ActivityEnvironment()
    kept = factories.dossier(FAST_RETRY)
    outcome = environment.run(activities.find_or_create_dossier, call_for(kept))
    assert outcome.ack.agora_dossier_id and written(kept.dossier_id) == (1, 1)

    lost = factories.dossier(FAST_RETRY)
    call = call_for(lost)

    def failing(session, step):  # type: ignore[no-untyped-def]
        raise OSError("disque plein")

    with monkeypatch.context() as patch:
        patch.setattr(store.writer, "record_step", failing)
        with pytest.raises(OSError):
            environment.run(activities.find_or_create_dossier, call)
    # AGORA was called, but neither the entry it acknowledged nor the trace was kept: the
    # attempt fails, and its retry (same request id, a replay for AGORA) writes both.
    assert written(lost.dossier_id) == (0, 0)
    environment.run(activities.find_or_create_dossier, call)
    assert written(lost.dossier_id) == (1, 1)


def test_a_vector_not_archived_is_never_sent(trace_settings: Settings, store: TraceStore,
                                             clean_simulator: SimulatorHandle) -> None:
    failures = [True]

    class Flaky(TraceStore):
        def archive_vector(self, facts):  # type: ignore[no-untyped-def]
            if failures and failures.pop():
                raise OSError("database locked")
            super().archive_vector(facts)

    flaky = Flaky(trace_settings)
    client = AgoraClient(trace_settings, traces=flaky)
    with pytest.raises(OSError):
        client.send(find_or_create_request(9), "agent.b")
    client.send(find_or_create_request(9), "agent.b")  # the retry signs and archives a new one
    rows = _traces(flaky)
    with flaky.reading() as session:
        archived = set(session.scalars(select(VectorRecord.assertion_id)))
    assert len(rows) == 1 and rows[0].vector_id in archived


# --- integrity -------------------------------------------------------------------------------


def _fill(store: TraceStore, count: int = 5) -> None:
    for index in range(count):
        exchange = Exchange("ValiderDossier", "agent", f"req-{index}",
                            ExchangeContext(dossier_id=f"D-{index % 2}"),
                            sent_at=f"2026-01-0{index + 1}T10:00:00+00:00",
                            received_at=f"2026-01-0{index + 1}T10:00:01+00:00",
                            outcome=ACKNOWLEDGED, http_status=200,
                            request_envelope=f"<e>{valid_nir(index)}</e>".encode(),
                            response_envelope=b"<ok/>")
        store.record_exchange(exchange)
    store.journal("auditeur", "127.0.0.1", "traces.search", {"dossier_id": "D-1"}, [2, 4])


def _problems(store: TraceStore, settings: Settings):  # type: ignore[no-untyped-def]
    with store.reading() as session:
        return verify(session, trusted_ca(settings))


def _tamper(store: TraceStore, *statements) -> None:  # type: ignore[no-untyped-def]
    with store.database.sessions.begin() as session:
        for statement in statements:
            session.execute(statement)


def _copy(row: TraceRecord, **changes) -> TraceRecord:  # type: ignore[no-untyped-def]
    values = {c.name: getattr(row, c.name) for c in TraceRecord.__table__.columns}
    values.update(changes)
    return TraceRecord(**values)


def test_an_untouched_log_verifies(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    store.checkpoint(region_identity(trace_settings))
    assert _problems(store, trace_settings) == []


def test_a_changed_record_is_named(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    _tamper(store, update(TraceRecord).where(TraceRecord.seq == 3).values(dossier_id="D-9"))
    [problem] = _problems(store, trace_settings)
    assert (problem.chain, problem.seq, problem.kind) == ("traces", 3, "modifié")


def test_the_request_id_of_an_exchange_is_chained_when_set(
        store: TraceStore, trace_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The correlation id (a column added after rows were written) is in the digest of the
    rows that carry one; a row without one has the digest the code before it computed."""
    _fill(store, 2)
    store.record_exchange(Exchange(
        "ValiderDossier", "agent", "req-x", ExchangeContext(dossier_id="D-1",
                                                            correlation_id="api-request-0001"),
        sent_at="2026-01-09T10:00:00+00:00", received_at="2026-01-09T10:00:01+00:00",
        outcome=ACKNOWLEDGED, http_status=200))
    rows = _traces(store)
    assert rows[2].correlation_id == "api-request-0001"
    assert _problems(store, trace_settings) == []
    with monkeypatch.context() as before_the_column:
        before_the_column.setattr(traces_module, "OPTIONAL_CONTENT_FIELDS", {})
        assert [traces_module.content_digest("traces", row) == row.content_digest
                for row in rows] == [True, True, False]
    _tamper(store, update(TraceRecord).where(TraceRecord.seq == 3).values(
        correlation_id="api-request-0002"))
    [problem] = _problems(store, trace_settings)
    assert (problem.chain, problem.seq, problem.kind) == ("traces", 3, "modifié")


def test_a_record_rewritten_with_its_digests_is_caught_by_the_signed_checkpoint(
        store: TraceStore, trace_settings: Settings) -> None:
    from store.traces import chain_digest, content_digest
    _fill(store)
    store.checkpoint(region_identity(trace_settings))
    # A forger recomputes every digest from record 4 on, and the head: only the signature holds.
    with store.database.sessions.begin() as session:
        rows = list(session.scalars(select(TraceRecord).order_by(TraceRecord.seq)))
        prev = rows[2].digest
        for row in rows[3:]:
            row.fault_code = "X" if row.seq == 4 else row.fault_code
            row.prev_digest = prev
            row.content_digest = content_digest("traces", row)
            row.digest = prev = chain_digest(prev, row.seq, row.at, row.content_digest)
        session.get(ChainHead, "traces").digest = prev
    [problem] = _problems(store, trace_settings)
    assert (problem.chain, problem.seq, problem.kind) == ("traces", 5, "modifié")
    assert "point de contrôle signé" in problem.message


def test_a_removed_record_is_named(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    with store.database.sessions.begin() as session:
        session.delete(session.get(TraceRecord, 2))
    [problem] = _problems(store, trace_settings)
    assert (problem.seq, problem.kind) == (2, "supprimé")


def test_the_last_record_removed_is_named(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    with store.database.sessions.begin() as session:
        session.delete(session.get(TraceRecord, 5))
    [problem] = _problems(store, trace_settings)
    assert (problem.seq, problem.kind) == (5, "supprimé")


def test_an_inserted_record_is_named(store: TraceStore, trace_settings: Settings) -> None:
    from store.traces import chain_digest, content_digest
    _fill(store)
    with store.database.sessions.begin() as session:
        rows = list(session.scalars(select(TraceRecord).order_by(TraceRecord.seq)))
        for row in reversed(rows[1:]):  # make room at position 2
            session.execute(update(TraceRecord).where(TraceRecord.seq == row.seq)
                            .values(seq=row.seq + 1))
        session.expunge_all()
        forged = _copy(rows[0], seq=2, prev_digest=rows[0].digest, operation="SolderAction")
        forged.content_digest = content_digest("traces", forged)
        forged.digest = chain_digest(forged.prev_digest, 2, forged.at, forged.content_digest)
        session.add(forged)
    [problem] = _problems(store, trace_settings)
    assert (problem.seq, problem.kind) == (2, "inséré")


def test_reordered_records_are_named(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    _tamper(store,
            update(TraceRecord).where(TraceRecord.seq == 2).values(seq=-2),
            update(TraceRecord).where(TraceRecord.seq == 3).values(seq=2),
            update(TraceRecord).where(TraceRecord.seq == -2).values(seq=3))
    [problem] = _problems(store, trace_settings)
    assert (problem.seq, problem.kind) == (2, "réordonné")


def test_the_audit_journal_is_chained_too(store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)
    _tamper(store, update(AuditRecord).where(AuditRecord.seq == 1).values(username="personne"))
    [problem] = _problems(store, trace_settings)
    assert (problem.chain, problem.seq, problem.kind) == ("audit", 1, "modifié")


def test_verify_command_exits_non_zero_naming_the_record(
        store: TraceStore, trace_settings: Settings, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _fill(store)
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(trace_settings.data_dir))
    url = trace_settings.effective_database_url
    cli_main(["traces", "verify", "--database-url", url])
    _tamper(store, update(TraceRecord).where(TraceRecord.seq == 4).values(outcome="fault"))
    with pytest.raises(SystemExit) as exit_:
        cli_main(["traces", "verify", "--database-url", url])
    assert exit_.value.code == 1
    assert "traces n° 4 (modifié)" in capsys.readouterr().err


# --- retention ---------------------------------------------------------------------------------


def test_purge_keeps_holds_signs_what_it_removed_and_the_chain_still_verifies(
        store: TraceStore, trace_settings: Settings) -> None:
    _fill(store)  # exchanges on 1–5 January 2026
    hold = store.place_hold("AGORA-42", "enquête", "2026-01-02T00:00:00+00:00",
                            "2026-01-02T23:59:59+00:00", ["D-0"], "rssi")
    now = datetime(2027, 1, 10, tzinfo=UTC)
    summary = store.purge(region_identity(trace_settings), timedelta(days=365), now=now)
    kept = [(r.seq, r.dossier_id, r.sealed is not None) for r in _traces(store)]
    # 1 (D-0) and 2 (window) held; 3 D-0 held; 4 D-1 purged; 5 D-0 held.
    assert kept == [(1, "D-0", True), (2, "D-1", True), (3, "D-0", True), (4, "D-1", False),
                    (5, "D-0", True)]
    assert summary["traces"]["blanked"] == 1 and summary["traces"]["deleted"] == 0
    assert _problems(store, trace_settings) == []
    store.release_hold(hold, "rssi", "enquête close")
    summary = store.purge(region_identity(trace_settings), timedelta(days=365), now=now)
    assert _traces(store) == []
    assert summary["traces"]["deleted"] == 5 and summary["traces"]["to_seq"] == 5
    assert _problems(store, trace_settings) == []
    store.record_exchange(Exchange("ValiderDossier", None, "r", ExchangeContext(),
                                   sent_at="2027-01-10T00:00:00+00:00", outcome=ACKNOWLEDGED))
    assert [r.seq for r in _traces(store)] == [6]
    assert _problems(store, trace_settings) == []


def test_a_release_needs_a_reason(store: TraceStore) -> None:
    hold = store.place_hold("AGORA-1", "enquête", "2026-01-01", "2026-01-02", [], "rssi")
    with pytest.raises(ValueError):
        store.release_hold(hold, "rssi", " ")


def test_content_blanked_outside_a_purge_is_caught(store: TraceStore,
                                                   trace_settings: Settings) -> None:
    _fill(store)
    _tamper(store, update(TraceRecord).where(TraceRecord.seq == 2)
            .values(sealed=None, redacted_at="2026-01-03T00:00:00+00:00"))
    [problem] = _problems(store, trace_settings)
    assert (problem.seq, problem.kind) == (2, "modifié")


# --- another store -----------------------------------------------------------------------------


def test_export_and_import_keep_the_chain_verifiable(
        store: TraceStore, trace_settings: Settings, tmp_path: Path) -> None:
    from store.trace_archive import export_archive, import_archive
    from store.users import create_user
    _fill(store)
    with store.database.sessions.begin() as session:  # the authorisation history moves too
        create_user(session, "camille", "un mot de passe long", ["auditor"], partner="REGION-CORSE")
    store.checkpoint(region_identity(trace_settings))
    archive = tmp_path / "traces.jsonl"
    with store.reading() as session:
        export_archive(session, archive)
    assert archive.stat().st_mode & 0o777 == 0o600
    target = TraceStore(dataclasses.replace(
        trace_settings, database_url=f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.sqlite3'}"))
    with target.database.sessions.begin() as session:
        counts = import_archive(session, archive)
    assert counts["agora_traces"] == 5 and counts["authorisation_history"] == 1
    assert _problems(target, trace_settings) == []
    assert target.envelopes(_traces(target)[0])["response"].strip() == "<ok/>"
    # An edited archive does not verify once imported.
    lines = archive.read_text().splitlines()
    edited = [json.loads(line) for line in lines]
    edited[2]["row"]["operation"] = "SolderAction"
    archive.write_text("\n".join(json.dumps(item) for item in edited) + "\n")
    other = TraceStore(dataclasses.replace(
        trace_settings, database_url=f"sqlite:///{tmp_path / 'other.sqlite3'}"))
    with other.database.sessions.begin() as session:
        import_archive(session, archive)
    assert [p.kind for p in _problems(other, trace_settings)] == ["modifié"]


# --- the daily schedules ---------------------------------------------------------------------


async def test_schedules_are_created_once_and_a_run_signs_checkpoints(
        temporal_client, trace_settings: Settings, task_queue: str) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    import worker as agora_worker
    from store.trace_models import Checkpoint
    from temporal_client.traces import ensure_trace_schedules

    store = TraceStore(trace_settings)
    async with agora_worker.build_worker(temporal_client, trace_settings, task_queue=task_queue):
        ids = await ensure_trace_schedules(temporal_client, trace_settings, task_queue,
                                           prefix=f"{task_queue}-")
        assert await ensure_trace_schedules(temporal_client, trace_settings, task_queue,
                                            prefix=f"{task_queue}-") == ids
        try:
            described = await temporal_client.get_schedule_handle(ids[1]).describe()
            assert described.schedule.spec.intervals[0].every == timedelta(days=1)
            await temporal_client.get_schedule_handle(ids[0]).trigger()
            for _ in range(100):
                with store.reading() as session:
                    made = list(session.scalars(select(Checkpoint)))
                if made:
                    break
                await asyncio.sleep(0.1)
            assert {cp.chain for cp in made} == {"traces", "vectors", "audit", "authorisations"}
            assert _problems(store, trace_settings) == []
        finally:
            for schedule_id in ids:
                await temporal_client.get_schedule_handle(schedule_id).delete()


def test_failed_and_retried_calls_are_counted_per_month_for_the_service_report(
    store: TraceStore,
) -> None:
    calls = [  # (sent at, outcome, attempt)
        ("2026-03-02T10:00:00+00:00", ACKNOWLEDGED, 1),
        ("2026-03-02T10:05:00+00:00", UNAVAILABLE, 1),  # failed …
        ("2026-03-02T10:06:00+00:00", ACKNOWLEDGED, 2),  # … then retried
        ("2026-03-31T23:59:00+00:00", ERROR, 3),  # failed, and a retry
        ("2026-03-15T09:00:00+00:00", FAULT, 1),  # AGORA's refusal: not a failure of the service
        ("2026-04-01T00:00:00+00:00", UNAVAILABLE, 1),
        ("2025-12-31T23:00:00+00:00", UNAVAILABLE, 2),  # another year
    ]
    for index, (sent_at, outcome, attempt) in enumerate(calls):
        store.record_exchange(Exchange("ValiderDossier", "agent", f"req-{index}",
                                       ExchangeContext(dossier_id="D-1", attempt=attempt),
                                       sent_at=sent_at, received_at=sent_at, outcome=outcome))
    assert store.call_counts(2026) == {"2026-03": (2, 2), "2026-04": (1, 0)}
