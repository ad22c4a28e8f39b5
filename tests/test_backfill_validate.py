"""``agora-flow backfill validate`` and ``sample``: reading exports (CSV in UTF-8 with or
without BOM or Windows-1252, XLSX), the JSON line, the report, unreadable files, the sample,
and the check against the dossiers the Region already holds."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from backfill.held import HeldDossiers, load_held
from backfill.reader import MAX_LINE_BYTES, UnreadableExport
from backfill.sample import write_sample
from backfill.validate import REPORT_HEADER, validate_export
from cli import main
from settings import Settings
from state_models.backfill import COLUMNS, RowClass
from store.db import Database
from store.person_fields import person_fields_for
from store.projection import record_input
from tests import factories
from tests.conftest import FAST_RETRY
from tests.test_backfill_rules import CORSICAN_NIR, VALID, row

ROOT = Path(__file__).resolve().parent.parent
SPEC_CLASSES = ("duplicate", "rejected", "out_of_scope", "nir_to_resolve", "ready")
NO_STORE = HeldDossiers()


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8",
              header: list[str] | None = None) -> Path:
    with open(path, "w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(list(COLUMNS) if header is None else header)
        writer.writerows(rows)
    return path


def one_of_each_class(path: Path, encoding: str = "utf-8") -> Path:
    return write_csv(path, [
        row(num_dossier="PE-1"),                                      # line 2: ready
        row(num_dossier="PE-2", nir=""),                              # 3: nir_to_resolve
        row(num_dossier="PE-3", date_entree="01/01/2018", date_sortie=""),  # 4: out_of_scope
        row(num_dossier="PE-4", sexe="X"),                            # 5: rejected
        row(num_dossier="PE-1", nir=""),                              # 6: duplicate of line 2
    ], encoding)


def validate(path: Path, report: Path | None = None, held: HeldDossiers = NO_STORE):  # type: ignore[no-untyped-def]
    return validate_export(path, held, report)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    main(["backfill", *argv])
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A store of its own, empty unless a test writes to it."""
    data = tmp_path / "données du magasin"  # a path as a Windows user would name it
    monkeypatch.setenv("AGORA_FLOW_DATA_DIR", str(data))
    monkeypatch.setenv("AGORA_FLOW_DATABASE_URL", f"sqlite:///{data}/store.sqlite3")
    return dataclasses.replace(Settings(), data_dir=data,
                               database_url=f"sqlite:///{data}/store.sqlite3")


# --- encodings and formats ------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "label"), [
    ("utf-8", "CSV, UTF-8"), ("utf-8-sig", "CSV, UTF-8 avec BOM"), ("cp1252", "CSV, Windows-1252"),
])
def test_each_encoding_is_read_and_every_class_found(tmp_path: Path, encoding: str,
                                                     label: str) -> None:
    summary = validate(one_of_each_class(tmp_path / "export.csv", encoding))
    assert summary.file_kind == label
    assert summary.as_json() == {"rows": 5, "duplicate": 1, "rejected": 1, "out_of_scope": 1,
                                 "nir_to_resolve": 1, "ready": 1, "already_held": 0}


def test_accented_values_read_alike_in_every_encoding(tmp_path: Path) -> None:
    reports = []
    for encoding in ("utf-8", "utf-8-sig", "cp1252"):
        # The reason quotes nothing of the row: a sexe fault on an accented row compares the rest.
        path = write_csv(tmp_path / f"{encoding}.csv",
                         [row(num_dossier="PE-é1", prenoms="Hélène Françoise", sexe="Œ")], encoding)
        validate(path, tmp_path / f"{encoding}.report.csv")
        reports.append((tmp_path / f"{encoding}.report.csv").read_text(encoding="utf-8-sig"))
    assert reports[0] == reports[1] == reports[2]
    assert "PE-é1;rejected;sexe;" in reports[0]


def test_a_bom_before_the_first_column_name_does_not_hide_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bom.csv", [row()], "utf-8-sig",
                     header=["num_dossier", *COLUMNS[1:]])
    assert path.read_bytes().startswith(b"\xef\xbb\xbfnum_dossier")
    assert validate(path).counts[RowClass.READY] == 1


def test_lines_in_both_encodings_are_each_read_right(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "mixed.csv", [row(num_dossier="PE-1", prenoms="Hélène")], "utf-8")
    with open(path, "ab") as out:
        out.write(";".join(row(num_dossier="PE-2", prenoms="Françoise")).encode("cp1252") + b"\r\n")
    summary = validate(path)
    assert summary.counts[RowClass.READY] == 2
    assert summary.file_kind == "CSV, UTF-8 et Windows-1252 mêlés"


def test_bytes_neither_utf8_nor_cp1252_reject_their_row_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad-bytes.csv", [row(num_dossier="PE-1")])
    with open(path, "ab") as out:  # 0x81 is undefined in Windows-1252
        out.write(";".join(row(num_dossier="PE-2", prenoms="H\x81l")).encode("latin-1") + b"\n")
    validate(path, tmp_path / "report.csv")
    lines = (tmp_path / "report.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("3;PE-2;rejected;prenoms;Caractères illisibles")


def test_columns_in_any_order_and_case_with_unknown_ones(tmp_path: Path) -> None:
    header = ["Commentaire", *[f" {c.upper()} " for c in reversed(COLUMNS)]]
    path = write_csv(tmp_path / "shuffled.csv", [["vu", *reversed(row())]], header=header)
    assert validate(path).counts[RowClass.READY] == 1


def test_the_first_sheet_of_a_workbook_with_typed_cells(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(COLUMNS))
    typed = row()
    typed[COLUMNS.index("siret_organisme")] = 73282932000074  # type: ignore[call-overload]
    typed[COLUMNS.index("date_entree")] = date(2020, 1, 6)  # type: ignore[call-overload]
    typed[COLUMNS.index("duree_heures")] = 420.0  # type: ignore[call-overload]
    typed[COLUMNS.index("montant_remunere")] = 1304.04  # type: ignore[call-overload]
    sheet.append(typed)
    sheet.append(row(num_dossier="PE-2", nir=""))
    sheet.append([None] * len(COLUMNS))  # an empty row is no row
    sheet.append(row(num_dossier="PE-3", sexe="X"))
    workbook.create_sheet("Autre").append(["rien"])
    workbook.save(tmp_path / "export.xlsx")
    summary = validate(tmp_path / "export.xlsx", tmp_path / "report.csv")
    assert summary.file_kind == "XLSX, 1re feuille"
    assert summary.as_json()["ready"] == 1 and summary.as_json()["nir_to_resolve"] == 1
    report = (tmp_path / "report.csv").read_text(encoding="utf-8-sig").splitlines()
    assert report[2].startswith("5;PE-3;rejected;sexe;")  # the sheet's row number


# --- the command: summary, --json, --report ---------------------------------------------------


def test_json_is_the_last_line_with_the_five_counts_and_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    lines = run_cli(capsys, "validate", str(one_of_each_class(tmp_path / "e.csv")), "--json")
    counts = json.loads(lines[-1])
    assert {name: counts[name] for name in ("rows", *SPEC_CLASSES)} == {
        "rows": 5, "duplicate": 1, "rejected": 1, "out_of_scope": 1, "nir_to_resolve": 1,
        "ready": 1}
    assert any("Contrôle à blanc" in line for line in lines)
    without = run_cli(capsys, "validate", str(tmp_path / "e.csv"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(without[-1])


def test_the_report_lists_every_non_ready_row_with_class_column_and_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    report = tmp_path / "report.csv"
    run_cli(capsys, "validate", str(one_of_each_class(tmp_path / "e.csv")), "--report", str(report))
    assert report.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the accents
    with open(report, encoding="utf-8-sig", newline="") as source:
        rows = list(csv.reader(source, delimiter=";"))
    assert rows[0] == list(REPORT_HEADER)
    assert [r[:4] for r in rows[1:]] == [
        ["3", "PE-2", "nir_to_resolve", "nir"], ["4", "PE-3", "out_of_scope", "date_entree"],
        ["5", "PE-4", "rejected", "sexe"], ["6", "PE-1", "duplicate", "num_dossier"]]
    assert rows[3][4] == "Sexe invalide : valeurs admises 1, 2, H, M ou F."
    assert rows[4][4] == "Numéro de dossier déjà présent à la ligne 2."
    text = report.read_text(encoding="utf-8-sig")
    for personal in (CORSICAN_NIR, VALID["nom_naissance"], VALID["prenoms"], "14/03/1985"):
        assert personal not in text


def test_formula_looking_dossier_numbers_are_neutralised_in_the_report(tmp_path: Path) -> None:
    numbers = ['=HYPERLINK("http://evil.invalid";"clic")', "+1", "-2", "@SUM(A1)"]
    path = write_csv(tmp_path / "e.csv", [row(num_dossier=n, nir="") for n in numbers])
    validate(path, tmp_path / "report.csv")
    with open(tmp_path / "report.csv", encoding="utf-8-sig", newline="") as source:
        written = [r[1] for r in list(csv.reader(source, delimiter=";"))[1:]]
    assert written == ["'" + n for n in numbers]


def test_a_quoted_value_spanning_lines_keeps_the_line_numbers_right(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [row(num_dossier="PE-1", intitule_action="deux\nlignes"),
                                          row(num_dossier="PE-2", sexe="X")])
    validate(path, tmp_path / "report.csv")
    assert "4;PE-2;rejected;sexe;" in (tmp_path / "report.csv").read_text(encoding="utf-8-sig")


def test_duplicates_are_found_after_the_numbers_moved_to_disk(tmp_path: Path) -> None:
    rows = [row(num_dossier=f"PE-{n}") for n in range(30)] + [row(num_dossier="PE-0"),
                                                              row(num_dossier="PE-17")]
    path = write_csv(tmp_path / "e.csv", rows)
    summary = validate_export(path, NO_STORE, tmp_path / "report.csv", memory_limit=4)
    assert summary.counts[RowClass.DUPLICATE] == 2 and summary.counts[RowClass.READY] == 30
    report = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    assert "déjà présent à la ligne 2." in report and "déjà présent à la ligne 19." in report


def test_memory_stays_bounded_whatever_the_number_of_rows(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        path = write_csv(tmp_path / f"{rows}.csv",
                         [row(num_dossier=f"PE-{n}") for n in range(rows)])
        tracemalloc.start()
        try:
            validate_export(path, NO_STORE, tmp_path / f"{rows}.report.csv", memory_limit=500)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(20_000)
    assert large < small * 2 + 1_000_000, (small, large)


# --- files that cannot be read at all -------------------------------------------------------


def _xlsx_bytes(tmp_path: Path) -> bytes:
    workbook = Workbook()
    workbook.active.append(list(COLUMNS))
    workbook.active.append(row())
    workbook.save(tmp_path / "whole.xlsx")
    return (tmp_path / "whole.xlsx").read_bytes()


def _zip_not_xlsx(tmp_path: Path) -> bytes:
    with zipfile.ZipFile(tmp_path / "notes.zip", "w") as archive:
        archive.writestr("notes.txt", "bonjour")
    return (tmp_path / "notes.zip").read_bytes()


UNREADABLE = {
    "empty": (lambda tmp: b"", "Le fichier est vide."),
    "blank": (lambda tmp: b"\xef\xbb\xbf \r\n\r\n", "Le fichier est vide."),
    "png": (lambda tmp: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
            "Ce fichier n'est ni un CSV (texte séparé par « ; ») ni un classeur XLSX."),
    "xls": (lambda tmp: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500),
            "Classeur Excel 97-2003 (.xls) non pris en charge"),
    "utf16": (lambda tmp: ";".join(COLUMNS).encode("utf-16"), "Fichier en UTF-16"),
    "truncated-xlsx": (lambda tmp: _xlsx_bytes(tmp)[:1500], "Classeur XLSX endommagé ou tronqué"),
    "zip": (_zip_not_xlsx, "Cette archive ZIP n'est pas un classeur XLSX."),
    "no-header": (lambda tmp: (";".join(row()) + "\n").encode(), "Pas de ligne d'en-tête"),
    "comma": (lambda tmp: (",".join(COLUMNS) + "\n" + ",".join(row()) + "\n").encode(),
              "Mauvais séparateur : les colonnes sont séparées par « , »"),
    "missing-column": (lambda tmp: ";".join(c for c in COLUMNS if c != "siret_organisme").encode(),
                       "Colonne obligatoire absente : siret_organisme."),
    "unclosed-quote": (lambda tmp: (";".join(COLUMNS) + "\n\"PE-1;" + "x" * 100 + "\n") .encode()
                       * 1 + b"y" * (MAX_LINE_BYTES // 2) + b"\n" + b"z" * (MAX_LINE_BYTES // 2) + b"\n",
                       "CSV mal formé à partir de la ligne 2"),
    "one-huge-line": (lambda tmp: (";".join(COLUMNS) + "\n").encode() + b"a" * (MAX_LINE_BYTES + 10),
                      "Ligne 2 longue de plus de 1024 Kio"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_an_unreadable_file_gets_its_french_message_and_no_report(
        tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    content, message = UNREADABLE[case]
    path = tmp_path / "export.csv"
    path.write_bytes(content(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        main(["backfill", "validate", str(path), "--report", str(tmp_path / "r.csv")])
    assert isinstance(exit_.value.code, str)  # printed on stderr, exit status 1
    assert exit_.value.code.startswith("agora-flow backfill validate : ")
    assert message in exit_.value.code
    assert not (tmp_path / "r.csv").exists()


def test_a_report_that_cannot_be_written_or_would_replace_the_export_is_refused(
        tmp_path: Path, settings: Settings) -> None:
    export = one_of_each_class(tmp_path / "e.csv")
    before = export.read_bytes()
    for report, message in ((export, "Le rapport ne peut pas remplacer le fichier contrôlé"),
                            (tmp_path / "absent" / "r.csv", "Impossible d'écrire le rapport")):
        with pytest.raises(SystemExit) as exit_:
            main(["backfill", "validate", str(export), "--report", str(report)])
        assert message in str(exit_.value.code)
    assert export.read_bytes() == before


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnreadableExport, match="Fichier introuvable"):
        validate(tmp_path / "absent.csv")


def test_a_header_alone_is_a_readable_file_of_no_rows(tmp_path: Path) -> None:
    assert validate(write_csv(tmp_path / "e.csv", [])).as_json()["rows"] == 0


def test_the_real_command_exits_non_zero_with_the_message_on_stderr_only(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(b"num_dossier;nir\nPE-1;" + CORSICAN_NIR.encode() + b"\n")
    done = subprocess.run([sys.executable, "-m", "cli", "backfill", "validate", str(path), "--json"],
                          check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=120,
                          env={"PATH": "/usr/bin:/bin", "AGORA_FLOW_DATA_DIR": str(tmp_path / "d")})
    assert done.returncode == 1 and done.stdout == ""
    assert "Colonnes obligatoires absentes : nom_naissance, prenoms" in done.stderr
    assert CORSICAN_NIR not in done.stderr
    ok = one_of_each_class(tmp_path / "ok.csv")
    done = subprocess.run([sys.executable, "-m", "cli", "backfill", "validate", str(ok), "--json"],
                          check=False, cwd=ROOT, capture_output=True, text=True,
                          timeout=120,
                          env={"PATH": "/usr/bin:/bin", "AGORA_FLOW_DATA_DIR": str(tmp_path / "d")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["rows"] == 5
    assert not (tmp_path / "d").exists()  # a dry run: not even the data folder


# --- the sample -----------------------------------------------------------------------------


def test_the_sample_is_the_same_for_the_same_seed_and_differs_for_another(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_sample(tmp_path / f"{name}.csv", 300, seed)
    digest = {n: hashlib.sha256((tmp_path / f"{n}.csv").read_bytes()).hexdigest() for n in "abc"}
    assert digest["a"] == digest["b"] != digest["c"]


def test_the_default_sample_is_windows_1252_with_accents_and_corsican_nirs(tmp_path: Path) -> None:
    write_sample(tmp_path / "s.csv", 400, seed=1)
    raw = (tmp_path / "s.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    assert any(ch in text for ch in "éèçëï")
    assert "2A" in text and "2B" in text


@pytest.mark.parametrize("options", [{"encoding": "cp1252"}, {"encoding": "utf-8-sig"},
                                     {"encoding": "utf-8"}, {"xlsx": True}])
def test_validating_a_sample_finds_every_class(tmp_path: Path, options: dict) -> None:  # type: ignore[type-arg]
    path = tmp_path / ("s.xlsx" if options.get("xlsx") else "s.csv")
    write_sample(path, 300, seed=11, **options)
    counts = validate(path).as_json()
    assert counts["rows"] == 300
    assert all(counts[name] > 0 for name in SPEC_CLASSES), counts
    assert counts["ready"] > counts["rows"] / 2


def test_even_a_tiny_sample_shows_every_class(tmp_path: Path) -> None:
    write_sample(tmp_path / "s.csv", 11, seed=0)
    assert all(validate(tmp_path / "s.csv").as_json()[name] > 0 for name in SPEC_CLASSES)


def test_the_sample_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_cli(capsys, "sample", "--rows", "50", "--out", str(tmp_path / "s.xlsx"),
                    "--seed", "2", "--xlsx")
    assert lines == [f"Échantillon écrit : {tmp_path / 's.xlsx'} (50 lignes, XLSX, graine 2)"]
    assert zipfile.is_zipfile(tmp_path / "s.xlsx")


# --- what the Region already holds -----------------------------------------------------------


def _held_row(dossier, **changes: str) -> list[str]:  # type: ignore[no-untyped-def]
    action = dossier.action
    values = {"nir": dossier.person.nir, "siret_organisme": action.siret,
              "code_action": action.action_id, "date_entree": "05/01/2026", "date_sortie": "",
              "date_debut_session": date.fromisoformat(action.start_date).strftime("%d/%m/%Y")}
    return row(**(values | changes))


def test_a_ready_row_for_a_person_and_action_the_store_holds_is_reported_not_ready(
        tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    dossier = factories.dossier(FAST_RETRY)
    # Written, then every connection closed (SQLite folds its WAL into the file then, not at
    # some later garbage collection, which would change the bytes compared below).
    database = Database(settings.effective_database_url)
    with database.sessions.begin() as session:
        record_input(session, person_fields_for(settings), dossier)
    database.dispose()
    store = Path(settings.effective_database_url.split("///", 1)[1])
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    path = write_csv(tmp_path / "e.csv", [
        _held_row(dossier, num_dossier="PE-1"),                                 # held
        _held_row(dossier, num_dossier="PE-2", date_debut_session=""),          # held (no session)
        _held_row(dossier, num_dossier="PE-3", code_action="AF-AUTRE"),         # other action
        _held_row(dossier, num_dossier="PE-4", date_debut_session="01/09/2025"),  # other session
        _held_row(dossier, num_dossier="PE-5", nir=factories.valid_nir(4242)),  # other person
        _held_row(dossier, num_dossier="PE-6", nir=""),                         # NIR unknown
    ])
    lines = run_cli(capsys, "validate", str(path), "--json", "--report", str(tmp_path / "r.csv"))
    counts = json.loads(lines[-1])
    assert (counts["already_held"], counts["ready"], counts["nir_to_resolve"]) == (2, 3, 1)
    report = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert report[1] == (f"2;PE-1;already_held;nir;Dossier déjà suivi dans le flux courant "
                         f"({dossier.dossier_id}) pour cette personne et cette action : il ne "
                         "sera pas chargé une seconde fois.")
    assert report[2].startswith("3;PE-2;already_held;")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before  # read, never written


def test_no_store_yet_means_nothing_held_and_nothing_created(settings: Settings) -> None:
    held = load_held(settings)
    assert held.dossiers == {} and held.cipher is None
    assert not settings.data_dir.exists()
