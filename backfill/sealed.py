"""A campaign's files at rest: sealed (AES-256-GCM under the master keyring's current key),
in a folder only their owner may enter (0700, files 0600), written and read as a stream of
records so that memory does not grow with the campaign.

Layout of a sealed file: a first line ``AFB1 <key id>``, then records, each a 4-byte
big-endian length and ``nonce + ciphertext``; the associated data binds each record to its
file's name and its position, so records cannot be swapped or moved between files.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Self

from crypto.keyring import Keyring
from crypto.person_keys import open_sealed, seal

_MAGIC = b"AFB1"
_LENGTH = struct.Struct(">I")


class SealedFileError(Exception):
    """A sealed file that cannot be opened (damaged, or its key is gone)."""


def private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


class SealedWriter:
    """Records sealed one by one into ``path``, which appears (atomically) only once the
    writer is closed without error."""

    def __init__(self, path: Path, keyring: Keyring) -> None:
        self.path = path
        self.count = 0
        self._keyring = keyring
        self._temporary = path.with_name(f".{path.name}.partial")
        fd = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._out = os.fdopen(fd, "wb")
        self._out.write(_MAGIC + b" " + keyring.current_id.encode() + b"\n")

    def add(self, record: bytes) -> None:
        blob = seal(self._keyring.current, record, f"{self.path.name}:{self.count}".encode())
        self._out.write(_LENGTH.pack(len(blob)) + blob)
        self.count += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        if kind is None:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)


def write_records(path: Path, keyring: Keyring, records: Iterable[bytes]) -> int:
    """Seal ``records`` into ``path`` (replaced atomically); answer how many were written."""
    with SealedWriter(path, keyring) as writer:
        for record in records:
            writer.add(record)
    return writer.count


def read_records(path: Path, keyring: Keyring) -> Iterator[bytes]:
    with open(path, "rb") as source:
        magic, _, kid = source.readline().strip().partition(b" ")
        key = keyring.get(kid.decode()) if magic == _MAGIC else None
        if key is None:
            raise SealedFileError(f"{path.name} : fichier scellé illisible (clé inconnue).")
        index = 0
        while header := source.read(_LENGTH.size):
            blob = source.read(_LENGTH.unpack(header)[0])
            try:
                yield open_sealed(key, blob, f"{path.name}:{index}".encode())
            except Exception:  # noqa: BLE001 -- InvalidTag and truncation alike
                raise SealedFileError(f"{path.name} : fichier scellé endommagé.") from None
            index += 1


def write_bytes(path: Path, keyring: Keyring, data: bytes) -> None:
    write_records(path, keyring, [data])


def read_bytes(path: Path, keyring: Keyring) -> bytes:
    return b"".join(read_records(path, keyring))
