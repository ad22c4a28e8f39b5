import dataclasses
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree
from signxml import XMLVerifier

from agora import operations
from agora.identity_vector import DS_NS, SAML_NS, IdentityVectorFactory, build_assertion
from agora.pki import PkiPaths, SigningIdentity, ensure_dev_pki, load_signing_identity
from agora.simulator.config import default_pagm_rights
from agora.simulator.faults import SoapFault
from agora.simulator.vi_verifier import ViVerifier
from agora.wsse import SOAP11_NS, add_security_header
from settings import Settings

NS = {"saml2": SAML_NS, "ds": DS_NS}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PkiPaths:
    return ensure_dev_pki(tmp_path_factory.mktemp("pki"), "agora-flow")


@pytest.fixture(scope="module")
def identity(pki: PkiPaths) -> SigningIdentity:
    return load_signing_identity(pki)


@pytest.fixture(scope="module")
def vi_settings() -> Settings:
    return dataclasses.replace(
        Settings(),
        application_id="agora-flow",
        partner_id="REGION-CORSE",
        vi_pagm=("AGORA_FINANCEUR;REGION-CORSE", "AGORA_LECTURE;REGION-CORSE"),
        vi_signature_algorithm="rsa-sha256",
        vi_lifetime_seconds=3600,
    )


def _verifier(
    pki: PkiPaths, settings: Settings, clock=None, accept_sha1: bool = False
) -> ViVerifier:
    from cryptography import x509

    return ViVerifier(
        trusted_cas=[x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())],
        known_issuers=[settings.application_id],
        audience=settings.vi_audience,
        recipient=settings.vi_recipient,
        auth_levels=[settings.vi_auth_level],
        pagm_rights=default_pagm_rights(),
        clock_skew_seconds=60,
        accept_sha1=accept_sha1,
        **({"clock": clock} if clock else {}),
    )


def _envelope(assertion: etree._Element) -> etree._Element:
    envelope = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    etree.SubElement(envelope, f"{{{SOAP11_NS}}}Body")
    add_security_header(envelope, assertion)
    # Through bytes, as on the wire.
    return etree.fromstring(etree.tostring(envelope))


def test_assertion_carries_what_spec_3_lists(
    vi_settings: Settings, identity: SigningIdentity
) -> None:
    now = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    assertion = build_assertion(vi_settings, identity, "agent.dupont", now=now)
    assert assertion.findtext("saml2:Issuer", namespaces=NS) == "agora-flow"
    # The signature sits right after Issuer, as SAML's schema wants.
    assert assertion[1].tag == f"{{{DS_NS}}}Signature"
    assert assertion.findtext("saml2:Subject/saml2:NameID", namespaces=NS) == "agent.dupont"
    confirmation = assertion.find("saml2:Subject/saml2:SubjectConfirmation", NS)
    assert confirmation.get("Method") == "urn:oasis:names:tc:SAML:2.0:cm:bearer"
    assert (
        confirmation.find("saml2:SubjectConfirmationData", NS).get("Recipient")
        == vi_settings.vi_recipient
    )
    conditions = assertion.find("saml2:Conditions", NS)
    assert conditions.get("NotBefore") == "2025-03-01T11:55:00Z"
    assert conditions.get("NotOnOrAfter") == "2025-03-01T13:00:00Z"
    assert (
        conditions.findtext("saml2:AudienceRestriction/saml2:Audience", namespaces=NS)
        == vi_settings.vi_audience
    )
    assert (
        assertion.findtext(
            "saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef", namespaces=NS
        )
        == vi_settings.vi_auth_level
    )
    pagm = assertion.xpath(
        "saml2:AttributeStatement/saml2:Attribute[@Name='PAGM']/saml2:AttributeValue/text()",
        namespaces=NS,
    )
    assert pagm == list(vi_settings.vi_pagm)
    partner = assertion.xpath(
        "saml2:AttributeStatement/saml2:Attribute[@Name='IdentifiantPartenaire']/saml2:AttributeValue/text()",
        namespaces=NS,
    )
    assert partner == ["REGION-CORSE"]
    signed_info = assertion.find("ds:Signature/ds:SignedInfo", NS)
    assert (
        signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm")
        == "http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm").endswith("rsa-sha256")
    assert signed_info.find("ds:Reference", NS).get("URI") == f"#{assertion.get('ID')}"
    assert assertion.findtext(
        "ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS
    )


def test_anonymous_call_is_non_renseigne(vi_settings: Settings, identity: SigningIdentity) -> None:
    assertion = build_assertion(vi_settings, identity, None, now=dt.datetime.now(dt.UTC))
    assert assertion.findtext("saml2:Subject/saml2:NameID", namespaces=NS) == "NON_RENSEIGNE"


def test_signature_verifies_with_the_leaf(vi_settings: Settings, identity: SigningIdentity) -> None:
    assertion = build_assertion(vi_settings, identity, "u", now=dt.datetime.now(dt.UTC))
    result = XMLVerifier().verify(
        etree.tostring(assertion), x509_cert=identity.cert_pem.decode(), id_attribute="ID"
    )
    assert result.signed_xml.get("ID") == assertion.get("ID")


def test_rsa_sha1_is_available_for_older_profiles(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    settings = dataclasses.replace(vi_settings, vi_signature_algorithm="rsa-sha1")
    assertion = build_assertion(settings, identity, "u", now=dt.datetime.now(dt.UTC))
    assert (
        assertion.find("ds:Signature/ds:SignedInfo/ds:SignatureMethod", NS)
        .get("Algorithm")
        .endswith("rsa-sha1")
    )
    # A provider still on the older profile accepts it; one requiring SHA-256 refuses it.
    claims = _verifier(pki, settings, accept_sha1=True).verify(
        _envelope(assertion), "ValiderDossier"
    )
    assert claims.subject == "u"
    with pytest.raises(SoapFault) as refused:
        _verifier(pki, settings).verify(_envelope(assertion), "ValiderDossier")
    assert refused.value.code == operations.FAULT_FAILED_CHECK


def test_verifier_accepts_the_assertion_inside_an_envelope(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    factory = IdentityVectorFactory(vi_settings, identity)
    claims = _verifier(pki, vi_settings).verify(
        _envelope(factory.assertion_for("agent")), "ValiderDossier"
    )
    assert (claims.issuer, claims.subject, claims.cert_common_name) == (
        "agora-flow",
        "agent",
        "agora-flow",
    )


def test_verifier_refuses_a_tampered_assertion(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    assertion = IdentityVectorFactory(vi_settings, identity).assertion_for("agent")
    assertion.find("saml2:Subject/saml2:NameID", NS).text = "directeur"
    with pytest.raises(SoapFault) as refused:
        _verifier(pki, vi_settings).verify(_envelope(assertion), "ValiderDossier")
    assert refused.value.code == operations.FAULT_FAILED_CHECK


def test_verifier_checks_the_time_window_even_for_a_cached_assertion(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    now = [dt.datetime.now(dt.UTC).timestamp()]
    verifier = _verifier(pki, vi_settings, clock=lambda: now[0])
    envelope = _envelope(IdentityVectorFactory(vi_settings, identity).assertion_for("agent"))
    verifier.verify(envelope, "ValiderDossier")
    verifier.verify(envelope, "ValiderDossier")
    assert verifier.signature_checks == 1  # the reused VI was verified once
    now[0] += vi_settings.vi_lifetime_seconds + 120
    with pytest.raises(SoapFault) as refused:
        verifier.verify(envelope, "ValiderDossier")
    assert refused.value.code == operations.FAULT_INVALID_VI


def test_verifier_refuses_a_tampered_copy_of_a_cached_assertion(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    verifier = _verifier(pki, vi_settings)
    good = IdentityVectorFactory(vi_settings, identity).vector_for("agent")
    verifier.verify(_envelope(etree.fromstring(good.xml)), "ValiderDossier")
    tampered = etree.fromstring(good.xml)  # same ID, same signature, another user
    tampered.find("saml2:Subject/saml2:NameID", NS).text = "directeur"
    with pytest.raises(SoapFault) as refused:
        verifier.verify(_envelope(tampered), "ValiderDossier")
    assert refused.value.code == operations.FAULT_FAILED_CHECK
    assert verifier.verify(_envelope(etree.fromstring(good.xml)), "ValiderDossier").subject == (
        "agent"
    )
    assert verifier.signature_checks == 1  # the good VI verified once, then served cached


def test_verifier_forgets_an_assertion_after_its_expiry(
    vi_settings: Settings, identity: SigningIdentity, pki: PkiPaths
) -> None:
    now = [dt.datetime.now(dt.UTC).timestamp()]
    verifier = _verifier(pki, vi_settings, clock=lambda: now[0])
    factory = IdentityVectorFactory(vi_settings, identity, clock=lambda: now[0])
    first = _envelope(factory.assertion_for("agent"))
    verifier.verify(first, "ValiderDossier")
    now[0] += vi_settings.vi_lifetime_seconds + 120  # past NotOnOrAfter and the skew
    verifier.verify(_envelope(factory.assertion_for("agent")), "ValiderDossier")  # a new VI
    assert len(verifier._cache) == 1  # the expired one was dropped when its slot was due
    with pytest.raises(SoapFault) as refused:
        verifier.verify(first, "ValiderDossier")
    assert refused.value.code == operations.FAULT_INVALID_VI
    assert verifier.signature_checks == 3


def test_factory_reuses_a_vi_per_user_until_its_margin(
    vi_settings: Settings, identity: SigningIdentity
) -> None:
    now = [1_750_000_000.0]
    factory = IdentityVectorFactory(
        vi_settings, identity, renew_margin_seconds=300, clock=lambda: now[0]
    )
    first = factory.vector_for("alice")
    for _ in range(50):
        assert factory.vector_for("alice") is first
    assert factory.signatures == 1
    factory.vector_for("bob")
    factory.vector_for(None)
    assert factory.signatures == 3
    now[0] += 3600 - 301  # still more than the margin left
    assert factory.vector_for("alice") is first
    now[0] += 2  # inside the margin: re-signed
    assert factory.vector_for("alice").assertion_id != first.assertion_id
    assert factory.signatures == 4


def test_factory_is_thread_safe(vi_settings: Settings, identity: SigningIdentity) -> None:
    archived: list[str] = []
    lock = threading.Lock()

    def archive(vector) -> None:
        with lock:
            archived.append(vector.assertion_id)

    factory = IdentityVectorFactory(vi_settings, identity, on_signed=archive)
    users = [f"user-{i % 4}" for i in range(400)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda u: factory.vector_for(u).assertion_id, users))
    assert factory.signatures == 4 == len(set(ids)) == len(archived)
