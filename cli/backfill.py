"""``agora-flow backfill …``: the 2019+ backfill ("reprise d'antériorité", SPEC §6).

``validate`` reads a legacy export and classifies every row (a dry run); ``sample`` writes
a realistic messy export. Messages are French; no personal data is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from settings import Settings

# How each class reads in the summary, in SPEC §6.1's order.
LABELS = {
    "ready": "prêtes à charger",
    "nir_to_resolve": "NIR à rechercher",
    "out_of_scope": "hors champ (entrée avant 2019)",
    "rejected": "rejetées",
    "duplicate": "doublons",
    "already_held": "déjà suivies dans le flux courant",
}


def _validate(args: argparse.Namespace, settings: Settings) -> None:
    from backfill.held import load_held
    from backfill.reader import UnreadableExport
    from backfill.validate import ReportNotWritable, validate_export

    if args.database_url:
        settings = dataclasses.replace(settings, database_url=args.database_url)
    report = Path(args.report) if args.report else None
    try:
        summary = validate_export(Path(args.file), load_held(settings), report)
    except (UnreadableExport, ReportNotWritable) as error:
        raise SystemExit(f"agora-flow backfill validate : {error}") from None
    counts = summary.as_json()
    print(f"{args.file} ({summary.file_kind}) : {counts['rows']} lignes")
    for name, label in LABELS.items():
        print(f"  {label:<36} {counts[name]:>9}  ({name})")
    if report is not None:
        print(f"Rapport des lignes non prêtes : {report}")
    print("Contrôle à blanc : rien n'a été chargé ni modifié.")
    if args.json:
        print(json.dumps(counts))


def _sample(args: argparse.Namespace, settings: Settings) -> None:
    from backfill.sample import write_sample

    if args.rows < 0:
        raise SystemExit("agora-flow backfill sample : --rows doit être positif ou nul.")
    try:
        write_sample(Path(args.out), args.rows, args.seed, args.encoding, args.xlsx)
    except OSError as error:
        raise SystemExit(f"agora-flow backfill sample : impossible d'écrire {args.out} "
                         f"({error.strerror}).") from None
    kind = "XLSX" if args.xlsx else f"CSV {args.encoding}"
    print(f"Échantillon écrit : {args.out} ({args.rows} lignes, {kind}, graine {args.seed})")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    backfill = subparsers.add_parser(
        "backfill", help="the 2019+ backfill of legacy dossiers (SPEC §6)").add_subparsers(
        dest="backfill_command", required=True)
    validate = backfill.add_parser(
        "validate", help="classify every row of a legacy export (dry run: changes nothing)")
    validate.add_argument("file", help="the export: CSV (';', UTF-8 or Windows-1252) or XLSX")
    validate.add_argument("--json", action="store_true",
                          help="end with one JSON line of the counts per class")
    validate.add_argument("--report", metavar="OUT.csv",
                          help="write every row that is not ready, with its class and reason")
    validate.add_argument("--database-url", default="",
                          help="the store to compare with, if not the configured one")
    validate.set_defaults(func=_validate)
    sample = backfill.add_parser("sample", help="write a realistic messy legacy export")
    sample.add_argument("--rows", type=int, required=True)
    sample.add_argument("--out", required=True)
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--encoding", choices=("utf-8", "utf-8-sig", "cp1252"), default="cp1252",
                        help="the CSV's encoding (cp1252: Windows-1252, as Excel saves it)")
    sample.add_argument("--xlsx", action="store_true", help="an .xlsx workbook instead of a CSV")
    sample.set_defaults(func=_sample)
