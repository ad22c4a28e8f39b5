"""The dossier data AGORA needs at entry and exit: closed lists as data, checked in
state_models, the same codes in the XSD, carried to AGORA and kept by the simulator."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from lxml import etree

from state_models.dossier import DossierFacts
from state_models.dossier_data import (
    EXIT_REASONS,
    LAST_CONTRACT_TYPES,
    SOCIO_PROFESSIONAL_CATEGORIES,
    legacy_exit_reason_code,
)
from state_models.dossier_events import validate_event_data
from state_models.validators import ValidationError
from tests.api_helpers import create, registered
from tests.fixtures_agora import SimulatorHandle
from tests.fixtures_api import PASSWORD, ApiHandle

XSD = Path(__file__).parent.parent / "agora" / "wsdl" / "agora.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.mark.parametrize(("xsd_type", "codes"), [
    ("CategorieSocioProfessionnelle", SOCIO_PROFESSIONAL_CATEGORIES),
    ("TypeContrat", LAST_CONTRACT_TYPES), ("CodeMotifSortie", EXIT_REASONS)])
def test_the_xsd_lists_the_same_codes(xsd_type: str, codes: dict[str, str]) -> None:
    schema = etree.parse(str(XSD))
    found = schema.find(f"{XS}simpleType[@name='{xsd_type}']")
    assert found is not None
    assert [e.get("value") for e in found.iter(f"{XS}enumeration")] == list(codes)


def test_the_situation_at_entry_is_checked_with_french_reasons() -> None:
    entered = {"entry_date": "2026-01-05", "france_travail_registered": "oui",
               "job_seeker_since": "2025-06-01", "socio_professional_category": "5",
               "last_contract_type": "CDD"}
    assert validate_event_data("enter", entered, DossierFacts()) == entered
    for changes, field, says in (
            ({"job_seeker_since": None}, "job_seeker_since", "inscrite à France Travail"),
            ({"job_seeker_since": "2026-02-01"}, "job_seeker_since", "ne peut pas suivre"),
            ({"socio_professional_category": "9"}, "socio_professional_category", "hors liste"),
            ({"last_contract_type": "CDX"}, "last_contract_type", "hors liste"),
            ({"france_travail_registered": "peut-être"}, "france_travail_registered", "hors liste")):
        with pytest.raises(ValidationError, match=says) as refused:
            validate_event_data("enter", {k: v for k, v in {**entered, **changes}.items()
                                          if v is not None}, DossierFacts())
        assert refused.value.field == field


def test_an_exit_reason_code_comes_from_the_closed_list() -> None:
    facts = DossierFacts(state="entered", entry_date="2026-01-05")
    exit_data = {"exit_date": "2026-06-30", "reason": "emploi trouvé", "reason_code": "EMPLOI"}
    assert validate_event_data("exit", exit_data, facts) == exit_data
    with pytest.raises(ValidationError) as refused:
        validate_event_data("exit", {**exit_data, "reason_code": "VACANCES"}, facts)
    assert refused.value.field == "reason_code"


@pytest.mark.usefixtures("clean_simulator")
async def test_entry_situation_and_exit_code_reach_agora(api: ApiHandle,
                                                         simulator: SimulatorHandle) -> None:
    async with api.client("gestionnaire") as manager:
        dossier_id = await create(manager)
        await registered(manager, dossier_id)
        steps = [("validate", {"validation_date": "2026-01-02"}),
                 ("enter", {"entry_date": "2026-01-05", "entry_kind": "PREMIER_PAIEMENT",
                            "job_seeker_since": "2025-06-01",
                            "france_travail_registered": "oui",
                            "socio_professional_category": "6", "last_contract_type": "INTERIM"}),
                 ("exit", {"exit_date": "2026-06-30", "reason": "emploi trouvé",
                           "reason_code": "EMPLOI"})]
        for event, data in steps:
            response = await manager.post(f"/api/dossiers/{dossier_id}/events/{event}", json=data)
            assert response.status_code == 200, (event, response.text)
            if event == "validate":  # the entry form offers the closed lists as selects
                async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
                    await browser.post("/connexion", data={"username": "gestionnaire",
                                                          "password": PASSWORD})
                    page = (await browser.get(f"/dossiers/{dossier_id}")).text
                assert '<select id="f-enter-socio_professional_category"' in page
                assert '<select id="f-enter-last_contract_type"' in page and "Intérim" in page
                assert "Premier paiement (vaut entrée)" in page
        detail = (await manager.get(f"/api/dossiers/{dossier_id}")).json()
        assert detail["entry_situation"]["socio_professional_category"] == "6"
        assert detail["exit_reason_code"] == "EMPLOI"
        async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as browser:
            await browser.post("/connexion", data={"username": "gestionnaire", "password": PASSWORD})
            page = (await browser.get(f"/dossiers/{dossier_id}")).text
        assert "Ouvriers" in page and "Intérim" in page
        assert 'id="exit-reason">Reprise d&#39;un emploi<' in page
        bad = await manager.post(f"/api/dossiers/{dossier_id}/events/settle",
                                 json={"settlement_date": "2026-07-15", "amount_paid": "0",
                                       "reason_code": "EMPLOI"})
        assert bad.status_code == 422
    agora = next(d for d in simulator.dossiers() if d["data"]["idDossierRegion"] == dossier_id)
    assert agora["data"]["situationEntree"] == {
        "demandeurEmploiDepuis": "2025-06-01", "inscritFranceTravail": "true",
        "categorieSocioProfessionnelle": "6", "dernierContrat": "INTERIM"}
    assert agora["data"]["codeMotif"] == "EMPLOI"
    assert agora["data"]["natureEntree"] == "PREMIER_PAIEMENT"


@pytest.mark.parametrize(("text", "code"), [
    ("Fin de formation", "FIN_FORMATION"), ("  emploi ", "EMPLOI"), ("CDI trouvé : embauche", "EMPLOI"),
    ("Réorientation vers une autre formation", "AUTRE_FORMATION"), ("Abandon", "ABANDON"),
    ("raison de santé", "SANTE"), ("Déménagement", "DEMENAGEMENT"), ("EXCLUSION", "EXCLUSION"),
    ("sans nouvelles", None), ("", None), (None, None)])
def test_the_legacy_exit_reason_maps_to_a_code_where_it_says_one(text: str | None,
                                                                 code: str | None) -> None:
    assert legacy_exit_reason_code(text) == code
    assert code is None or code in EXIT_REASONS
