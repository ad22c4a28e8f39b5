"""The client against the live simulator: real HTTP, real signatures."""

import dataclasses
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from agora import messages as m
from agora import operations
from agora.client import AgoraClient, get_client, parse_retry_after
from agora.errors import AgoraFault, AgoraUnavailable
from agora.identity_vector import SAML_NS, IdentityVector, IdentityVectorFactory
from agora.pki import (
    PkiPaths,
    create_foreign_ca_leaf,
    create_self_signed_leaf,
    ensure_dev_pki,
    load_signing_identity,
)
from settings import Settings
from tests.fixtures_agora import SimulatorHandle, find_or_create_request


def _rid() -> str:
    return f"req-{time.monotonic_ns()}"


def test_full_dossier_lifecycle(agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    client = get_client(agora_settings)
    created = client.send(find_or_create_request(1), acting_user="agent.corse")
    assert (created.status, created.replay) == (operations.STATUS_CREATED, False)
    dossier = created.agora_dossier_id
    steps = [
        (m.ValidateDossier(_rid(), dossier, "2025-01-02"), operations.STATUS_VALIDATED),
        (
            m.EnterTraining(_rid(), dossier, "2025-01-06", job_seeker_since="2024-06-01"),
            operations.STATUS_ENTERED,
        ),
        (
            m.DeclarePayment(_rid(), dossier, "PAY-1", "2025-02-01", "652.02"),
            operations.STATUS_ENTERED,
        ),
        (
            m.ExitTraining(_rid(), dossier, "2025-03-01", m.EXIT_INTERRUPTION, "maladie"),
            operations.STATUS_INTERRUPTED,
        ),
        (
            m.EnterTraining(_rid(), dossier, "2025-03-15", entry_kind=m.ENTRY_RESUME),
            operations.STATUS_ENTERED,
        ),
        (
            m.ExitTraining(_rid(), dossier, "2025-06-27", m.EXIT_FINAL, "fin de formation"),
            operations.STATUS_EXITED,
        ),
        (
            m.SettleAction(_rid(), "2025-07-15", "4200.00", agora_dossier_id=dossier),
            operations.STATUS_SETTLED,
        ),
        (
            m.ReengineerDossier(_rid(), dossier, "coquille", [m.Correction("nomUsage", "Martin")]),
            operations.STATUS_SETTLED,
        ),
    ]
    for request, status in steps:
        ack = client.send(request, acting_user="agent.corse")
        assert (ack.agora_dossier_id, ack.status, ack.replay) == (dossier, status, False), request
        assert ack.ack_id and ack.message
    assert len(clean_simulator.effects(dossier=dossier)) == 1 + len(steps)
    found = client.read("RechercherDossier", {"agora_dossier_id": dossier})["dossier"]
    assert found["status"] == operations.STATUS_SETTLED
    assert found["person"]["usage_name"] == "Martin"
    assert found["amount_paid"] == "4200.00"
    recorded = clean_simulator.requests(operation="ValiderDossier")
    assert [r["acting_user"] for r in recorded] == ["agent.corse"]


def test_reads_answer_with_english_names(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    request = find_or_create_request(2)
    nir = request.person.nir
    client.send(request)
    client.send(m.RecordDifBalance(_rid(), nir, 42))
    rights = client.read("ConsulterDroitsFormation", {"nir": nir})
    assert rights["dif_hours"] == 42 and isinstance(rights["cpf_hours"], int)
    balances = client.read("ConsulterSoldesCompte", {"nir": nir})
    assert balances["dif_hours"] == 42 and isinstance(balances["cpf_amount"], str)
    listed = client.read("ConsulterDossiersTitulaire", {"nir": nir})
    assert [d["action"]["action_id"] for d in listed["dossiers"]] == ["ACT-1"]
    assert (
        client.read("VerifierEligibilite", {"nir": nir, "certification_code": "RNCP12345"})[
            "eligible"
        ]
        is True
    )
    assert client.read("VerifierEligibilite", {"nir": nir})["eligible"] is False
    assert client.send(m.CheckNirName(nir, "DUPONT")).status == "OK"


def test_find_or_create_is_idempotent(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    first = client.send(find_or_create_request(3))
    again = client.send(find_or_create_request(3))  # another request id, same person and action
    assert again.agora_dossier_id == first.agora_dossier_id
    assert again.replay is True
    other_action = client.send(find_or_create_request(3, action_id="ACT-2"))
    assert other_action.agora_dossier_id != first.agora_dossier_id
    assert len(clean_simulator.effects(operation="RechercherOuCreerDossier")) == 2


def test_replayed_request_id_returns_the_original_ack(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    dossier = client.send(find_or_create_request(4)).agora_dossier_id
    request = m.ValidateDossier(_rid(), dossier, "2025-01-02")
    original = client.send(request)
    replayed = client.send(request)
    assert replayed.replay is True
    assert (replayed.ack_id, replayed.status) == (original.ack_id, original.status)
    assert len(clean_simulator.effects(operation="ValiderDossier")) == 1
    assert clean_simulator.stats()["operations"]["ValiderDossier"]["replays"] == 1


def test_same_transition_again_is_a_replay_not_a_fault(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    dossier = client.send(find_or_create_request(5)).agora_dossier_id
    first = client.send(m.ValidateDossier(_rid(), dossier, "2025-01-02"))
    second = client.send(m.ValidateDossier(_rid(), dossier, "2025-01-02"))  # new request id
    assert second.replay is True and second.ack_id == first.ack_id
    assert len(clean_simulator.effects(operation="ValiderDossier")) == 1


def test_wrong_order_is_refused(agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    client = get_client(agora_settings)
    dossier = client.send(find_or_create_request(6)).agora_dossier_id
    with pytest.raises(AgoraFault) as refused:
        client.send(m.EnterTraining(_rid(), dossier, "2025-01-06"))
    assert refused.value.code == operations.FAULT_STATE
    assert "CREE" in refused.value.message
    assert clean_simulator.effects(operation="EntrerEnFormation") == []
    with pytest.raises(AgoraFault) as unknown:
        client.send(m.ValidateDossier(_rid(), "AG-NOPE", "2025-01-02"))
    assert unknown.value.code == operations.FAULT_UNKNOWN_DOSSIER


def test_nir_known_under_another_name(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    client.send(find_or_create_request(7, birth_name="Dupont"))
    with pytest.raises(AgoraFault) as refused:
        client.send(find_or_create_request(7, birth_name="Martin", action_id="ACT-9"))
    assert refused.value.code == operations.FAULT_NIR_NAME
    with pytest.raises(AgoraFault) as checked:
        client.send(m.CheckNirName(find_or_create_request(7).person.nir, "Martin"))
    assert checked.value.code == operations.FAULT_NIR_NAME


def test_invalid_data_is_refused(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    request = find_or_create_request(8)
    request.person.nir = request.person.nir[:-2] + f"{(int(request.person.nir[-2:]) + 1) % 97:02d}"
    with pytest.raises(AgoraFault) as bad_key:
        client.send(request)
    assert bad_key.value.code == operations.FAULT_INVALID_DATA
    with pytest.raises(AgoraFault) as bad_date:
        client.send(m.ValidateDossier(_rid(), "AG1", "02/01/2025"))
    assert bad_date.value.code == operations.FAULT_INVALID_DATA


# ---------------------------------------------------------------- outages
@pytest.fixture
def impatient_settings(agora_settings: Settings) -> Settings:
    return dataclasses.replace(agora_settings, agora_timeout_seconds=0.5)


def test_503_is_unavailable_with_retry_after(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    clean_simulator.inject("http503", "RechercherOuCreerDossier", count=1, retry_after=7)
    client = get_client(agora_settings)
    with pytest.raises(AgoraUnavailable) as unavailable:
        client.send(find_or_create_request(9))
    assert unavailable.value.retry_after == 7
    assert clean_simulator.effects() == []
    assert (
        client.send(find_or_create_request(9)).replay is False
    )  # count=1: the next call goes through


def test_timeout_is_unavailable_and_applies_nothing(
    impatient_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    clean_simulator.inject("timeout", "RechercherOuCreerDossier", count=1, delay_seconds=1.0)
    with pytest.raises(AgoraUnavailable):
        get_client(impatient_settings).send(find_or_create_request(10))
    assert clean_simulator.effects() == []


def test_lost_answer_then_retry_is_recognised_as_a_replay(
    impatient_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(impatient_settings)
    dossier = client.send(find_or_create_request(11)).agora_dossier_id
    clean_simulator.inject("timeout_after_apply", "ValiderDossier", count=1, delay_seconds=1.0)
    request = m.ValidateDossier(_rid(), dossier, "2025-01-02")
    with pytest.raises(AgoraUnavailable):
        client.send(request)
    retried = client.send(request)
    assert retried.replay is True and retried.status == operations.STATUS_VALIDATED
    assert len(clean_simulator.effects(operation="ValiderDossier")) == 1


def test_connection_refused_is_unavailable(agora_settings: Settings) -> None:
    settings = dataclasses.replace(agora_settings, agora_url="http://127.0.0.1:9/agora")
    with pytest.raises(AgoraUnavailable):
        get_client(settings).read(
            "ConsulterDroitsFormation", {"nir": find_or_create_request(1).person.nir}
        )


def test_injected_soap_fault(agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    clean_simulator.inject("soap_fault", "*", count=1)
    with pytest.raises(AgoraFault) as refused:
        get_client(agora_settings).send(find_or_create_request(12))
    assert refused.value.code == operations.FAULT_SERVER


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("bientôt") is None


# ------------------------------------------------------- identity vector
class _TamperingFactory(IdentityVectorFactory):
    def vector_for(self, acting_user: str | None,
                   pagm: tuple[str, ...] | None = None) -> IdentityVector:
        vector = super().vector_for(acting_user, pagm)
        assertion = etree.fromstring(vector.xml)
        assertion.find(f"{{{SAML_NS}}}Subject/{{{SAML_NS}}}NameID").text = "directeur"
        return dataclasses.replace(vector, xml=etree.tostring(assertion))


def _client_with_leaf(settings: Settings, paths: PkiPaths, **factory_options) -> AgoraClient:
    factory = IdentityVectorFactory(settings, load_signing_identity(paths), **factory_options)
    return AgoraClient(settings, vector_factory=factory)


def _expect(code: str, client: AgoraClient, clean_simulator: SimulatorHandle) -> None:
    with pytest.raises(AgoraFault) as refused:
        client.send(find_or_create_request(20))
    assert refused.value.code == code
    assert refused.value.is_security_fault
    assert clean_simulator.effects() == []
    assert clean_simulator.requests()[-1]["fault_code"] == code


VI_CASES: dict[str, tuple[str, Callable[[Settings, PkiPaths, Path], AgoraClient]]] = {
    "tampered signature": (
        operations.FAULT_FAILED_CHECK,
        lambda s, pki, tmp: AgoraClient(
            s, vector_factory=_TamperingFactory(s, load_signing_identity(pki))
        ),
    ),
    "self-signed leaf": (
        operations.FAULT_FAILED_CHECK,
        lambda s, pki, tmp: _client_with_leaf(s, create_self_signed_leaf(tmp, s.application_id)),
    ),
    "leaf of another CA": (
        operations.FAULT_FAILED_CHECK,
        lambda s, pki, tmp: _client_with_leaf(s, create_foreign_ca_leaf(tmp, s.application_id)),
    ),
    "expired VI": (
        operations.FAULT_INVALID_VI,
        lambda s, pki, tmp: _client_with_leaf(
            s, pki, clock=lambda: time.time() - 2 * s.vi_lifetime_seconds
        ),
    ),
    "wrong audience": (
        operations.FAULT_INVALID_SERVICE,
        lambda s, pki, tmp: AgoraClient(dataclasses.replace(s, vi_audience="urn:autre:service")),
    ),
    "unknown issuer": (
        operations.FAULT_INVALID_ISSUER,
        lambda s, pki, tmp: AgoraClient(dataclasses.replace(s, application_id="intrus")),
    ),
    "issuer is not the certificate's CN": (
        operations.FAULT_INVALID_ISSUER,
        lambda s, pki, tmp: _client_with_leaf(s, ensure_dev_pki(s.pki_dir, "autre-appli")),
    ),
    "auth level not accepted": (
        operations.FAULT_INVALID_AUTH_LEVEL,
        lambda s, pki, tmp: AgoraClient(dataclasses.replace(s, vi_auth_level="urn:niveau:faible")),
    ),
    "no PAGM for the operation": (
        operations.FAULT_INVALID_PAGM,
        lambda s, pki, tmp: AgoraClient(
            dataclasses.replace(s, vi_pagm=("AGORA_LECTURE;REGION-CORSE",))
        ),
    ),
    "no VI header": (
        operations.FAULT_INVALID_TOKEN,
        lambda s, pki, tmp: AgoraClient(dataclasses.replace(s, vi_mode="gateway")),
    ),
}


@pytest.mark.parametrize("case", VI_CASES)
def test_identity_vector_refusals(
    case: str,
    agora_settings: Settings,
    dev_pki: PkiPaths,
    clean_simulator: SimulatorHandle,
    tmp_path: Path,
) -> None:
    code, make_client = VI_CASES[case]
    _expect(code, make_client(agora_settings, dev_pki, tmp_path), clean_simulator)


def test_rsa_sha1_profile_is_refused_by_a_provider_requiring_sha256(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    # The client can still sign with the older profile (SPEC §3, configurable); the simulator,
    # as a provider requiring SHA-256, refuses it with a security fault and records no effect.
    client = AgoraClient(dataclasses.replace(agora_settings, vi_signature_algorithm="rsa-sha1"))
    _expect(operations.FAULT_FAILED_CHECK, client, clean_simulator)


def test_vi_is_signed_once_and_verified_once_for_many_calls(
    agora_settings: Settings, clean_simulator: SimulatorHandle, dev_pki: PkiPaths
) -> None:
    client = _client_with_leaf(agora_settings, dev_pki)
    checks_before = clean_simulator.stats()["signature_checks"]
    nir = find_or_create_request(22).person.nir
    for _ in range(30):
        client.read("ConsulterDroitsFormation", {"nir": nir}, acting_user="agent.reuse")
    assert client.vector_factory.signatures == 1
    assert clean_simulator.stats()["signature_checks"] == checks_before + 1
    assert (
        len(
            {
                r["assertion_id"]
                for r in clean_simulator.requests(operation="ConsulterDroitsFormation")
            }
        )
        == 1
    )


def test_client_is_cached_and_thread_safe(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    assert get_client(agora_settings) is get_client(dataclasses.replace(agora_settings))
    client = get_client(agora_settings)
    users = [f"agent-{i % 5}" for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        acks = list(
            pool.map(
                lambda i: client.send(find_or_create_request(100 + i), acting_user=users[i]),
                range(40),
            )
        )
    assert len({a.agora_dossier_id for a in acks}) == 40
    by_dossier = {
        r["dossier_id"]: r["acting_user"]
        for r in clean_simulator.requests("RechercherOuCreerDossier")
    }
    assert [by_dossier[a.agora_dossier_id] for a in acks] == users


def test_errors_pickle_and_show_their_code() -> None:
    fault = pickle.loads(pickle.dumps(AgoraFault(operations.FAULT_STATE, "statut CREE")))
    assert (fault.code, fault.message) == (operations.FAULT_STATE, "statut CREE")
    assert operations.FAULT_STATE in str(fault)
    unavailable = pickle.loads(pickle.dumps(AgoraUnavailable("HTTP 503", retry_after=30.0)))
    assert unavailable.retry_after == 30.0 and "503" in str(unavailable)
