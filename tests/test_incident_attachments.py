"""Files attached to incidents: checked by content, kept sealed with the incident."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import Settings
from state_models.attachments import check_attachment, safe_filename
from store.incident_attachments import AttachmentStore

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def test_accepted_types_are_read_from_the_content() -> None:
    assert check_attachment("capture.png", PNG).content_type == "image/png"
    assert check_attachment("rapport.pdf", PDF).content_type == "application/pdf"
    assert check_attachment("journal-503.log", "HTTP 503 à 09:12\n".encode()).content_type == "text/plain"


@pytest.mark.parametrize(("name", "content", "why"), [
    ("outil.exe", b"MZ\x90\x00\x03", "type refusé"),
    ("capture.png", b"MZ\x90\x00\x03", "type refusé"),  # an executable renamed
    ("notes.txt", b"MZ\x90\x00 this program", "type refusé"),
    ("page.txt", b"<html><script>alert(1)</script>", "type refusé"),
    ("script.txt", b"#!/bin/sh\nrm -rf /", "type refusé"),
    ("archive.zip", b"PK\x03\x04", "type refusé"),
    ("capture.txt", PNG, "ne correspond pas"),
    ("vide.png", b"", "vide"),
])
def test_anything_else_is_refused_naming_the_file(name: str, content: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        check_attachment(name, content)
    assert safe_filename(name) in str(refused.value)


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limite"):
        check_attachment("grand.log", b"a" * 101, max_bytes=100)


def test_names_lose_folders_and_odd_characters() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\capture écran.png") == "capture_cran.png"


def test_kept_sealed_under_its_ticket_and_read_back(tmp_path: Path) -> None:
    store = AttachmentStore(Settings(), root=tmp_path)
    kept = store.save("INC-1", "capture.png", PNG, "operateur")
    assert kept.sent_name == "INC-1_capture.png" and kept.size == len(PNG)
    [sealed] = (tmp_path / "INC-1").iterdir()
    assert PNG not in sealed.read_bytes()  # sealed at rest
    assert store.load(kept) == PNG
    # Bound to its ticket: moved under another incident, it no longer opens.
    (tmp_path / "INC-2").mkdir()
    sealed.rename(tmp_path / "INC-2" / sealed.name)
    with pytest.raises(Exception):  # noqa: B017 (the cipher's own error)
        store.load(type(kept)(**{**kept.__dict__, "ticket": "INC-2"}))
