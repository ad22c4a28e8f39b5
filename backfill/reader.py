"""Reading a legacy export, streamed: a CSV (``;``, UTF-8 with or without BOM, or
Windows-1252) or the first sheet of an XLSX workbook, as (line number, text cells).

Memory stays bounded whatever the file's size: the CSV is read line by line (a line longer
than ``MAX_LINE_BYTES`` is refused rather than read whole) and the workbook through openpyxl's
read-only mode. What cannot be read at all raises UnreadableExport with a precise French
message that quotes no value of the file (a value may be personal data).
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from state_models.backfill import Layout, LayoutError, read_header

# Longer than any real row (19 columns), short enough that a file without line breaks
# (a binary dump, a 2 GB single line) is refused before it fills the memory.
MAX_LINE_BYTES = 1 << 20
_SNIFF_BYTES = 64 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# A quoted value never legitimately runs this long; an unclosed quote would otherwise
# swallow the rest of the file into one value.
csv.field_size_limit(MAX_LINE_BYTES)


class UnreadableExport(Exception):
    """The file cannot be read as an export at all; ``str(error)`` is the French reason."""


@dataclass
class Encodings:
    """What the CSV lines turned out to be: an export saved from Excel is Windows-1252, one
    from the legacy tool's web page UTF-8; a concatenation of both happens."""

    bom: bool = False
    utf8: bool = False
    cp1252: bool = False

    def label(self) -> str:
        if self.utf8 and self.cp1252:
            return "UTF-8 et Windows-1252 mêlés"
        if self.cp1252:
            return "Windows-1252"
        return "UTF-8 avec BOM" if self.bom else "UTF-8"


@dataclass
class Export:
    """An opened export: its kind, then its rows (the header first) as (line, cells)."""

    kind: str  # "CSV" or "XLSX"
    rows: Iterator[tuple[int, list[str]]]
    encodings: Encodings = field(default_factory=Encodings)

    def describe(self) -> str:
        return f"CSV, {self.encodings.label()}" if self.kind == "CSV" else "XLSX, 1re feuille"

    def layout(self) -> Layout:
        """The columns, read from the header row (taken from ``rows``); UnreadableExport when
        there is none or it is not the legacy tool's."""
        header = next(self.rows, None)
        if header is None:
            raise UnreadableExport("La première feuille du classeur est vide.")
        try:
            return read_header(header[1])
        except LayoutError as error:
            raise UnreadableExport(str(error)) from None


@contextmanager
def open_export(path: Path) -> Iterator[Export]:
    """The export at ``path``, to be read once within the ``with`` block."""
    try:
        binary = open(path, "rb")  # noqa: SIM115 -- closed by the ``with`` below
    except FileNotFoundError:
        raise UnreadableExport(f"Fichier introuvable : {path}") from None
    except IsADirectoryError:
        raise UnreadableExport(f"{path} est un dossier, pas un fichier.") from None
    except OSError as error:
        raise UnreadableExport(f"Fichier illisible : {path} ({error.strerror}).") from None
    with binary:
        head = binary.read(_SNIFF_BYTES)
        binary.seek(0)
        if not head.strip().removeprefix(_UTF8_BOM).strip():
            raise UnreadableExport("Le fichier est vide.")
        if head.startswith(_ZIP_MAGIC):
            yield Export("XLSX", _xlsx_rows(binary))
        else:
            _refuse_non_text(head)
            encodings = Encodings(bom=head.startswith(_UTF8_BOM))
            yield Export("CSV", _csv_rows(binary, encodings), encodings)


def _refuse_non_text(head: bytes) -> None:
    if head.startswith(_OLE_MAGIC):
        raise UnreadableExport("Classeur Excel 97-2003 (.xls) non pris en charge : enregistrez-le "
                               "au format .xlsx ou en CSV (séparateur « ; »).")
    if head.startswith(_UTF16_BOMS):
        raise UnreadableExport("Fichier en UTF-16 (« texte Unicode » d'Excel) : enregistrez-le en "
                               "CSV UTF-8 ou Windows-1252 (séparateur « ; »).")
    if b"\x00" in head:
        raise UnreadableExport("Ce fichier n'est ni un CSV (texte séparé par « ; ») ni un "
                               "classeur XLSX.")


def _text_lines(binary: IO[bytes], encodings: Encodings) -> Iterator[str]:
    """Each line decoded on its own: UTF-8 when it is, else Windows-1252 (bytes that are
    neither become U+FFFD, which the classification rejects with its column)."""
    number = 0
    while raw := binary.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise UnreadableExport(f"Ligne {number} longue de plus de {MAX_LINE_BYTES // 1024} Kio "
                                   "sans retour à la ligne : ce n'est pas un export CSV.")
        if number == 1 and encodings.bom:
            raw = raw[len(_UTF8_BOM):]
        try:
            text = raw.decode("utf-8")
            encodings.utf8 = encodings.utf8 or not raw.isascii()
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
            encodings.cp1252 = True
        yield text


def _csv_rows(binary: IO[bytes], encodings: Encodings) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(_text_lines(binary, encodings), delimiter=";", quotechar='"')
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1  # a quoted value may span several lines
    except csv.Error:
        raise UnreadableExport(f"CSV mal formé à partir de la ligne {line} (guillemet non "
                               "fermé ou valeur trop longue).") from None


def _cell_text(value: Any) -> str:
    """A cell as the CSV export would have written it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a SIRET typed as a number: 73282932000074.0
    return str(value)


def _xlsx_rows(binary: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    # Imported here: only an XLSX export pays for openpyxl's import.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    damaged = ("Classeur XLSX endommagé ou tronqué : ouvrez-le dans Excel et enregistrez-le "
               "à nouveau, ou exportez la feuille en CSV.")
    try:
        workbook = load_workbook(binary, read_only=True, data_only=True)
    except (zipfile.BadZipFile, EOFError):
        raise UnreadableExport(damaged) from None
    except (KeyError, InvalidFileException):
        raise UnreadableExport("Cette archive ZIP n'est pas un classeur XLSX.") from None
    try:
        if not workbook.worksheets:
            raise UnreadableExport("Le classeur ne contient aucune feuille.")
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        for line, values in enumerate(rows, start=1):
            yield line, [_cell_text(value) for value in values]
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, OSError, ValueError, SyntaxError):
        # SyntaxError: the XML parsers' own (a sheet cut in the middle of an element).
        raise UnreadableExport(damaged) from None
    finally:
        workbook.close()
