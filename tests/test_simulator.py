"""The simulator's own contract: SOAP plumbing, admin API, fault injection, AGORA's rules."""

import time

import httpx
import pytest
import requests
import zeep
from lxml import etree

from agora import messages as m
from agora import operations
from agora.client import get_client
from agora.errors import AgoraFault
from agora.simulator.faults import SOAP11_NS
from settings import Settings
from tests.fixtures_agora import SimulatorHandle, find_or_create_request


def _rid() -> str:
    return f"req-{time.monotonic_ns()}"


def _fault_of(response: httpx.Response) -> tuple[str, str, str]:
    """(faultcode as written, namespace its prefix stands for, faultstring)."""
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f"{{{SOAP11_NS}}}Body/{{{SOAP11_NS}}}Fault")
    code = fault.find("faultcode")
    prefix = code.text.split(":", 1)[0]
    return code.text, code.nsmap[prefix], fault.findtext("faultstring")


def test_wsdl_is_served_with_its_own_address(simulator: SimulatorHandle) -> None:
    response = httpx.get(f"{simulator.url}?wsdl", verify=simulator.ssl_context)
    assert response.status_code == 200
    address = etree.fromstring(response.content).find(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert address.get("location") == simulator.url
    # A stock SOAP client can load it (schema included) from the simulator itself.
    session = requests.Session()
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would replace the dev CA
    session.verify = simulator.verify
    client = zeep.Client(f"{simulator.url}?wsdl", transport=zeep.Transport(session=session))
    assert {op for op in client.service._binding._operations} == set(operations.BY_SOAP_NAME)


def test_malformed_and_unknown_requests(clean_simulator: SimulatorHandle) -> None:
    code, namespace, text = _fault_of(httpx.post(clean_simulator.url, content=b"<pas du xml",
                                                          verify=clean_simulator.ssl_context))
    assert (code, namespace) == (operations.FAULT_INVALID_DATA, operations.NAMESPACE)
    assert "mal formé" in text
    envelope = f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body><x:Inconnue xmlns:x="{operations.NAMESPACE}"/></soap:Body></soap:Envelope>'
    assert (
        _fault_of(httpx.post(clean_simulator.url, content=envelope.encode(), verify=clean_simulator.ssl_context))[0]
        == operations.FAULT_INVALID_DATA
    )


def test_missing_security_header_is_an_invalid_token(clean_simulator: SimulatorHandle) -> None:
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'
        f'<a:ConsulterDroitsFormation xmlns:a="{operations.NAMESPACE}"><a:nir>185017500000180</a:nir>'
        "</a:ConsulterDroitsFormation></soap:Body></soap:Envelope>"
    )
    code, namespace, _ = _fault_of(httpx.post(clean_simulator.url, content=envelope.encode(), verify=clean_simulator.ssl_context))
    assert (code, namespace) == (operations.FAULT_INVALID_TOKEN, operations.WSSE_NAMESPACE)
    assert clean_simulator.requests()[-1]["outcome"] == "fault"


def test_fault_injection_count_operation_and_probability(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    nir = find_or_create_request(30).person.nir
    clean_simulator.inject(
        "soap_fault", "ConsulterDroitsFormation", count=2, fault_code=operations.FAULT_SERVER
    )
    clean_simulator.inject("http503", "*", probability=0.0)  # never fires
    client.read("ConsulterSoldesCompte", {"nir": nir})  # other operation: untouched
    for _ in range(2):
        with pytest.raises(AgoraFault):
            client.read("ConsulterDroitsFormation", {"nir": nir})
    client.read("ConsulterDroitsFormation", {"nir": nir})  # count exhausted
    stats = clean_simulator.stats()["operations"]["ConsulterDroitsFormation"]
    assert (stats["received"], stats["faults"]) == (3, 2)
    assert (
        httpx.post(f"{clean_simulator.admin_url}/faults", json={"kind": "meteor"},
                   verify=clean_simulator.ssl_context,
                   headers=clean_simulator.admin_headers).status_code
        == 422
    )


def test_slow_answers_still_apply(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    clean_simulator.inject("slow", "RechercherOuCreerDossier", count=1, delay_seconds=0.2)
    started = time.monotonic()
    ack = get_client(agora_settings).send(find_or_create_request(31))
    assert time.monotonic() - started >= 0.2
    assert ack.status == operations.STATUS_CREATED


def test_reset_wipes_data(agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    get_client(agora_settings).send(find_or_create_request(32))
    assert len(clean_simulator.dossiers()) == 1
    clean_simulator.reset()
    assert (
        clean_simulator.dossiers() == []
        and clean_simulator.effects() == []
        and clean_simulator.requests() == []
    )


# ------------------------------------------------------------- business rules
@pytest.fixture
def entered(agora_settings: Settings, clean_simulator: SimulatorHandle) -> str:
    """A dossier in training (EN_FORMATION)."""
    client = get_client(agora_settings)
    dossier = client.send(find_or_create_request(40)).agora_dossier_id
    client.send(m.ValidateDossier(_rid(), dossier, "2025-01-02"))
    client.send(m.EnterTraining(_rid(), dossier, "2025-01-06"))
    return dossier


def test_each_payment_is_recorded_once(
    agora_settings: Settings, clean_simulator: SimulatorHandle, entered: str
) -> None:
    client = get_client(agora_settings)
    first = client.send(m.DeclarePayment(_rid(), entered, "PAY-1", "2025-02-01", "650.00"))
    again = client.send(m.DeclarePayment(_rid(), entered, "PAY-1", "2025-02-01", "650.00"))
    second = client.send(m.DeclarePayment(_rid(), entered, "PAY-2", "2025-03-01", "650.00"))
    assert (first.replay, again.replay, second.replay) == (False, True, False)
    assert again.ack_id == first.ack_id
    assert len(clean_simulator.effects(operation="DeclarerRemuneration", dossier=entered)) == 2


def test_payment_needs_a_trainee_in_training(
    agora_settings: Settings, clean_simulator: SimulatorHandle
) -> None:
    client = get_client(agora_settings)
    dossier = client.send(find_or_create_request(41)).agora_dossier_id
    with pytest.raises(AgoraFault) as refused:
        client.send(m.DeclarePayment(_rid(), dossier, "PAY-1", "2025-02-01", "650.00"))
    assert refused.value.code == operations.FAULT_STATE


def test_final_exit_from_interruption_then_settlement(
    agora_settings: Settings, clean_simulator: SimulatorHandle, entered: str
) -> None:
    client = get_client(agora_settings)
    with pytest.raises(AgoraFault):  # settling needs an exit first
        client.send(m.SettleAction(_rid(), "2025-07-01", "100.00", agora_dossier_id=entered))
    client.send(m.ExitTraining(_rid(), entered, "2025-03-01", m.EXIT_INTERRUPTION, "maladie"))
    with pytest.raises(AgoraFault):  # resuming is REPRISE, not a second ENTREE
        client.send(m.EnterTraining(_rid(), entered, "2025-03-10"))
    exited = client.send(m.ExitTraining(_rid(), entered, "2025-03-20", m.EXIT_FINAL, "abandon"))
    assert exited.status == operations.STATUS_EXITED
    assert (
        client.send(m.SettleAction(_rid(), "2025-07-01", "100.00", agora_dossier_id=entered)).status
        == "SOLDE"
    )


def test_market_is_settled_once(agora_settings: Settings, clean_simulator: SimulatorHandle) -> None:
    client = get_client(agora_settings)
    first = client.send(
        m.SettleAction(_rid(), "2025-12-31", "125000.00", market_reference="MP-2025-007")
    )
    again = client.send(
        m.SettleAction(_rid(), "2025-12-31", "125000.00", market_reference="MP-2025-007")
    )
    assert (first.replay, again.replay, again.ack_id) == (False, True, first.ack_id)
    assert first.agora_dossier_id == "" and first.status == operations.STATUS_SETTLED
    assert len(clean_simulator.effects(operation="SolderAction")) == 1


def test_cancellation_only_before_training(
    agora_settings: Settings, clean_simulator: SimulatorHandle, entered: str
) -> None:
    client = get_client(agora_settings)
    cancel = [m.Correction("statut", operations.STATUS_CANCELLED)]
    with pytest.raises(AgoraFault) as refused:
        client.send(m.ReengineerDossier(_rid(), entered, "annulation", cancel))
    assert refused.value.code == operations.FAULT_STATE
    dossier = client.send(find_or_create_request(42)).agora_dossier_id
    cancelled = client.send(m.ReengineerDossier(_rid(), dossier, "annulation", cancel))
    assert cancelled.status == operations.STATUS_CANCELLED
    assert client.send(m.ReengineerDossier(_rid(), dossier, "annulation", cancel)).replay is True
    with pytest.raises(AgoraFault) as closed:
        client.send(
            m.ReengineerDossier(_rid(), dossier, "coquille", [m.Correction("nomUsage", "X")])
        )
    assert closed.value.code == operations.FAULT_STATE


def test_request_id_reused_for_another_operation(
    agora_settings: Settings, clean_simulator: SimulatorHandle, entered: str
) -> None:
    client = get_client(agora_settings)
    request_id = _rid()
    client.send(m.DeclarePayment(request_id, entered, "PAY-1", "2025-02-01", "650.00"))
    with pytest.raises(AgoraFault) as refused:
        client.send(m.ExitTraining(request_id, entered, "2025-03-01", m.EXIT_FINAL, "fin"))
    assert refused.value.code == operations.FAULT_INVALID_DATA
