from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from agora.pki import (
    common_name,
    create_foreign_ca_leaf,
    create_self_signed_leaf,
    ensure_dev_pki,
    load_signing_identity,
)


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
