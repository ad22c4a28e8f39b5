"""``agora-flow``: one command, one subcommand per part of the system."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from settings import Settings


def _dev(args: argparse.Namespace, settings: Settings) -> None:
    import devstack

    devstack.run(settings)


def _temporal(args: argparse.Namespace, settings: Settings) -> None:
    import devstack

    db_file = None if args.in_memory else settings.data_dir / "temporal.sqlite3"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command = devstack.temporal_server_command(settings, db_file)
    os.execv(command[0], command)


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    import worker

    asyncio.run(worker.run(settings))


def _simulator(args: argparse.Namespace, settings: Settings) -> None:
    from agora.simulator import server

    server.run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agora-flow",
        description="Suivi des dossiers de formation et des marchés, déclarés à AGORA.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("dev", help="start everything locally (Temporal, simulator, worker, …)").set_defaults(
        func=_dev
    )
    temporal = commands.add_parser("temporal", help="start only the Temporal dev server")
    temporal.add_argument("--in-memory", action="store_true", help="no SQLite file: state is lost at stop")
    temporal.set_defaults(func=_temporal)
    commands.add_parser("worker", help="run a Temporal worker").set_defaults(func=_worker)
    commands.add_parser("simulator", help="run the AGORA simulator (SOAP)").set_defaults(func=_simulator)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    args.func(args, Settings())


if __name__ == "__main__":
    main(sys.argv[1:])
