"""The backfill's batch files (reprise.xsd) and the simulator's secure file channel."""

from __future__ import annotations

import dataclasses
import ssl
import time
from datetime import date
from decimal import Decimal

import httpx
import pytest

from agora import backfill_files as files
from agora.file_channel import ChannelError, FileChannel, channel_config
from agora.pki import PkiPaths
from settings import Settings
from state_models.backfill import LegacyRecord
from state_models.validators import validate_nir
from tests.fixtures_agora import FileChannelHandle, valid_nir, valid_siret


def record(serial: int, nir: str | None = "", **changes: object) -> LegacyRecord:
    base = LegacyRecord(
        num_dossier=f"PE-{serial:06d}", nir=valid_nir(serial) if nir == "" else nir,
        birth_name="Santoni", first_names="Marie-Thérèse & Jo", birth_date=date(1990, 3, 4),
        sex="2", birth_place="2A004", siret=valid_siret(serial), action_code="ACT-9",
        action_title="Cuisine <niveau 3>", certification_code="RNCP1", duration_hours=Decimal(420),
        session_start=date(2020, 1, 6), session_end=date(2020, 6, 30), entry_date=date(2020, 1, 6),
        exit_date=None, exit_reason=None, remuneration=Decimal("1234.5"), status="EN_COURS")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def people(count: int) -> list[LegacyRecord]:
    return [record(n, nir=None, birth_name=f"Nom{n}", birth_date=date(1960 + n % 40, 1 + n % 12, 1 + n % 28))
            for n in range(count)]


def test_request_files_are_valid_and_their_bytes_depend_only_on_their_records() -> None:
    chunk = files.backfill_chunk("C1", 1, [record(1), record(2)])
    again = files.backfill_chunk("C1", 1, [record(1), record(2)])
    assert files.digest(chunk) == files.digest(again)
    parsed = files.parse(chunk, "LotReprise")
    rows = files.request_records(parsed, "dossier")
    assert [row["ref"] for row in rows] == ["PE-000001", "PE-000002"]
    assert rows[0]["prenoms"] == "Marie-Thérèse & Jo" and rows[0]["montantRemunere"] == "1234.50"
    request = files.resolution_request("C1", people(3), 3)
    assert len(files.request_records(files.parse(request, "DemandeResolutionNir"), "individu")) == 3


@pytest.mark.parametrize("data", [b"<LotReprise", b"<x/>",
                                  b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a/>'])
def test_a_malformed_file_is_refused_by_the_schema(data: bytes) -> None:
    with pytest.raises(files.BatchFileError):
        files.parse(data, "LotReprise")


def test_a_record_without_its_nir_does_not_pass_the_schema() -> None:
    chunk = files.backfill_chunk("C1", 1, [record(1, nir=None)])
    with pytest.raises(files.BatchFileError):
        files.parse(chunk, "LotReprise")


@pytest.fixture
def channel(clean_file_channel: FileChannelHandle, agora_settings: Settings) -> FileChannel:
    # Entered as the worker enters it: the SOAP client's CA and TLS client certificate.
    client = FileChannel(channel_config(dataclasses.replace(
        agora_settings, file_channel_url=clean_file_channel.base_url)))
    yield client
    client.close()


def test_the_channel_refuses_a_client_without_a_certificate(
        file_channel: FileChannelHandle, dev_pki: PkiPaths) -> None:
    with pytest.raises((httpx.ConnectError, httpx.ReadError, ssl.SSLError, httpx.RemoteProtocolError)):
        httpx.get(f"{file_channel.base_url}/retrait/x.xml",
                  verify=ssl.create_default_context(cafile=str(dev_pki.ca_cert))).raise_for_status()


def test_a_file_deposited_twice_is_received_once(channel: FileChannel,
                                                 clean_file_channel: FileChannelHandle) -> None:
    chunk = files.backfill_chunk("C1", 1, [record(1), record(2)])
    assert channel.deposited_digest("LOT-C1-1.xml") is None
    assert channel.deposit("LOT-C1-1.xml", chunk) is True
    assert channel.deposit("LOT-C1-1.xml", chunk) is False
    assert channel.deposited_digest("LOT-C1-1.xml") == files.digest(chunk)
    assert clean_file_channel.deposits() == [
        {"name": "LOT-C1-1.xml", "digest": files.digest(chunk), "received": 2}]
    with pytest.raises(ChannelError) as refused:
        channel.deposit("LOT-C1-1.xml", files.backfill_chunk("C1", 1, [record(3)]))
    assert not refused.value.retryable
    ack = files.read_answer(channel.fetch_answer("LOT-C1-1.xml") or b"", "AccuseReception")
    assert ack.processed and ack.file_digest == files.digest(chunk)
    assert [(r.ref, r.status) for r in ack.records] == [("PE-000001", "ACCEPTE"), ("PE-000002", "ACCEPTE")]


def test_records_are_rejected_with_a_code(channel: FileChannel) -> None:
    bad_key = valid_nir(5)[:-2] + f"{(int(valid_nir(5)[-2:]) + 1) % 97:02d}"
    channel.deposit("LOT-C2-1.xml", files.backfill_chunk("C2", 1, [record(4), record(5, nir=bad_key)]))
    channel.deposit("LOT-C2-2.xml", files.backfill_chunk("C2", 2, [record(4)]))
    first = files.read_answer(channel.fetch_answer("LOT-C2-1.xml") or b"", "AccuseReception")
    second = files.read_answer(channel.fetch_answer("LOT-C2-2.xml") or b"", "AccuseReception")
    assert [(r.status, r.code) for r in first.records] == [("ACCEPTE", ""), ("REJETE", "NIR_INVALIDE")]
    assert first.records[0].agora_id
    assert [(r.status, r.code) for r in second.records] == [("REJETE", "DOSSIER_DEJA_CHARGE")]


def test_a_malformed_file_is_refused_whole(channel: FileChannel,
                                           clean_file_channel: FileChannelHandle) -> None:
    channel.deposit("LOT-C3-1.xml", b"<LotReprise>pas fini")
    ack = files.read_answer(channel.fetch_answer("LOT-C3-1.xml") or b"", "AccuseReception")
    assert not ack.processed and ack.code == "FICHIER_INVALIDE" and ack.records == ()
    clean_file_channel.inject("refuse_file", count=1)
    channel.deposit("LOT-C3-2.xml", files.backfill_chunk("C3", 2, [record(6)]))
    channel.deposit("LOT-C3-3.xml", files.backfill_chunk("C3", 3, [record(7)]))
    refused = files.read_answer(channel.fetch_answer("LOT-C3-2.xml") or b"", "AccuseReception")
    accepted = files.read_answer(channel.fetch_answer("LOT-C3-3.xml") or b"", "AccuseReception")
    assert (refused.processed, accepted.processed) == (False, True)


def test_nir_resolution_answers_found_unknown_or_several(channel: FileChannel) -> None:
    request = files.resolution_request("C4", people(200), 200)
    channel.deposit("RESOLUTION-C4-1.xml", request)
    answer = files.read_answer(channel.fetch_answer("RESOLUTION-C4-1.xml") or b"",
                               "ReponseResolutionNir")
    statuses = {r.status for r in answer.records}
    assert statuses == {files.FOUND, files.UNKNOWN, files.SEVERAL}
    assert len(answer.records) == 200
    for result in answer.records:
        if result.status == files.FOUND:
            assert validate_nir(result.nir) == result.nir  # a NIR with its right key
        else:
            assert result.nir == ""


def test_a_late_answer_comes_after_its_delay(channel: FileChannel,
                                             clean_file_channel: FileChannelHandle) -> None:
    clean_file_channel.inject("late_answer", count=1, delay_seconds=0.5)
    channel.deposit("LOT-C5-1.xml", files.backfill_chunk("C5", 1, [record(8)]))
    assert channel.fetch_answer("LOT-C5-1.xml") is None
    time.sleep(0.6)
    assert channel.fetch_answer("LOT-C5-1.xml") is not None


def test_a_share_of_records_rejected_on_demand(channel: FileChannel,
                                               clean_file_channel: FileChannelHandle) -> None:
    clean_file_channel.inject("reject_records", count=1, rate=1.0, code="TITULAIRE_DECEDE")
    channel.deposit("LOT-C6-1.xml", files.backfill_chunk("C6", 1, [record(9), record(10)]))
    ack = files.read_answer(channel.fetch_answer("LOT-C6-1.xml") or b"", "AccuseReception")
    assert {r.code for r in ack.records} == {"TITULAIRE_DECEDE"}
