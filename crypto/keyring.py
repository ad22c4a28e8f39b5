"""The master keyring: AES-256 keys, each named by an id derived from the key itself.

The newest key is current (new ciphertexts); older ones stay to decrypt what they sealed.
Where the keys come from (``settings``):
- ``AGORA_FLOW_MASTER_KEY``: base64 keys separated by commas, oldest first;
- else ``AGORA_FLOW_KEYRING_FILE`` (or ``<data dir>/keys/keyring.json`` in development), a
  JSON file ``{"keys": ["<base64>", ...]}``, oldest first, created with mode 0600 in
  development. Outside development a missing key refuses to start.
A key's bytes never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from settings import Settings

MASTER_KEY_ENV = "AGORA_FLOW_MASTER_KEY"
KEY_BYTES = 32


class KeyConfigurationError(Exception):
    """The product cannot run with the keys it was given (message in French, for operators)."""


def key_id(key: bytes) -> str:
    """A short public name of a key: a hash of it that reveals nothing about it."""
    return "m" + hashlib.sha256(b"agora-flow master key id\x00" + key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...] = field(repr=False)  # oldest first; the last is current
    source: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigurationError("aucune clé maîtresse")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise KeyConfigurationError("une clé maîtresse doit faire 32 octets (base64)")

    @property
    def current_id(self) -> str:
        return key_id(self.keys[-1])

    @property
    def current(self) -> bytes:
        return self.keys[-1]

    @property
    def ids(self) -> list[str]:
        return [key_id(key) for key in self.keys]

    def get(self, kid: str) -> bytes | None:
        return next((key for key in self.keys if key_id(key) == kid), None)

    def derived(self, label: str) -> bytes:
        """A secret that must not change on rotation (look-up indexes): from the oldest key."""
        return hashlib.sha256(self.keys[0] + b"\x00" + label.encode()).digest()


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise KeyConfigurationError("clé maîtresse illisible (base64 attendu)") from None


def keyring_path(settings: Settings) -> Path:
    return Path(settings.keyring_file) if settings.keyring_file else settings.keys_dir / "keyring.json"


def write_private(path: Path, text: str, exclusive: bool = False) -> bool:
    """Write ``text`` to ``path`` readable by its owner only (0600), atomically.
    ``exclusive``: leave an existing file alone and answer False."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    if exclusive:
        try:
            os.link(temporary, path)  # fails if another process wrote it first
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        return True
    os.replace(temporary, path)
    return True


def _read_file(path: Path) -> Keyring:
    try:
        keys = json.loads(path.read_text())["keys"]
    except (OSError, ValueError, KeyError, TypeError):
        raise KeyConfigurationError(f"fichier de clés illisible : {path}") from None
    return Keyring(tuple(_decode(k) for k in keys), source=str(path))


def load_keyring(settings: Settings) -> Keyring:
    """The master keyring, or KeyConfigurationError (outside development: no key, no start)."""
    supplied = os.environ.get(MASTER_KEY_ENV, "")
    if supplied.strip():
        return Keyring(tuple(_decode(k) for k in supplied.split(",") if k.strip()),
                       source=MASTER_KEY_ENV)
    path = keyring_path(settings)
    if path.exists():
        return _read_file(path)
    if not settings.development or settings.keyring_file:
        raise KeyConfigurationError(
            f"clé maîtresse absente : définissez {MASTER_KEY_ENV} ou AGORA_FLOW_KEYRING_FILE "
            f"(fichier attendu : {path}) — le produit ne démarre pas sans elle")
    # Development only: one key created on first use; two processes starting together
    # keep the same one.
    write_private(path, json.dumps({"keys": [base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()]}),
                  exclusive=True)
    return _read_file(path)


def rotate(settings: Settings) -> Keyring:
    """Append a new random key to the keyring file and make it current."""
    if os.environ.get(MASTER_KEY_ENV, "").strip():
        raise KeyConfigurationError(
            f"les clés viennent de {MASTER_KEY_ENV} : ajoutez-y une nouvelle clé en dernier "
            "(séparée par une virgule) pour la rendre courante")
    keyring = load_keyring(settings)
    path = keyring_path(settings)
    keys = [*keyring.keys, secrets.token_bytes(KEY_BYTES)]
    write_private(path, json.dumps({"keys": [base64.b64encode(k).decode() for k in keys]}))
    return Keyring(tuple(keys), source=str(path))
