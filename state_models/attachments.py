"""Which files may be attached to an incident (screenshots, logs, PDF), pure.

The type is read from the content, never trusted from the name or the browser: a file
whose first bytes are not those of an accepted type is refused, which keeps out
executables, archives, scripts and HTML whatever they are called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 5 * 1024 * 1024
MAX_FILES = 10

# Content type → (magic prefix, accepted extensions). Text has no magic: checked below.
_SIGNATURES: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n", (".png",)),
    "image/jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg")),
    "image/gif": (b"GIF8", (".gif",)),
    "application/pdf": (b"%PDF-", (".pdf",)),
}
_TEXT_EXTENSIONS = (".txt", ".log", ".csv")
# What a browser or mail client would run or render, even in a ".txt".
_ACTIVE_TEXT = re.compile(rb"<\s*(script|html|svg|iframe)|^#!|^\s*MZ", re.IGNORECASE)


@dataclass(frozen=True)
class AcceptedFile:
    filename: str
    content_type: str


def safe_filename(name: str) -> str:
    """The name without folders or odd characters, at most 100 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")
    return cleaned[-100:] or "piece-jointe"


def check_attachment(filename: str, content: bytes, max_bytes: int = MAX_BYTES) -> AcceptedFile:
    """The file's safe name and content type; ValueError (French) when refused."""
    name = safe_filename(filename)
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if not content:
        raise ValueError(f"{name} : fichier vide")
    if len(content) > max_bytes:
        raise ValueError(f"{name} : {len(content)} octets, au-delà de la limite de "
                         f"{max_bytes // (1024 * 1024)} Mo")
    for content_type, (magic, extensions) in _SIGNATURES.items():
        if content.startswith(magic):
            if extension not in extensions:
                raise ValueError(f"{name} : le contenu ({content_type}) ne correspond pas à "
                                 "l'extension du nom")
            return AcceptedFile(name, content_type)
    if extension in _TEXT_EXTENSIONS and _is_plain_text(content):
        return AcceptedFile(name, "text/csv" if extension == ".csv" else "text/plain")
    raise ValueError(f"{name} : type refusé (acceptés : captures PNG, JPEG ou GIF, PDF, "
                     "journaux texte .txt, .log ou .csv)")


def _is_plain_text(content: bytes) -> bool:
    if b"\x00" in content or _ACTIVE_TEXT.search(content[:4096]):
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
