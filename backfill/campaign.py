"""The file side of a backfill campaign: each step the campaign's activities run, on the
campaign's folder ``<backfill dir>/<campaign id>/`` (0700, every file sealed at rest).

Each step is idempotent: it writes its outputs whole (replaced atomically) from inputs that
it does not change, so a retried step writes the same records and the same request bytes —
hence the same digests — again. Files with personal data are deleted once exchanged:
the export once read, the chunks and intermediate files once the campaign has reported.

    export.csv|xlsx    the legacy export handed in by ``backfill run`` (deleted once read)
    prepared.json      the classification's counts (no personal data)
    ready.sealed       ready rows (records as JSON)
    to_resolve.sealed  rows waiting for their NIR
    rows.sealed        report lines of the rows that are not loaded (class, column, reason)
    resolved.sealed    rows whose NIR AGORA found
    RESOLUTION-….xml.sealed, LOT-….xml.sealed   request files as deposited
    answer-<request>.sealed                     AGORA's answers as collected
    rapport.csv.sealed the final report
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import shutil
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from agora import backfill_files as files
from backfill.held import HeldDossiers
from backfill.reader import UnreadableExport, open_export
from backfill.sealed import (
    SealedWriter,
    private_folder,
    read_bytes,
    read_records,
    write_bytes,
    write_records,
)
from backfill.seen import SeenDossiers
from crypto.keyring import Keyring
from state_models.backfill import (
    LegacyRecord,
    RowClass,
    already_held,
    classify,
    neutralise_cell,
)

EXPORT_STEM = "export"
REPORT_NAME = "rapport.csv.sealed"
_DATES = {"birth_date", "session_start", "session_end", "entry_date", "exit_date"}
_DECIMALS = {"duration_hours", "remuneration"}


def encode_record(record: LegacyRecord) -> bytes:
    values = dataclasses.asdict(record)
    funders = values.pop("funders")  # pairs (code, share): kept as JSON lists
    return json.dumps({**{k: (str(v) if v is not None and not isinstance(v, str) else v)
                          for k, v in values.items()}, "funders": funders}).encode()


def decode_record(data: bytes) -> LegacyRecord:
    values: dict[str, Any] = json.loads(data)
    for name in _DATES:
        values[name] = date.fromisoformat(values[name]) if values[name] else None
    for name in _DECIMALS:
        values[name] = Decimal(values[name]) if values[name] else None
    # A record sealed by an earlier version has no funders: the record's default applies.
    if "funders" in values:
        values["funders"] = tuple(tuple(pair) for pair in values["funders"])
    return LegacyRecord(**values)


def _report_line(*cells: str) -> bytes:
    return json.dumps(cells).encode()


class CampaignFiles:
    def __init__(self, root: Path, campaign_id: str, keyring: Keyring) -> None:
        self.folder = root / campaign_id
        self.campaign_id = campaign_id
        self._keyring = keyring

    # --- handing in the export --------------------------------------------------------

    def hand_in(self, export: Path) -> Path:
        """Copy the export into the campaign's private folder (the worker reads it there)."""
        private_folder(self.folder.parent)
        private_folder(self.folder)
        with open(export, "rb") as source:
            suffix = ".xlsx" if source.read(4) == b"PK\x03\x04" else ".csv"
            source.seek(0)
            target = self.folder / f"{EXPORT_STEM}{suffix}"
            with open(_new_private(target), "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        return target

    def _export(self) -> Path | None:
        return next((p for p in self.folder.glob(f"{EXPORT_STEM}.*")), None)

    # --- 1. classify ------------------------------------------------------------------

    def prepared(self) -> bool:
        """Whether the export's rows are classified already."""
        return (self.folder / "prepared.json").exists()

    def prepare(self, held: HeldDossiers, heartbeat: Any = None) -> dict[str, Any]:
        """Classify the export's rows into the campaign's sealed files; the export is
        deleted once read. Run again, it answers what it found the first time."""
        summary_path = self.folder / "prepared.json"
        if summary_path.exists():
            return json.loads(summary_path.read_text())
        export = self._export()
        if export is None:
            raise UnreadableExport("Export de la campagne introuvable.")
        counts = {kind.value: 0 for kind in RowClass}
        with (open_export(export) as opened, SeenDossiers() as seen,
              SealedWriter(self.folder / "ready.sealed", self._keyring) as ready,
              SealedWriter(self.folder / "to_resolve.sealed", self._keyring) as to_resolve,
              SealedWriter(self.folder / "rows.sealed", self._keyring) as lines):
            layout = opened.layout()
            for line, cells in opened.rows:
                if not any(cell.strip() for cell in cells):
                    continue
                number = layout.value(cells, "num_dossier")
                verdict = classify(layout, cells, seen.first_line(number, line) if number else None)
                if verdict.row_class is RowClass.READY and verdict.record is not None:
                    holder = held.holder(verdict.record)
                    if holder is not None:
                        verdict = already_held(verdict, holder)
                counts[verdict.row_class.value] += 1
                if verdict.row_class is RowClass.READY and verdict.record is not None:
                    ready.add(encode_record(verdict.record))
                elif verdict.row_class is RowClass.NIR_TO_RESOLVE and verdict.record is not None:
                    to_resolve.add(encode_record(verdict.record))
                else:
                    lines.add(_report_line(str(line), number, verdict.row_class.value,
                                              verdict.column, verdict.reason))
                if heartbeat is not None and line % 10_000 == 0:
                    heartbeat(line)
            kind = opened.describe()
        summary = {"rows": sum(counts.values()), "counts": counts, "file_kind": kind}
        _new_private(summary_path).write_text(json.dumps(summary))
        export.unlink()  # its rows are sealed now
        return summary

    def _records(self, name: str) -> Iterator[LegacyRecord]:
        path = self.folder / name
        if path.exists():
            yield from map(decode_record, read_records(path, self._keyring))

    # --- 2. NIR resolution ------------------------------------------------------------

    def resolution_request(self) -> tuple[str, bytes] | None:
        """The NIR-resolution request (its name and bytes), None when no row needs it."""
        count = json.loads((self.folder / "prepared.json").read_text())["counts"]["nir_to_resolve"]
        if not count:
            return None
        name = f"RESOLUTION-{self.campaign_id}-1.xml"
        return name, self._sealed_request(name, lambda: files.resolution_request(
            self.campaign_id, self._records("to_resolve.sealed"), count))

    def _sealed_request(self, name: str, build: Any) -> bytes:
        """A request file's bytes: built once, then read back, so a retry deposits the
        very bytes (and digest) the first attempt did."""
        path = self.folder / f"{name}.sealed"
        if path.exists():
            return read_bytes(path, self._keyring)
        data: bytes = build()
        write_bytes(path, self._keyring, data)
        return data

    def apply_resolution(self, answer: bytes, digest: str) -> dict[str, int | str]:
        """AGORA's answer: rows whose NIR was found join the load (``resolved.sealed``),
        the others are listed for manual handling in the report."""
        parsed = files.read_answer(answer, "ReponseResolutionNir")
        if parsed.file_digest != digest:
            raise files.BatchFileError("Réponse à un autre fichier (empreinte différente).")
        write_bytes(self.folder / f"answer-{parsed.file_name}.sealed", self._keyring, answer)
        if not parsed.processed:
            write_records(self.folder / "resolution.sealed", self._keyring, [_report_line(
                "", "", "nir_to_resolve", "nir",
                f"Demande de résolution refusée par AGORA ({parsed.code}) : {parsed.reason}")])
            return {"found": 0, "unknown": 0, "several": 0, "refused_code": parsed.code}
        results = {result.ref: result for result in parsed.records}
        resolved: list[bytes] = []
        manual: list[bytes] = []
        counts = {"found": 0, "unknown": 0, "several": 0}
        for record in self._records("to_resolve.sealed"):
            result = results.get(record.num_dossier)
            if result is not None and result.status == files.FOUND:
                counts["found"] += 1
                resolved.append(encode_record(dataclasses.replace(record, nir=result.nir)))
                continue
            if result is not None and result.status == files.SEVERAL:
                counts["several"] += 1
                reason = (f"NIR non résolu : {result.candidates} personnes correspondent à cet "
                          "état civil — à traiter à la main.")
            else:
                counts["unknown"] += 1
                reason = "NIR non résolu : aucune personne trouvée pour cet état civil — à traiter à la main."
            manual.append(_report_line("", record.num_dossier, "nir_non_resolu", "nir", reason))
        write_records(self.folder / "resolved.sealed", self._keyring, resolved)
        write_records(self.folder / "resolution.sealed", self._keyring, manual)
        return {**counts, "refused_code": ""}

    # --- 3. chunks and acknowledgements -----------------------------------------------

    def chunks(self, chunk_rows: int, heartbeat: Any = None) -> list[dict[str, Any]]:
        """Ready and resolved rows as chunk files of ``chunk_rows`` records each."""
        rows = _chain(self._records("ready.sealed"), self._records("resolved.sealed"))
        described = []
        number = 0
        while batch := list(islice(rows, chunk_rows)):
            number += 1
            name = f"LOT-{self.campaign_id}-{number}.xml"
            data = self._sealed_request(
                name, lambda batch=batch, number=number: files.backfill_chunk(self.campaign_id, number, batch))
            described.append({"number": number, "name": name, "digest": files.digest(data),
                              "rows": len(batch),
                              "open_rows": sum(1 for r in batch if r.status == "EN_COURS")})
            if heartbeat is not None:
                heartbeat(number)
        return described

    def request_bytes(self, name: str) -> bytes:
        return read_bytes(self.folder / f"{name}.sealed", self._keyring)

    def apply_acknowledgement(self, answer: bytes, digest: str) -> dict[str, int | str]:
        parsed = files.read_answer(answer, "AccuseReception")
        if parsed.file_digest != digest:
            raise files.BatchFileError("Accusé de réception d'un autre fichier (empreinte différente).")
        write_bytes(self.folder / f"answer-{parsed.file_name}.sealed", self._keyring, answer)
        accepted = [r for r in parsed.records if r.status == files.ACCEPTED]
        return {"accepted": len(accepted), "rejected": len(parsed.records) - len(accepted),
                "refused_code": "" if parsed.processed else parsed.code}

    def answered(self, request_name: str) -> bool:
        """Whether AGORA's answer to ``request_name`` is applied already."""
        return (self.folder / f"answer-{request_name}.sealed").exists()

    def answer(self, request_name: str) -> files.Answer:
        root = "ReponseResolutionNir" if request_name.startswith("RESOLUTION-") else "AccuseReception"
        return files.read_answer(read_bytes(self.folder / f"answer-{request_name}.sealed",
                                            self._keyring), root)

    def open_accepted(self, chunk_name: str) -> list[tuple[LegacyRecord, str]]:
        """The chunk's open dossiers (legacy statut EN_COURS) that AGORA accepted, each with
        its AGORA dossier id."""
        accepted = {r.ref: r.agora_id for r in self.answer(chunk_name).records
                    if r.status == files.ACCEPTED}
        chunk = files.parse(self.request_bytes(chunk_name), "LotReprise")
        return [(_record_of(row), accepted[row["ref"]])
                for row in files.request_records(chunk, "dossier")
                if row.get("statut") == "EN_COURS" and row["ref"] in accepted]

    # --- 4. the report ----------------------------------------------------------------

    def write_report(self, summary_lines: Iterable[list[str]],
                     exchanged: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """The final report as CSV (``;``, UTF-8 with BOM), sealed at rest: the counts,
        every row not loaded with its reason, every record AGORA rejected with its code,
        the open dossiers brought to life, and every file exchanged with its digest.
        Formula-like cells are neutralised."""
        with SealedWriter(self.folder / REPORT_NAME, self._keyring) as sealed:
            out = _SealedText(sealed)
            lines = self._write_report(csv.writer(out, delimiter=";"), summary_lines, exchanged)
            out.flush()
        return {"name": REPORT_NAME, "digest": out.digest.hexdigest(), "lines": lines}

    def _write_report(self, writer: Any, summary_lines: Iterable[list[str]],
                      exchanged: Iterable[dict[str, Any]]) -> int:
        writer.writerow(("section", "ligne", "num_dossier", "classe", "colonne_ou_code", "motif"))
        for cells in summary_lines:
            writer.writerow(["synthese", "", "", *cells])
        lines = 0
        for name in ("rows.sealed", "resolution.sealed"):
            path = self.folder / name
            if path.exists():
                for raw in read_records(path, self._keyring):
                    writer.writerow(["ligne", *map(neutralise_cell, json.loads(raw))])
                    lines += 1
        for file in exchanged:
            if file["kind"] == "chunk" and file["answer"]:
                answer = self.answer(file["name"])
                if not answer.processed:
                    writer.writerow(["rejet_agora", "", "", "fichier_refuse", answer.code,
                                     neutralise_cell(f"{file['name']} : {answer.reason}")])
                for record in answer.records:
                    if record.status == files.REJECTED:
                        writer.writerow(["rejet_agora", "", neutralise_cell(record.ref),
                                         "rejete_par_agora", record.code, neutralise_cell(record.reason)])
                        lines += 1
                started = (self.open_accepted(file["name"])[:int(file["dossiers_started"])]
                           if file["dossiers_started"] else [])
                for legacy, agora_id in started:
                    writer.writerow(["ouvert_demarre", "", neutralise_cell(legacy.num_dossier),
                                     "dossier_flux_courant",
                                     neutralise_cell(f"REPRISE-{legacy.num_dossier}"), agora_id])
            writer.writerow(["fichier", "", "", file["kind"], file["name"],
                             (f"empreinte={file['digest']} reponse={file['answer']} "
                              f"empreinte_reponse={file['answer_digest']}")])
        return lines

    def report(self) -> bytes:
        return read_bytes(self.folder / REPORT_NAME, self._keyring)

    def clean_up(self) -> None:
        """Delete every file with personal data once the campaign has reported (the sealed
        report and the counts stay)."""
        for path in self.folder.iterdir():
            if path.name not in (REPORT_NAME, "prepared.json"):
                path.unlink()


class _SealedText:
    """A text stream sealed in blocks of about 1 MiB (UTF-8 with a BOM, as Excel reads it),
    its SHA-256 digest computed as it goes: a report of any size in bounded memory."""

    _BLOCK = 1 << 20

    def __init__(self, sealed: SealedWriter) -> None:
        self._sealed = sealed
        self._buffer = io.StringIO()
        self._buffer.write("\ufeff")
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        written = self._buffer.write(text)
        if self._buffer.tell() >= self._BLOCK:
            self.flush()
        return written

    def flush(self) -> None:
        data = self._buffer.getvalue().encode()
        if data:
            self.digest.update(data)
            self._sealed.add(data)
        self._buffer = io.StringIO()


def _chain(*iterators: Iterator[LegacyRecord]) -> Iterator[LegacyRecord]:
    for iterator in iterators:
        yield from iterator


def _record_of(row: dict[str, Any]) -> LegacyRecord:
    """A chunk's record read back (the dossier starts from what AGORA accepted)."""
    def day(name: str) -> date | None:
        return date.fromisoformat(row[name]) if row.get(name) else None

    def number(name: str) -> Decimal | None:
        return Decimal(row[name]) if row.get(name) else None

    return LegacyRecord(
        num_dossier=row["ref"], nir=row["nir"], birth_name=row["nomNaissance"],
        first_names=row["prenoms"], birth_date=date.fromisoformat(row["dateNaissance"]),
        sex=row["sexe"], birth_place=row.get("codeLieuNaissance"), siret=row["siret"],
        action_code=row["codeAction"], action_title=row.get("intituleAction"),
        certification_code=row.get("codeCertification"), duration_hours=number("dureeHeures"),
        session_start=day("dateDebutSession"), session_end=day("dateFinSession"),
        entry_date=date.fromisoformat(row["dateEntree"]), exit_date=day("dateSortie"),
        exit_reason=row.get("motifSortie"), remuneration=number("montantRemunere"),
        status=row.get("statut"), funders=tuple(row[files.FUNDER]))


def _new_private(path: Path) -> Path:
    """``path`` created empty, readable by its owner only."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    return path
