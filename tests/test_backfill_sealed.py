"""A campaign's files at rest: sealed, owner-only, tamper-evident."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from backfill.sealed import SealedFileError, private_folder, read_records, write_records
from crypto.keyring import Keyring


def keyring(*seeds: int) -> Keyring:
    return Keyring(tuple(bytes([seed]) * 32 for seed in seeds))


def test_records_come_back_and_are_not_in_clear(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "campagne")
    path = folder / "ready.sealed"
    records = [b'{"nir": "185017512345678"}', b"Santoni"]
    assert write_records(path, keyring(1), records) == 2
    assert list(read_records(path, keyring(1))) == records
    assert b"Santoni" not in path.read_bytes() and b"1850175" not in path.read_bytes()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_older_key_still_opens_what_it_sealed(tmp_path: Path) -> None:
    path = tmp_path / "f.sealed"
    write_records(path, keyring(1), [b"x"])
    assert list(read_records(path, keyring(1, 2))) == [b"x"]
    with pytest.raises(SealedFileError):
        list(read_records(path, keyring(3)))


def test_a_changed_byte_or_a_file_renamed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.sealed"
    write_records(path, keyring(1), [b"premier", b"second"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    damaged = tmp_path / "b.sealed"
    damaged.write_bytes(bytes(data))
    with pytest.raises(SealedFileError):
        list(read_records(damaged, keyring(1)))
    renamed = tmp_path / "c.sealed"  # records are bound to their file's name
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(SealedFileError):
        list(read_records(renamed, keyring(1)))
