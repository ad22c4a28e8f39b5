"""``agora-flow traces …``: verify the trace log's chains and checkpoints, sign a checkpoint,
purge expired traces, move the log to another store, place and release legal holds.

Every command takes ``--database-url`` to work on another store than the configured one
(e.g. the PostgreSQL base a log was imported into)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import timedelta
from pathlib import Path

from settings import Settings


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    if args.database_url:
        return dataclasses.replace(settings, database_url=args.database_url)
    return settings


def _store(args: argparse.Namespace, settings: Settings):  # type: ignore[no-untyped-def]
    from store.traces import TraceStore

    return TraceStore(_settings(args, settings))


def _verify(args: argparse.Namespace, settings: Settings) -> None:
    from store.traces import trusted_ca, verify

    store = _store(args, settings)
    with store.reading() as session:
        problems = verify(session, trusted_ca(settings))
    if problems:
        for problem in problems:
            print(f"ÉCHEC {problem.chain} n° {problem.seq} ({problem.kind}) : {problem.message}",
                  file=sys.stderr)
        raise SystemExit(1)
    print("Journal des échanges, archive des vecteurs, journal d'audit et historique des "
          "habilitations intègres ; points de contrôle signés valides.")


def _checkpoint(args: argparse.Namespace, settings: Settings) -> None:
    from store.traces import region_identity

    made = _store(args, settings).checkpoint(region_identity(settings))
    for cp in made:
        print(f"point de contrôle {cp.chain} : n° {cp.seq} {cp.digest}")


def _purge(args: argparse.Namespace, settings: Settings) -> None:
    from store.traces import region_identity

    days = args.days if args.days is not None else settings.trace_retention_days
    summary = _store(args, settings).purge(region_identity(settings), timedelta(days=days))
    print(json.dumps(summary, indent=2, ensure_ascii=False))


def _export(args: argparse.Namespace, settings: Settings) -> None:
    from store.trace_archive import export_archive

    with _store(args, settings).reading() as session:
        counts = export_archive(session, Path(args.file))
    print(f"archive écrite : {args.file} {counts}")


def _import(args: argparse.Namespace, settings: Settings) -> None:
    from store.trace_archive import ArchiveError, import_archive

    store = _store(args, settings)
    try:
        with store.database.sessions.begin() as session:
            counts = import_archive(session, Path(args.file))
    except (ArchiveError, OSError) as error:
        raise SystemExit(f"agora-flow traces import-archive : {error}") from None
    print(f"archive importée : {counts}")


def _hold(args: argparse.Namespace, settings: Settings) -> None:
    store = _store(args, settings)
    dossiers = [d for d in (args.dossier or []) if d]
    hold_id = store.place_hold(args.reference, args.reason, args.since, args.until, dossiers,
                               args.who)
    store.journal(args.who, "cli", "hold.place", {"reference": args.reference,
                  "since": args.since, "until": args.until, "dossiers": dossiers}, [hold_id])
    print(f"gel n° {hold_id} posé")


def _release(args: argparse.Namespace, settings: Settings) -> None:
    store = _store(args, settings)
    try:
        store.release_hold(args.hold_id, args.who, args.reason)
    except (LookupError, ValueError) as error:
        raise SystemExit(f"agora-flow traces release : {error}") from None
    store.journal(args.who, "cli", "hold.release", {"reason": args.reason}, [args.hold_id])
    print(f"gel n° {args.hold_id} levé")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    traces = subparsers.add_parser("traces", help="the AGORA trace log (SPEC §5)").add_subparsers(
        dest="traces_command", required=True)

    def command(name: str, help: str, func) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        parser = traces.add_parser(name, help=help)
        parser.add_argument("--database-url", default="", help="another store than the configured one")
        parser.set_defaults(func=func)
        return parser

    command("verify", "check every chain and signed checkpoint; non-zero on the first break",
            _verify)
    command("checkpoint", "sign each log's head with the Region's key", _checkpoint)
    purge = command("purge", "purge traces older than the retention (except legal holds)", _purge)
    purge.add_argument("--days", type=int, default=None)
    command("export-archive", "write the whole log to a file", _export).add_argument("file")
    command("import-archive", "load an archive into an empty store", _import).add_argument("file")
    hold = command("hold", "keep an incident's traces past their retention", _hold)
    hold.add_argument("--reference", required=True, help="the incident's ticket")
    hold.add_argument("--reason", required=True)
    hold.add_argument("--since", required=True, help="ISO instant")
    hold.add_argument("--until", required=True, help="ISO instant")
    hold.add_argument("--dossier", action="append", help="a dossier concerned (repeatable)")
    hold.add_argument("--who", required=True)
    release = command("release", "release a legal hold, with a reason", _release)
    release.add_argument("hold_id", type=int)
    release.add_argument("--reason", required=True)
    release.add_argument("--who", required=True)
