"""Per-person data keys, each wrapped by the master key, for crypto-erasure.

A person's dossier workflows, and the store's personal fields, are encrypted under a
data key of that person. Destroying that key (``erase``) makes every copy of what it
sealed unreadable: Temporal histories, database rows, and their backups.

Layout under the keys folder (every file 0600, folders 0700):
- ``persons/<key id>.json``: the data key, wrapped (AES-256-GCM) by a master key;
- ``subjects/<hmac of the NIR>``: the key id of that person (no NIR in clear);
- ``workflows/<hash of the workflow id>``: the key id its payloads are sealed under.
Key ids are random: they name a key, and say nothing of the person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.keyring import KEY_BYTES, Keyring, write_private

PERSON_KEY_PREFIX = "p"
_NONCE = 12
# How long an unwrapped data key (or the key id found for a person) is kept in memory: the
# store's writer and readers use a key many times in a row, yet a key erased elsewhere is
# not held longer than this (and its file is still checked on every use).
KEY_CACHE_SECONDS = 300.0


class PersonKeyErased(LookupError):
    """The person's data key was destroyed (or never existed): what it sealed is gone."""


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def open_sealed(key: bytes, sealed: bytes, associated: bytes) -> bytes:
    return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], associated)


@dataclass
class PersonKeys:
    keyring: Keyring = field(repr=False)
    folder: Path
    # Re-reads the keyring when a key id is unknown (rotated by another process).
    reload: Callable[[], Keyring] | None = None
    # Unwrapped keys, and the key id of each person (by the keyed hash of their NIR), each
    # with the monotonic instant it expires at.
    _keys: dict[str, tuple[bytes, float]] = field(default_factory=dict, repr=False)
    _persons: dict[str, tuple[str, float]] = field(default_factory=dict, repr=False)
    _workflows: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- names -------------------------------------------------------------------------

    def _subject_file(self, nir: str) -> Path:
        return self.folder / "subjects" / self._subject_digest(nir)

    def _subject_digest(self, nir: str) -> str:
        return hmac.new(self.keyring.derived("person-index"), nir.encode(),
                        hashlib.sha256).hexdigest()

    def _workflow_file(self, workflow_id: str) -> Path:
        return self.folder / "workflows" / hashlib.sha256(workflow_id.encode()).hexdigest()[:40]

    def _key_file(self, kid: str) -> Path:
        if not kid.startswith(PERSON_KEY_PREFIX) or not kid[1:].isalnum():
            raise PersonKeyErased(kid)  # never a path outside the folder
        return self.folder / "persons" / f"{kid}.json"

    def master(self, kid: str) -> bytes | None:
        key = self.keyring.get(kid)
        if key is None and self.reload is not None:
            self.keyring = self.reload()
            key = self.keyring.get(kid)
        return key

    # --- keys --------------------------------------------------------------------------

    def _new_key(self) -> str:
        kid = PERSON_KEY_PREFIX + secrets.token_hex(12)
        key = secrets.token_bytes(KEY_BYTES)
        master_id = self.keyring.current_id
        wrapped = seal(self.keyring.current, key, f"{kid}:{master_id}".encode())
        write_private(self._key_file(kid), json.dumps(
            {"master": master_id, "wrapped": base64.b64encode(wrapped).decode()}), exclusive=True)
        return kid

    def key(self, kid: str) -> bytes:
        """The data key ``kid``; PersonKeyErased once destroyed (even in a process that had
        it cached: its file is checked on every use)."""
        path = self._key_file(kid)
        if not path.exists():
            self._keys.pop(kid, None)
            raise PersonKeyErased(kid)
        cached = self._keys.get(kid)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            raise PersonKeyErased(kid) from None
        master = self.master(entry["master"])
        if master is None:
            raise PersonKeyErased(f"{kid} (clé maîtresse {entry['master']} absente)")
        try:
            key = open_sealed(master, base64.b64decode(entry["wrapped"]),
                              f"{kid}:{entry['master']}".encode())
        except InvalidTag:
            raise PersonKeyErased(f"{kid} (clé altérée)") from None
        self._keys[kid] = (key, time.monotonic() + KEY_CACHE_SECONDS)
        return key

    def for_person(self, nir: str) -> str:
        """The key id of the person with this NIR, created on first use."""
        digest = self._subject_digest(nir)
        cached = self._persons.get(digest)
        if cached is not None and cached[1] > time.monotonic() and self._key_file(cached[0]).exists():
            return cached[0]
        kid = self._find_or_create(nir)
        self._persons[digest] = (kid, time.monotonic() + KEY_CACHE_SECONDS)
        return kid

    def _find_or_create(self, nir: str) -> str:
        index = self._subject_file(nir)
        with self._lock:
            if index.exists():
                kid = index.read_text().strip()
                if self._key_file(kid).exists():
                    return kid
                index.unlink(missing_ok=True)  # erased: a new dossier gets a new key
            kid = self._new_key()
            if not write_private(index, kid, exclusive=True):  # another process was first
                self._key_file(kid).unlink()
                kid = index.read_text().strip()
            return kid

    def bind_workflow(self, workflow_id: str, kid: str) -> str:
        """Seal ``workflow_id``'s payloads under ``kid``; a workflow keeps its first key."""
        path = self._workflow_file(workflow_id)
        if not write_private(path, kid, exclusive=True):
            kid = path.read_text().strip()
        self._workflows[workflow_id] = kid
        return kid

    def for_workflow(self, workflow_id: str) -> str:
        """The key id ``workflow_id`` is bound to; a workflow started without a person
        (tests, tools) gets a key of its own, so it is sealed all the same."""
        kid = self._workflows.get(workflow_id)
        if kid is not None:
            return kid
        path = self._workflow_file(workflow_id)
        if path.exists():
            kid = path.read_text().strip()
            self._workflows[workflow_id] = kid
            return kid
        return self.bind_workflow(workflow_id, self._new_key())

    def of_person(self, nir: str) -> str | None:
        """The key id of the person with this NIR, if they have one (never creates one)."""
        index = self._subject_file(nir)
        return index.read_text().strip() if index.exists() else None

    def erase_person(self, nir: str) -> bool:
        """Crypto-erasure of a person: their data key destroyed, and the index naming it (a
        keyed hash of their NIR) removed. False if they had no key left."""
        kid = self.of_person(nir)
        destroyed = self.erase(kid) if kid else False
        self._subject_file(nir).unlink(missing_ok=True)
        self._persons.pop(self._subject_digest(nir), None)
        return destroyed

    def erase(self, kid: str) -> bool:
        """Destroy the data key ``kid`` (crypto-erasure); False if it was already gone."""
        path = self._key_file(kid)
        self._keys.pop(kid, None)
        try:
            # Overwritten before unlinking, so the bytes do not linger in the file's blocks
            # on a plain file system (snapshots and backups of the keys folder still hold it:
            # see the README on key backups).
            size = path.stat().st_size
            with open(path, "r+b") as out:
                out.write(secrets.token_bytes(size))
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def seal_text(self, kid: str, plaintext: str, purpose: str) -> str:
        """``plaintext`` sealed under the data key ``kid`` for ``purpose`` (associated data),
        as text that travels inside another payload: a workflow not sealed under the
        person's key (a data-subject request's) still holds nothing erasure does not reach."""
        box = seal(self.key(kid), plaintext.encode(), f"{purpose}:{kid}".encode())
        return f"{kid}:{base64.b64encode(box).decode()}"

    def open_text(self, sealed: str, purpose: str) -> str:
        """What ``seal_text`` sealed; PersonKeyErased once its key is destroyed."""
        kid, _, box = sealed.partition(":")
        try:
            return open_sealed(self.key(kid), base64.b64decode(box),
                               f"{purpose}:{kid}".encode()).decode()
        except InvalidTag:
            raise PersonKeyErased(f"{kid} (valeur altérée)") from None

    def count(self) -> int:
        return sum(1 for _ in (self.folder / "persons").glob("*.json"))

    def rewrap(self) -> int:
        """Wrap every person key under the current master key (after a rotation)."""
        count = 0
        for path in sorted((self.folder / "persons").glob("*.json")):
            kid = path.stem
            try:
                key = self.key(kid)
            except PersonKeyErased:
                continue
            master_id = self.keyring.current_id
            wrapped = seal(self.keyring.current, key, f"{kid}:{master_id}".encode())
            write_private(path, json.dumps(
                {"master": master_id, "wrapped": base64.b64encode(wrapped).decode()}))
            count += 1
        return count
