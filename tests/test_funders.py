"""The funders of a dossier's training action (LHÉO dict-financeurs) with their shares:
checked in state_models, the same codes in the XSDs, carried to AGORA by the registration
(RechercherOuCreerDossier), refused by the simulator's rules, accepted and shown by the API
and the pages from the store, and mapped by the backfill."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from lxml import etree
from sqlalchemy import create_engine, select, text

import api.dossiers.service as dossier_service
from activities.backfill import backfilled_dossier
from agora import backfill_files as files
from agora import operations
from agora.client import get_client
from agora.errors import AgoraFault
from agora.messages import Funder, TrainingAction
from agora.simulator.file_channel import _register
from agora.simulator.store import Store
from backfill.campaign import _record_of, decode_record, encode_record
from settings import Settings
from state_models.backfill import COLUMNS, LegacyRecord, RowClass, classify, read_header
from state_models.dossier import DossierFacts
from state_models.dossier_events import validate_event_data
from state_models.funders import FUNDERS, SELECTABLE, validate_funders
from state_models.validators import ValidationError
from store.db import Database, alembic_config
from store.models import Dossier
from store.writer import ProjectionWriter
from tests import factories
from tests.api_helpers import create_payload, registered
from tests.conftest import FAST_RETRY
from tests.fixtures_agora import SimulatorHandle, find_or_create_request, valid_nir, valid_siret
from tests.fixtures_api import PASSWORD, ApiHandle

WSDL = Path(__file__).parent.parent / "agora" / "wsdl"
XS = "{http://www.w3.org/2001/XMLSchema}"
TWO_FUNDERS = [{"code": "2", "share": "60"}, {"code": "3", "share": 40}]


# --- the closed list and its rules (pure) ---------------------------------------------


@pytest.mark.parametrize("xsd", ["agora.xsd", "reprise.xsd"])
def test_the_xsds_list_lheo_s_funder_codes(xsd: str) -> None:
    found = etree.parse(str(WSDL / xsd)).find(f"{XS}simpleType[@name='CodeFinanceur']")
    assert found is not None
    assert [e.get("value") for e in found.iter(f"{XS}enumeration")] == list(FUNDERS)
    assert len(FUNDERS) == 21 and FUNDERS["2"] == "Collectivité territoriale - Conseil régional"
    assert "1" not in SELECTABLE and len(SELECTABLE) == 20


def test_funders_are_normalised_codes_and_shares_of_two_decimals() -> None:
    assert validate_funders(TWO_FUNDERS) == [("2", "60.00"), ("3", "40.00")]
    assert validate_funders([{"code": 2, "share": 100}]) == [("2", "100.00")]
    assert validate_funders([{"code": "16", "share": "33,33"}, {"code": "02", "share": "66.67"},
                             ]) == [("16", "33.33"), ("2", "66.67")]


@pytest.mark.parametrize(("funders", "says"), [
    ([], "Au moins un financeur"),
    ([{"code": "99", "share": "100"}], "code financeur inconnu (99)"),
    ([{"code": "1", "share": "100"}], "le code 1 (codes obsolètes) n'est plus accepté"),
    ([{"code": "", "share": "100"}], "le code financeur est obligatoire"),
    ([{"code": "2", "share": "50"}, {"code": "2", "share": "50"}], "figure deux fois"),
    ([{"code": "2", "share": "100"}, {"code": "3", "share": "0"}], "strictement positive"),
    ([{"code": "2", "share": "110"}, {"code": "3", "share": "-10"}], "dépasser 100 %"),
    ([{"code": "2", "share": "99.995"}, {"code": "3", "share": "0.005"}], "plus de 2 décimales"),
    ([{"code": "2", "share": "beaucoup"}], "part invalide"),
    ([{"code": "2", "share": ""}], "la part est obligatoire"),
    ([{"code": "2", "share": "60"}, {"code": "3", "share": "30"}], "elle fait 90.00 %"),
    ([{"code": "2", "share": "60"}, {"code": "3", "share": "40.01"}], "elle fait 100.01 %"),
])
def test_each_refusal_names_the_field_with_a_french_reason(funders: list[dict[str, Any]],
                                                           says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_funders(funders)
    assert refused.value.field == "funders"
    assert says in refused.value.reason


# --- the simulator's rules ----------------------------------------------------------------


def _registration(serial: int, funders: list[Funder]) -> Any:
    request = find_or_create_request(serial)
    return dataclasses.replace(request, action=dataclasses.replace(request.action, funders=funders))


@pytest.mark.parametrize(("funders", "code", "says"), [
    ([], operations.FAULT_INVALID_FUNDERS, "au moins un financeur"),
    ([Funder("1", "100.00")], operations.FAULT_INVALID_FUNDERS, "code financeur 1"),
    ([Funder("2", "60.00"), Funder("3", "30.00")], operations.FAULT_INVALID_FUNDERS, "100 %"),
    ([Funder("2", "50.00"), Funder("2", "50.00")], operations.FAULT_INVALID_FUNDERS, "deux fois"),
    ([Funder("99", "100.00")], operations.FAULT_INVALID_DATA, "codeFinanceur"),
])
def test_the_simulator_refuses_a_registration_with_bad_funders(
        agora_settings: Settings, clean_simulator: SimulatorHandle, funders: list[Funder],
        code: str, says: str) -> None:
    with pytest.raises(AgoraFault) as refused:
        get_client(agora_settings).send(_registration(60, funders))
    assert refused.value.code == code
    assert says in refused.value.message
    assert clean_simulator.dossiers() == []


def test_the_simulator_keeps_the_funders_and_answers_them_in_its_reads(
        agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    client = get_client(agora_settings)
    ack = client.send(_registration(61, [Funder("2", "60.00"), Funder("3", "40.00")]))
    [held] = clean_simulator.dossiers()
    assert held["data"]["actionFormation"]["financeurs"] == [
        {"codeFinanceur": "2", "part": "60.00"}, {"codeFinanceur": "3", "part": "40.00"}]
    found = client.read("RechercherDossier", {"agora_dossier_id": ack.agora_dossier_id})
    assert [(f["code"], f["share"]) for f in found["dossier"]["action"]["funders"]] == [
        ("2", "60.00"), ("3", "40.00")]


# --- end to end: API, workflow, AGORA, store, page --------------------------------------


async def _page(api: ApiHandle, path: str) -> str:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        await browser.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
        return (await browser.get(path)).text


@pytest.mark.usefixtures("clean_simulator")
async def test_a_dossier_with_two_funders_carries_them_to_agora_and_shows_them(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    payload = create_payload(birth_name="Cofinance")
    payload["action"]["funders"] = TWO_FUNDERS
    async with api.client("gestionnaire") as manager:
        created = await manager.post("/api/dossiers", json=payload)
        assert created.status_code == 201, created.text
        dossier_id = created.json()["dossier_id"]
        detail = await registered(manager, dossier_id)
        assert detail["registered"], detail
        assert detail["action"]["funders"] == [
            {"code": "2", "label": "Collectivité territoriale - Conseil régional", "share": "60.00"},
            {"code": "3", "label": "Fonds européens - FSE", "share": "40.00"}]
    agora = next(d for d in simulator.dossiers() if d["data"]["idDossierRegion"] == dossier_id)
    assert agora["data"]["actionFormation"]["financeurs"] == [
        {"codeFinanceur": "2", "part": "60.00"}, {"codeFinanceur": "3", "part": "40.00"}]
    # The request as it travelled, from the trace log.
    async with api.client("auditeur") as auditor:
        traces = (await auditor.get("/api/traces", params={"dossier_id": dossier_id})).json()
        [registration] = [t for t in traces if t["operation"] == "RechercherOuCreerDossier"]
        envelope = (await auditor.get(f"/api/traces/{registration['id']}")).json()["request_envelope"]
    sent = etree.fromstring(envelope.encode())
    ns = {"a": operations.NAMESPACE}
    assert [(f.findtext("a:codeFinanceur", namespaces=ns), f.findtext("a:part", namespaces=ns))
            for f in sent.iterfind(".//a:actionFormation/a:financeurs", ns)] == [
        ("2", "60.00"), ("3", "40.00")]
    page = await _page(api, f"/dossiers/{dossier_id}")
    assert "Collectivité territoriale - Conseil régional (2) : 60.00 %" in page
    assert "Fonds européens - FSE (3) : 40.00 %" in page


@pytest.mark.usefixtures("clean_simulator")
async def test_a_dossier_without_funders_is_the_region_s_at_100(api: ApiHandle,
                                                                simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        created = await manager.post("/api/dossiers", json=create_payload(birth_name="Regional"))
        dossier_id = created.json()["dossier_id"]
        detail = await registered(manager, dossier_id)
    assert [(f["code"], f["share"]) for f in detail["action"]["funders"]] == [("2", "100.00")]
    agora = next(d for d in simulator.dossiers() if d["data"]["idDossierRegion"] == dossier_id)
    assert agora["data"]["actionFormation"]["financeurs"] == [{"codeFinanceur": "2",
                                                                "part": "100.00"}]


@pytest.mark.parametrize(("funders", "says"), [
    ([], "Au moins un financeur"),
    ([{"code": "2", "share": "60"}, {"code": "3", "share": "30"}], "100 %"),
    ([{"code": "1", "share": "100"}], "obsolètes"),
])
async def test_the_api_answers_422_naming_funders(api: ApiHandle, funders: list[dict[str, Any]],
                                                  says: str) -> None:
    payload = create_payload(birth_name="Refuse")
    payload["action"]["funders"] = funders
    async with api.client("gestionnaire") as manager:
        response = await manager.post("/api/dossiers", json=payload)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "action", "funders"]
    assert says in error["msg"]


async def test_the_creation_form_offers_funder_selects_and_explains_a_refusal(
        api: ApiHandle) -> None:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        await browser.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
        form = (await browser.get("/dossiers/nouveau")).text
        assert '<select id="f-funder_code_1" name="funder_code_1"' in form
        assert '<option value="2" selected>2 – Collectivité territoriale - Conseil régional' in form
        tree = etree.HTML(form)
        offered = [o.get("value") for o in tree.iterfind(".//select[@name='funder_code_3']/option")]
        assert offered == ["", "0", *[str(code) for code in range(2, 21)]]  # never the obsolete 1
        csrf = tree.find(".//input[@name='csrf']").get("value")
        once = tree.find(".//input[@name='once']").get("value")
        person, action = create_payload(birth_name="Formulaire")["person"], create_payload()["action"]
        fields = {**person, **{k: str(v) for k, v in action.items()}, "csrf": csrf, "once": once,
                  "funder_code_1": "2", "funder_share_1": "70", "funder_code_2": "3",
                  "funder_share_2": "20"}
        refused = await browser.post("/dossiers/nouveau", data=fields)
        assert refused.status_code == 422
        assert "La somme des parts des financeurs doit faire exactement 100 %" in refused.text
        assert 'id="e-funders"' in refused.text
        # Every row left blank: the Region at 100 %, as through the API without funders.
        again = etree.HTML(refused.text)
        blank = {**fields, "csrf": again.find(".//input[@name='csrf']").get("value"),
                 "once": again.find(".//input[@name='once']").get("value"),
                 "funder_code_1": "", "funder_share_1": "", "funder_code_2": "", "funder_share_2": ""}
        created = await browser.post("/dossiers/nouveau", data=blank)
        assert created.status_code == 303, created.text
        page = (await browser.get(created.headers["location"])).text
    assert "Collectivité territoriale - Conseil régional" in page and "100.00" in page


# --- shown from the store -------------------------------------------------------------


@pytest.mark.usefixtures("clean_simulator")
async def test_the_page_shows_funders_entry_and_exit_from_the_store_without_the_workflow(
        api: ApiHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = create_payload(birth_name="Projection")
    payload["action"]["funders"] = TWO_FUNDERS
    async with api.client("gestionnaire") as manager:
        dossier_id = (await manager.post("/api/dossiers", json=payload)).json()["dossier_id"]
        await registered(manager, dossier_id)
        for event, data in (
                ("validate", {"validation_date": "2026-01-02"}),
                ("enter", {"entry_date": "2026-01-05", "france_travail_registered": "oui",
                           "job_seeker_since": "2025-06-01", "socio_professional_category": "6",
                           "last_contract_type": "INTERIM"}),
                ("exit", {"exit_date": "2026-06-30", "reason": "emploi", "reason_code": "EMPLOI"}),
                ("settle", {"settlement_date": "2026-07-15", "amount_paid": "1200.00"}),
                # A settled dossier's correction (its workflow has ended) keeps them too.
                ("reengineer", {"reason": "intitulé", "corrections": [
                    {"name": "title", "value": "Agent de restauration"}]})):
            response = await manager.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data)
            assert response.status_code == 200, response.text

        async def unreachable(*_: object) -> None:
            raise TimeoutError  # the workflow does not answer: the page reads the store alone

        monkeypatch.setattr(dossier_service, "view_dossier", unreachable)
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
    assert detail["live"] is False
    assert detail["state"] == "settled" and detail["action"]["title"] == "Agent de restauration"
    assert detail["entry_situation"] == {"france_travail_registered": "oui",
                                         "job_seeker_since": "2025-06-01",
                                         "socio_professional_category": "6",
                                         "last_contract_type": "INTERIM"}
    assert detail["exit_reason_code"] == "EMPLOI"
    assert [f["code"] for f in detail["action"]["funders"]] == ["2", "3"]
    page = await _page(api, f"/dossiers/{dossier_id}")
    assert "Ouvriers" in page and "Intérim" in page
    assert 'id="exit-reason">Reprise d&#39;un emploi<' in page
    assert "Fonds européens - FSE (3) : 40.00 %" in page


# --- the backfill ---------------------------------------------------------------------


def _legacy_record() -> LegacyRecord:
    """A ready row of the legacy export, read by the backfill's rules."""
    row = {"num_dossier": "PE-1", "nir": valid_nir(5), "nom_naissance": "Santoni",
           "prenoms": "Marie", "date_naissance": "04/03/1990", "sexe": "2",
           "siret_organisme": valid_siret(5), "code_action": "ACT-9", "date_entree": "06/01/2020",
           "statut": "EN_COURS"}
    layout = read_header([c for c in COLUMNS if c in row])
    verdict = classify(layout, [row[c] for c in COLUMNS if c in row], None)
    assert verdict.row_class == RowClass.READY and verdict.record is not None
    return verdict.record


def test_the_backfill_maps_a_legacy_row_to_the_region_at_100_and_carries_it(tmp_path: Path) -> None:
    """The legacy export has no funder column (SPEC §6.1): the Region at 100 %, through the
    chunk file, AGORA's dossier and the dossier brought to life."""
    record = _legacy_record()
    assert record.funders == (("2", "100.00"),)

    chunk = files.parse(files.backfill_chunk("C1", 1, [record]), "LotReprise")
    [read] = files.request_records(chunk, "dossier")
    assert read[files.FUNDER] == [("2", "100.00")]
    assert _record_of(read).funders == (("2", "100.00"),)
    dossier = backfilled_dossier(_record_of(read), "AGR-R-1", "C1")
    assert dossier.action.funders == [Funder("2", "100.00")]

    store = Store(tmp_path / "agora.sqlite3")
    _register(store, "AGR-R-1", read)
    held = store.dossier("AGR-R-1")
    assert held is not None
    assert held["data"]["actionFormation"]["financeurs"] == [{"codeFinanceur": "2", "part": "100.00"}]


def test_an_older_input_without_funders_decodes_as_the_region_s() -> None:
    """Replay: a workflow input recorded before funders were carried has none."""
    action = TrainingAction(siret=valid_siret(1), action_id="A", title="T", duration_hours=1,
                            start_date="2026-01-01", end_date="2026-02-01")
    assert action.funders == [Funder("2", "100.00")]


def test_the_migration_gives_dossiers_stored_before_it_the_region_at_100(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(tmp_path))
    settings = dataclasses.replace(Settings(), data_dir=tmp_path,
                                   database_url=f"sqlite:///{tmp_path}/t.sqlite3")
    url = settings.effective_database_url
    Database(url).dispose()
    dossier = factories.dossier(FAST_RETRY)
    ProjectionWriter(settings).dossier(dossier)
    engine = create_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")  # as stored before funders were carried
        columns = {row[1] for row in connection.execute(text("PRAGMA table_info(dossiers)"))}
        assert "funders" not in columns and "entry_situation" not in columns
        command.upgrade(config, "head")
    engine.dispose()
    database = Database(url)
    try:
        with database.sessions() as session:
            row = session.scalars(select(Dossier).where(Dossier.id == dossier.dossier_id)).one()
            assert row.funders == [{"code": "2", "share": "100.00"}]
            assert (row.entry_situation, row.exit_reason_code) == (None, None)
    finally:
        database.dispose()


# --- a correction (re-engineering, operation 11) replaces the funders ----------------------


def test_a_re_engineering_may_name_the_funders_alone() -> None:
    facts = DossierFacts(state="entered", agora_dossier_id="AG1", entry_date="2026-01-05")
    clean = validate_event_data("reengineer", {"reason": "cofinancement FSE",
                                               "funders": TWO_FUNDERS}, facts)
    assert clean == {"reason": "cofinancement FSE", "funders": [
        {"code": "2", "share": "60.00"}, {"code": "3", "share": "40.00"}]}
    with pytest.raises(ValidationError) as nothing:
        validate_event_data("reengineer", {"reason": "rien"}, facts)
    assert nothing.value.field == "corrections"
    with pytest.raises(ValidationError) as bad:
        validate_event_data("reengineer", {"reason": "x", "funders": [{"code": "3", "share": "50"}]},
                            facts)
    assert bad.value.field == "funders" and "100 %" in bad.value.reason


@pytest.mark.usefixtures("clean_simulator")
async def test_a_correction_of_the_funders_reaches_agora_and_the_store(
        api: ApiHandle, simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        created = await manager.post("/api/dossiers", json=create_payload(birth_name="Corrige"))
        dossier_id = created.json()["dossier_id"]
        await registered(manager, dossier_id)
        refused = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer",
                                     json={"reason": "FSE", "funders": [{"code": "3", "share": 50}]})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "funders"]
        response = await manager.post(f"/api/dossiers/{dossier_id}/events/reengineer",
                                      json={"reason": "cofinancement FSE", "funders": TWO_FUNDERS})
        assert response.status_code == 200, response.text
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
    assert [(f["code"], f["share"]) for f in detail["action"]["funders"]] == [
        ("2", "60.00"), ("3", "40.00")]
    [corrected] = [t for t in detail["timeline"] if t["event"] == "reengineer"]
    assert corrected["operation"] == "ReingenierieDossier"
    assert corrected["corrections"] == [{"field": "funders", "before": "2 : 100.00 %",
                                         "after": "2 : 60.00 % ; 3 : 40.00 %"}]
    agora = next(d for d in simulator.dossiers() if d["data"]["idDossierRegion"] == dossier_id)
    assert agora["data"]["actionFormation"]["financeurs"] == [
        {"codeFinanceur": "2", "part": "60.00"}, {"codeFinanceur": "3", "part": "40.00"}]
    page = await _page(api, f"/dossiers/{dossier_id}")
    assert "Fonds européens - FSE (3) : 40.00 %" in page
    assert "<del>2 : 100.00 %</del> → <ins>2 : 60.00 % ; 3 : 40.00 %</ins>" in page
    assert '<select id="f-reengineer-funder_code_1" name="funder_code_1">' in page

    # The page's correction form: the funders alone, the named correction left blank.
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
        await browser.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
        tree = etree.HTML((await browser.get(f"/dossiers/{dossier_id}")).text)
        form = tree.find(f".//form[@action='/dossiers/{dossier_id}/evenements/reengineer']")
        tokens = {i.get("name"): i.get("value") for i in form.iterfind(".//input[@type='hidden']")}
        sent = await browser.post(f"/dossiers/{dossier_id}/evenements/reengineer", data={
            **tokens, "reason": "fin du cofinancement", "correction_name": "title",
            "correction_value": "", "funder_code_1": "2", "funder_share_1": "100"})
        assert sent.status_code == 303, sent.text
    async with api.client("gestionnaire") as manager:
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
    assert [(f["code"], f["share"]) for f in detail["action"]["funders"]] == [("2", "100.00")]
    assert detail["timeline"][-1]["corrections"] == [
        {"field": "funders", "before": "2 : 60.00 % ; 3 : 40.00 %", "after": "2 : 100.00 %"}]


def test_a_sealed_record_keeps_its_funders() -> None:
    row = dataclasses.replace(_legacy_record(), funders=(("2", "70.00"), ("3", "30.00")))
    assert decode_record(encode_record(row)) == row
