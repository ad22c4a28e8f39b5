"""The store's own data key (SPEC §8): keyed look-up hashes (the NIR's, the name words'),
AES-GCM for what belongs to no person, and NIRs sealed before they went under each person's
key (``store.person_fields``), which still open.

The 32-byte data key comes from ``AGORA_FLOW_DATA_KEY`` (base64) in production;
in development a key file is generated once under the data folder. The look-up
hash and the session secrets are derived from the same key, each with its own
label, so one secret is managed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from settings import Settings

KEY_ENV = "AGORA_FLOW_DATA_KEY"
KEY_FILE = "data-key.b64"
# Version byte in front of each ciphertext, so a key rotation can tell old from new.
_VERSION = b"\x01"
# Bound to its row: the associated data names the table, column and row key.
_ROW_BOUND = b"\x02"
_NONCE_BYTES = 12


def load_key(settings: Settings) -> bytes:
    """The data key from the environment, else from (or into) the dev key file."""
    encoded = os.environ.get(KEY_ENV)
    if not encoded:
        path = Path(settings.data_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting together must not write two different keys.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as out:
                    out.write(base64.b64encode(secrets.token_bytes(32)).decode())
        encoded = path.read_text().strip()
    key = base64.b64decode(encoded)
    if len(key) != 32:
        raise ValueError(f"{KEY_ENV} must be 32 bytes, base64-encoded")
    return key


@dataclass(frozen=True)
class DataCipher:
    key: bytes

    def _derived(self, label: str) -> bytes:
        return hmac.new(self.key, label.encode(), hashlib.sha256).digest()

    def encrypt(self, plaintext: str, row: str | None = None) -> bytes:
        """Sealed; bound to ``row`` (associated data) when given, so that the value copied
        into another row no longer decrypts there."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        version = _VERSION if row is None else _ROW_BOUND
        return version + nonce + AESGCM(self._derived("nir-encryption")).encrypt(
            nonce, plaintext.encode(), _associated(version, row))

    def decrypt(self, blob: bytes, row: str | None = None) -> str:
        """Opens what ``encrypt`` sealed; a row-bound value needs the same ``row``
        (cryptography's InvalidTag otherwise). Values sealed before rows were bound still
        open."""
        version = blob[:1]
        if version not in (_VERSION, _ROW_BOUND):
            raise ValueError("unknown ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        return AESGCM(self._derived("nir-encryption")).decrypt(
            nonce, sealed, _associated(version, row)).decode()

    def lookup_hash(self, nir: str) -> str:
        """Keyed hash of a normalised NIR: equal NIRs match, the hash alone reveals nothing."""
        return hmac.new(self._derived("nir-lookup"), nir.encode(), hashlib.sha256).hexdigest()

    def keyed_hash(self, label: str, value: str) -> str:
        """Keyed hash of ``value`` under its own ``label`` (a look-up index that reveals
        nothing without the data key)."""
        return hmac.new(self._derived(label), value.encode(), hashlib.sha256).hexdigest()

    def session_secret(self) -> bytes:
        return self._derived("session-signing")


def _associated(version: bytes, row: str | None) -> bytes:
    if version == _ROW_BOUND:
        if not row:
            raise ValueError("a row-bound value needs its row")
        return version + row.encode()
    return version


def nir_row(nir_hash: str) -> str:
    """The associated data of a person's NIR: its table, column and row key."""
    return f"persons.nir_encrypted:{nir_hash}"


def seal_nir(cipher: DataCipher, nir: str, nir_hash: str) -> bytes:
    return cipher.encrypt(nir, nir_row(nir_hash))


def open_nir(cipher: DataCipher, nir_encrypted: bytes, nir_hash: str) -> str:
    return cipher.decrypt(nir_encrypted, nir_row(nir_hash))


def cipher_for(settings: Settings) -> DataCipher:
    return DataCipher(load_key(settings))
