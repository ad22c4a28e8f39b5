"""A plain-text PDF document (PDF 1.4), for the audit report that goes with a trace export.

Why hand-written: the report is lines of text — headings and facts — and a PDF library
would be a dependency for that alone. The standard Helvetica fonts need no embedding;
WinAnsiEncoding (cp1252) covers French. Each page is an uncompressed content stream, so
the text can be checked (and searched) in the file as written.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4, in points
MARGIN = 50
LINE_HEIGHT = 14
# Helvetica at 10 pt averages ~5 pt per character: the width between margins holds ~95.
WRAP = 95
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LINE_HEIGHT


@dataclass(frozen=True)
class Line:
    text: str
    heading: bool = False


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _wrapped(lines: list[Line]) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        if line.heading and out:
            out.append(Line(""))
        parts = textwrap.wrap(line.text, WRAP, subsequent_indent="    ") or [""]
        out += [Line(part, line.heading) for part in parts]
    return out


def _page_stream(lines: list[Line], number: int, total: int) -> bytes:
    commands = [b"BT", b"/F1 10 Tf", f"{LINE_HEIGHT} TL".encode(),
                f"{MARGIN} {PAGE_HEIGHT - MARGIN} Td".encode()]
    current = "F1"
    for line in lines:
        font = "F2" if line.heading else "F1"
        if font != current:
            commands.append(f"/{font} 10 Tf".encode())
            current = font
        commands.append(b"(" + _escape(line.text) + b") Tj T*")
    commands += [b"ET", b"BT", b"/F1 8 Tf", f"{PAGE_WIDTH - MARGIN - 40} {MARGIN / 2} Td".encode(),
                 b"(" + _escape(f"page {number}/{total}") + b") Tj", b"ET"]
    return b"\n".join(commands)


def document(title: str, lines: list[Line]) -> bytes:
    """The PDF bytes: ``lines`` wrapped and paged, headings in bold."""
    wrapped = _wrapped(lines)
    pages = [wrapped[i:i + LINES_PER_PAGE] for i in range(0, len(wrapped), LINES_PER_PAGE)] or [[]]
    # Objects: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then a page and its stream each.
    first_page = 6
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title) + b") /Producer (agora-flow) >>",
    ]
    for index, page in enumerate(pages):
        stream = _page_stream(page, index + 1, len(pages))
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
            f"/Contents {first_page + 2 * index + 1} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream
                       + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
