"""``agora-flow backfill …``: the 2019+ backfill ("reprise d'antériorité", SPEC §6).

``validate`` reads a legacy export and classifies every row (a dry run); ``sample`` writes
a realistic messy export; ``run`` starts a campaign (BackfillWorkflow) and follows it with
progress bars; ``status``, ``pause``, ``resume``, ``cancel`` act on a running one; ``report``
writes a campaign's final report. Messages are French; no personal data is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from cli.temporal import run_with_client
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


BAR_WIDTH = 30


def bar(label: str, done: int, total: int) -> str:
    """A text progress bar: ``label [#####.....]  done/total  pct %``."""
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    percent = 100 * done // total if total else 100
    return f"  {label:<22} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:>9}/{total:<9} {percent:>3} %"


def progress_lines(progress: Any) -> list[str]:
    """The campaign's state and its four bars (rows read, resolved, deposited, acknowledged)
    plus the open dossiers brought to life."""
    pause = " (en pause)" if progress.paused else ""
    resolution = progress.resolution
    answered = resolution.found + resolution.unknown + resolution.several
    return [
        f"Campagne {progress.campaign_id} : {PHASES.get(progress.phase, progress.phase)}{pause}",
        bar("lignes lues", progress.rows, progress.rows),
        bar("NIR recherchés", answered, progress.to_resolve),
        bar("lignes déposées", progress.rows_deposited, progress.rows_to_load),
        bar("lignes acquittées", progress.rows_acknowledged, progress.rows_to_load),
        bar("dossiers ouverts", progress.dossiers_started, progress.open_to_start),
        (f"  acceptées {progress.accepted}, rejetées par AGORA {progress.rejected}; "
         f"NIR trouvés {resolution.found}, inconnus {resolution.unknown}, "
         f"multiples {resolution.several}"),
        *(f"  réponse d'AGORA en retard pour {f.name} (depuis {f.overdue_since})"
          for f in progress.files if f.overdue_since and not f.answer),
    ]


PHASES = {
    "preparing": "lecture et classement de l'export",
    "resolving": "résolution des NIR",
    "loading": "dépôt des lots et accusés de réception",
    "starting_dossiers": "démarrage des dossiers ouverts",
    "reporting": "rapport final",
    "done": "terminée",
    "cancelled": "annulée",
}


def _temporal(settings: Settings, call: Callable[[Any], Awaitable[Any]]) -> Any:
    from temporal_client import EventRefused

    return run_with_client(settings, call, (EventRefused,), "agora-flow backfill : ")


async def follow(client: Any, campaign_id: str, every: float = 1.0, out: TextIO = sys.stdout) -> Any:
    """Redraw the campaign's bars until it ends; answer its last progress."""
    from contracts.backfill import CANCELLED, DONE
    from temporal_client import backfill as campaigns

    drawn = 0
    while True:
        progress = await campaigns.progress(client, campaign_id)
        lines = progress_lines(progress)
        if out.isatty() and drawn:
            out.write(f"\x1b[{drawn}F")  # back over the previous drawing
        out.write("\n".join(lines) + "\n")
        out.flush()
        drawn = len(lines)
        if progress.phase in (DONE, CANCELLED) or not await campaigns.is_running(client, campaign_id):
            return progress
        await asyncio.sleep(every)


def _run_campaign(args: argparse.Namespace, settings: Settings) -> None:
    from backfill.held import load_held
    from backfill.reader import UnreadableExport
    from backfill.validate import validate_export
    from temporal_client import backfill as campaigns

    export = Path(args.file)
    try:  # the same dry run as validate first: an unreadable file never starts a campaign
        summary = validate_export(export, load_held(settings))
    except UnreadableExport as error:
        raise SystemExit(f"agora-flow backfill run : {error}") from None
    counts = summary.as_json()
    print(f"{args.file} ({summary.file_kind}) : {counts['rows']} lignes, "
          f"{counts['ready']} prêtes, {counts['nir_to_resolve']} NIR à rechercher")
    if args.chunk_rows:
        settings = dataclasses.replace(settings, backfill_chunk_rows=args.chunk_rows)

    async def start(client: Any) -> None:
        campaign = await campaigns.start_campaign(client, settings, export, args.campaign,
                                                  acting_user=args.who)
        print(f"Campagne {campaign} démarrée (workflow backfill-{campaign}).")
        if args.detach:
            print(f"Suivi : agora-flow backfill status {campaign}")
            return
        last = await follow(client, campaign)
        if last.report is not None:
            print(f"Rapport : agora-flow backfill report {campaign} --out rapport.csv")

    try:
        _temporal(settings, start)
    except KeyboardInterrupt:
        print("Suivi interrompu ; la campagne continue (agora-flow backfill status …).")


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from temporal_client import backfill as campaigns

    async def show(client: Any) -> None:
        if args.follow:
            await follow(client, args.campaign)
        else:
            print("\n".join(progress_lines(await campaigns.progress(client, args.campaign))))

    _temporal(settings, show)


def _act(action: str) -> Callable[[argparse.Namespace, Settings], None]:
    def act(args: argparse.Namespace, settings: Settings) -> None:
        from temporal_client import backfill as campaigns

        async def go(client: Any) -> None:
            progress = await getattr(campaigns, action)(client, args.campaign)
            print("\n".join(progress_lines(progress)))

        _temporal(settings, go)
    return act


def _report(args: argparse.Namespace, settings: Settings) -> None:
    from backfill.sealed import SealedFileError
    from temporal_client import backfill as campaigns

    try:
        data = campaigns.report_csv(settings, args.campaign)
    except (OSError, SealedFileError):
        raise SystemExit(f"agora-flow backfill report : pas de rapport pour la campagne "
                         f"{args.campaign} (campagne inconnue ou pas encore terminée).") from None
    out = Path(args.out)
    out.touch(mode=0o600)
    out.chmod(0o600)  # it names dossiers: readable by its owner only
    out.write_bytes(data)
    print(f"Rapport écrit : {out}")


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
    run = backfill.add_parser("run", help="start a backfill campaign and follow its progress")
    run.add_argument("file", help="the export: CSV (';', UTF-8 or Windows-1252) or XLSX")
    run.add_argument("--campaign", default=None, help="the campaign's id (default: date-time)")
    run.add_argument("--chunk-rows", type=int, default=0, help="records per batch file")
    run.add_argument("--who", default="", help="who starts it (recorded in the dossiers)")
    run.add_argument("--detach", action="store_true", help="start it and return")
    run.set_defaults(func=_run_campaign)
    status = backfill.add_parser("status", help="a campaign's progress")
    status.add_argument("campaign")
    status.add_argument("--follow", action="store_true", help="redraw until it ends")
    status.set_defaults(func=_status)
    for action, text in (("pause", "pause a campaign (no further chunk deposited)"),
                         ("resume", "resume a paused campaign"),
                         ("cancel", "cancel a campaign (what was deposited is still answered)")):
        command = backfill.add_parser(action, help=text)
        command.add_argument("campaign")
        command.set_defaults(func=_act(action))
    report = backfill.add_parser("report", help="write a finished campaign's report (CSV)")
    report.add_argument("campaign")
    report.add_argument("--out", required=True)
    report.set_defaults(func=_report)
