"""``agora-flow backfill validate``: every row of an export read once, classified (SPEC §6.1,
``state_models/backfill.py``), counted, and each non-ready row written to the report as it
comes. A dry run: only the report the user asked for is written.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backfill.held import HeldDossiers
from backfill.reader import UnreadableExport, open_export
from backfill.seen import DEFAULT_MEMORY_LIMIT, SeenDossiers
from state_models.backfill import (
    RowClass,
    already_held,
    classify,
    neutralise_cell,
)

REPORT_HEADER = ("ligne", "num_dossier", "classe", "colonne", "motif")


class ReportNotWritable(Exception):
    """The report asked for cannot be written; ``str(error)`` is the French reason."""


@dataclass
class Summary:
    file_kind: str = ""
    counts: Counter[RowClass] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, int]:
        return {"rows": self.rows} | {kind.value: self.counts[kind] for kind in RowClass}


@contextmanager
def _report(path: Path | None) -> Iterator[Any]:
    """The report's CSV writer (None when no report was asked for). A file that turns out
    unreadable part-way leaves no report: half of one would pass for the whole."""
    if path is None:
        yield None
        return
    try:
        # UTF-8 with BOM and ";": what Excel, where the backfill team opens it, reads as such.
        out = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 -- with below
    except OSError as error:
        raise ReportNotWritable(f"Impossible d'écrire le rapport {path} ({error.strerror}).") from None
    try:
        with out:
            writer = csv.writer(out, delimiter=";")
            writer.writerow(REPORT_HEADER)
            yield writer
    except UnreadableExport:
        path.unlink(missing_ok=True)
        raise


def validate_export(path: Path, held: HeldDossiers, report: Path | None = None,
                    memory_limit: int = DEFAULT_MEMORY_LIMIT) -> Summary:
    """Classify every row of the export at ``path``, writing each non-ready row to
    ``report``; raise UnreadableExport when it cannot be read at all."""
    if report is not None and report.resolve() == path.resolve():
        raise ReportNotWritable("Le rapport ne peut pas remplacer le fichier contrôlé : "
                                "donnez-lui un autre nom.")
    summary = Summary()
    with open_export(path) as export, SeenDossiers(memory_limit) as seen:
        layout = export.layout()
        with _report(report) as writer:
            for line, cells in export.rows:
                if not any(cell.strip() for cell in cells):
                    continue  # a blank line, or Excel's trailing ";;;;": not a row
                number = layout.value(cells, "num_dossier")
                first = seen.first_line(number, line) if number else None
                verdict = classify(layout, cells, first)
                if verdict.row_class is RowClass.READY and verdict.record is not None:
                    holder = held.holder(verdict.record)
                    if holder is not None:
                        verdict = already_held(verdict, holder)
                summary.counts[verdict.row_class] += 1
                if writer is not None and verdict.row_class is not RowClass.READY:
                    writer.writerow([str(line), neutralise_cell(number), verdict.row_class.value,
                                     verdict.column, neutralise_cell(verdict.reason)])
        summary.file_kind = export.describe()  # the encodings are known once all is read
    return summary
