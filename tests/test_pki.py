import dataclasses
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from agora.pki import (
    common_name,
    create_foreign_ca_leaf,
    create_self_signed_leaf,
    ensure_dev_client_cert,
    ensure_dev_pki,
    ensure_dev_server_cert,
    load_signing_identity,
    region_pki,
)
from settings import Settings
from store.traces import region_identity, trusted_ca


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_dev_pki_has_a_ca_that_issued_the_application_leaf(tmp_path: Path) -> None:
    paths = ensure_dev_pki(tmp_path / "pki", "agora-flow")
    ca, leaf = _cert(paths.ca_cert), _cert(paths.leaf_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert common_name(leaf) == "agora-flow"
    assert leaf.issuer == ca.subject != leaf.subject
    leaf.verify_directly_issued_by(ca)
    assert leaf.public_key().key_size == 2048


def test_dev_pki_is_created_only_once(tmp_path: Path) -> None:
    first = ensure_dev_pki(tmp_path, "agora-flow")
    contents = {
        p: p.read_bytes() for p in (first.ca_cert, first.ca_key, first.leaf_cert, first.leaf_key)
    }
    second = ensure_dev_pki(tmp_path, "agora-flow")
    assert second == first
    assert {p: p.read_bytes() for p in contents} == contents


def test_a_second_application_gets_its_leaf_from_the_same_ca(tmp_path: Path) -> None:
    main = ensure_dev_pki(tmp_path, "agora-flow")
    other = ensure_dev_pki(tmp_path, "batch-reprise")
    assert other.ca_cert == main.ca_cert
    _cert(other.leaf_cert).verify_directly_issued_by(_cert(main.ca_cert))
    assert common_name(_cert(other.leaf_cert)) == "batch-reprise"


def test_signing_identity_holds_a_key_object(tmp_path: Path) -> None:
    identity = load_signing_identity(ensure_dev_pki(tmp_path, "agora-flow"))
    assert isinstance(identity.private_key, rsa.RSAPrivateKey)
    assert identity.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert identity.common_name == "agora-flow"


def test_refusable_leaves_for_tests(tmp_path: Path) -> None:
    trusted_ca = _cert(ensure_dev_pki(tmp_path / "pki", "agora-flow").ca_cert)
    self_signed = _cert(create_self_signed_leaf(tmp_path / "self", "agora-flow").leaf_cert)
    assert self_signed.issuer == self_signed.subject
    foreign = _cert(create_foreign_ca_leaf(tmp_path / "foreign", "agora-flow").leaf_cert)
    assert foreign.issuer == trusted_ca.subject  # same name, other key
    with pytest.raises(InvalidSignature):
        foreign.verify_directly_issued_by(trusted_ca)


def _names(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n.value) for n in names}


def test_one_function_issues_every_dev_server_certificate(tmp_path: Path) -> None:
    ca = _cert(ensure_dev_pki(tmp_path, "agora-flow").ca_cert)
    cert_path, key_path = ensure_dev_server_cert(tmp_path, "127.0.0.1")
    loopback = _cert(cert_path)
    loopback.verify_directly_issued_by(ca)
    assert _names(loopback) == {"localhost", "127.0.0.1"}
    assert loopback.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    assert key_path.stat().st_mode & 0o077 == 0
    # Asked again (the SOAP endpoint and the file channel on the same host): the same files.
    before = cert_path.read_bytes()
    assert ensure_dev_server_cert(tmp_path, "127.0.0.1") == (cert_path, key_path)
    assert cert_path.read_bytes() == before
    named = _cert(ensure_dev_server_cert(tmp_path, "agora.dev.example")[0])
    assert _names(named) == {"localhost", "127.0.0.1", "agora.dev.example"}
    assert common_name(named) == "agora.dev.example"
    other_ip = _cert(ensure_dev_server_cert(tmp_path, "10.0.0.7")[0])
    assert "10.0.0.7" in _names(other_ip)


def test_the_client_certificate_is_for_client_authentication(tmp_path: Path) -> None:
    client = ensure_dev_client_cert(tmp_path, "agora-flow")
    cert = _cert(client.client_cert)
    cert.verify_directly_issued_by(_cert(client.ca_cert))
    assert common_name(cert) == "agora-flow"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])


def test_the_regions_signing_identity_comes_from_its_configured_pki(tmp_path: Path) -> None:
    # The Region's own PKI (here another CA than the dev one): its certificate, key and CA
    # configured, nothing is created in the data folder's pki/.
    region = ensure_dev_pki(tmp_path / "region-pki", "CR-CORSE-AGORA")
    settings = dataclasses.replace(
        Settings(), data_dir=tmp_path / "data", vi_signing_cert=str(region.leaf_cert),
        vi_signing_key=str(region.leaf_key), region_ca_cert=str(region.ca_cert))
    assert load_signing_identity(region_pki(settings)).common_name == "CR-CORSE-AGORA"
    assert trusted_ca(settings) == _cert(region.ca_cert)
    assert region_identity(settings).cert_pem == region.leaf_cert.read_bytes()
    assert not settings.pki_dir.exists()
    # Unset: the development PKI, created under the data folder.
    development = dataclasses.replace(Settings(), data_dir=tmp_path / "dev")
    assert region_pki(development).leaf_cert.parent == development.pki_dir
    assert trusted_ca(development) == _cert(development.pki_dir / "ca.cert.pem")
