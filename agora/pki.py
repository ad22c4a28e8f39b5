"""Keys and certificates that sign the identity vector (SPEC §3).

AGORA refuses self-signed certificates: the signing leaf must come from a PKI.
In development and tests a local test CA issues it; in production the
Region's PKI-issued leaf is placed in the same files and nothing is created.
The same dev CA issues the TLS certificates of the link in development: the
simulator's server certificate and the Region's client certificate.

Private keys are loaded once per process as key objects: signxml re-parses a
PEM key on every signature (about 50 ms) but signs with a key object in
about 2 ms (DESIGN.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from settings import Settings

CA_COMMON_NAME = "agora-flow test CA"
_KEY_SIZE = 2048


@dataclass(frozen=True)
class PkiPaths:
    ca_cert: Path
    ca_key: Path
    leaf_cert: Path
    leaf_key: Path


@dataclass(frozen=True)
class SigningIdentity:
    """What the signer needs, parsed once: the key object and the leaf cert (PEM)."""

    private_key: rsa.RSAPrivateKey
    cert_pem: bytes
    common_name: str


def pki_paths(pki_dir: Path, application_id: str) -> PkiPaths:
    # One CA per directory, one leaf per application id: several applications
    # (or a test "intruder") can share the dev CA.
    return PkiPaths(
        ca_cert=pki_dir / "ca.cert.pem",
        ca_key=pki_dir / "ca.key.pem",
        leaf_cert=pki_dir / f"{application_id}.cert.pem",
        leaf_key=pki_dir / f"{application_id}.key.pem",
    )


def ensure_dev_pki(pki_dir: Path, application_id: str) -> PkiPaths:
    """Create the test CA and the application's leaf, each only if missing."""
    paths = pki_paths(pki_dir, application_id)
    _ensure_ca(paths)
    if not (paths.leaf_cert.exists() and paths.leaf_key.exists()):
        ca_key = _read_key(paths.ca_key)
        ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        _issue_leaf(paths.leaf_key, paths.leaf_cert, application_id, ca_cert.subject, ca_key)
    return paths


def _ensure_ca(paths: PkiPaths) -> None:
    paths.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        ca_key = _new_key()
        ca_name = _name(CA_COMMON_NAME)
        ca_cert = (
            _builder(ca_name, ca_name, ca_key, days=3650)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(paths.ca_key, paths.ca_cert, ca_key, ca_cert)


# Host names a development server answers on besides its own: a server bound to a loopback
# or wildcard address is reached as localhost or 127.0.0.1.
_LOOPBACK_NAMES = ("localhost", "127.0.0.1")
_WILDCARDS = ("", "0.0.0.0", "::")


def ensure_dev_server_cert(pki_dir: Path, host: str) -> tuple[Path, Path]:
    """The TLS certificate and key of a development server reached at ``host`` (the AGORA
    simulator's SOAP endpoint and its secure file channel), issued by the dev CA (created if
    missing); created only if missing. Valid for ``host``, ``localhost`` and ``127.0.0.1``:
    clients check it against the CA and the host name, as they would in production."""
    names = [*_LOOPBACK_NAMES, *([host] if host not in (*_LOOPBACK_NAMES, *_WILDCARDS) else [])]
    return _ensure_tls_leaf(pki_dir, f"tls-server-{host or 'all'}",
                            host if host not in _WILDCARDS else "127.0.0.1",
                            ExtendedKeyUsageOID.SERVER_AUTH, names)


@dataclass(frozen=True)
class ClientTls:
    """The Region's TLS client certificate to AGORA in development, and the CA that issued
    it (which also issues the servers' certificates)."""

    ca_cert: Path
    client_cert: Path
    client_key: Path


def ensure_dev_client_cert(pki_dir: Path, application_id: str) -> ClientTls:
    """The dev CA and the application's signing leaf (created if missing), and the
    application's TLS client leaf, created only if missing."""
    pki = ensure_dev_pki(pki_dir, application_id)
    cert, key = _ensure_tls_leaf(pki_dir, "tls-client", application_id,
                                 ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return ClientTls(ca_cert=pki.ca_cert, client_cert=cert, client_key=key)


def _ensure_tls_leaf(pki_dir: Path, stem: str, cn: str, usage: x509.ObjectIdentifier,
                     names: list[str]) -> tuple[Path, Path]:
    """A TLS leaf of the dev CA (``<stem>.cert.pem`` and ``.key.pem``), issued only if
    missing; ``names`` (IP addresses or DNS names) become its subject alternative names."""
    paths = pki_paths(pki_dir, cn)
    _ensure_ca(paths)
    cert_path, key_path = pki_dir / f"{stem}.cert.pem", pki_dir / f"{stem}.key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    ca_key = _read_key(paths.ca_key)
    issuer = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes()).subject
    key = _new_key()
    builder = (_builder(_name(cn), issuer, key, days=825)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(name) for name in names]), critical=False)
    _write(key_path, cert_path, key, builder.sign(ca_key, hashes.SHA256()))
    return cert_path, key_path


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def create_self_signed_leaf(directory: Path, common_name: str) -> PkiPaths:
    """A leaf that signs itself: AGORA must refuse it (tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = pki_paths(directory, common_name)
    key = _new_key()
    cert = _builder(_name(common_name), _name(common_name), key, days=365).sign(
        key, hashes.SHA256()
    )
    _write(paths.leaf_key, paths.leaf_cert, key, cert)
    return paths


def create_foreign_ca_leaf(directory: Path, common_name: str) -> PkiPaths:
    """A leaf issued by another CA than the trusted one (tests): its own CA files are in
    ``directory`` too, so the leaf looks well-formed but does not chain to the trusted CA."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = pki_paths(directory, common_name)
    ca_key = _new_key()
    # Same subject as the trusted CA on purpose: only the signature check can tell them apart.
    ca_name = _name(CA_COMMON_NAME)
    ca_cert = (
        _builder(ca_name, ca_name, ca_key, days=3650)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(paths.ca_key, paths.ca_cert, ca_key, ca_cert)
    _issue_leaf(paths.leaf_key, paths.leaf_cert, common_name, ca_name, ca_key)
    return paths


@dataclass(frozen=True)
class RegionPki:
    """The Region's signing certificate and key, and the CA that issued it (None: unknown)."""

    leaf_cert: Path
    leaf_key: Path
    ca_cert: Path | None


def region_pki(settings: Settings) -> RegionPki:
    """As configured (``AGORA_FLOW_VI_SIGNING_CERT``/``_KEY``, ``AGORA_FLOW_REGION_CA_CERT``);
    unset, the development PKI under ``<data dir>/pki``, created if missing — never in
    production, which refuses to start without them (store/production.py)."""
    if settings.vi_signing_cert and settings.vi_signing_key:
        return RegionPki(Path(settings.vi_signing_cert), Path(settings.vi_signing_key),
                         Path(settings.region_ca_cert) if settings.region_ca_cert else None)
    dev = ensure_dev_pki(settings.pki_dir, settings.application_id)
    return RegionPki(dev.leaf_cert, dev.leaf_key, dev.ca_cert)


def load_signing_identity(paths: PkiPaths | RegionPki) -> SigningIdentity:
    cert_pem = paths.leaf_cert.read_bytes()
    cert = x509.load_pem_x509_certificate(cert_pem)
    return SigningIdentity(
        private_key=_read_key(paths.leaf_key),
        cert_pem=cert_pem,
        common_name=common_name(cert),
    )


def common_name(cert: x509.Certificate) -> str:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _issue_leaf(
    key_path: Path, cert_path: Path, cn: str, issuer: x509.Name, ca_key: rsa.RSAPrivateKey
) -> None:
    key = _new_key()
    cert = (
        _builder(_name(cn), issuer, key, days=825)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, cert_path, key, cert)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agora-flow (dev)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so a freshly made cert is valid on a peer whose clock lags.
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _read_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{path}: an RSA private key is expected")
    return key


def _write(key_path: Path, cert_path: Path, key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_pem, mode=0o600)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # A process starting concurrently never reads a half-written PEM file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)
