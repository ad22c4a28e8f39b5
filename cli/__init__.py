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

    # Everything it starts runs in development mode (demo users, simulator admin).
    os.environ.setdefault("AGORA_FLOW_ENV", "development")
    devstack.run(Settings())


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


def _api(args: argparse.Namespace, settings: Settings) -> None:
    from api import server

    server.run(settings)


def _create_admin(args: argparse.Namespace, settings: Settings) -> None:
    from cli.admin import create_admin

    create_admin(settings, args.username)


def _demo_users(args: argparse.Namespace, settings: Settings) -> None:
    from cli.admin import ensure_demo_users

    print(ensure_demo_users(settings))


def _smtp_sink(args: argparse.Namespace, settings: Settings) -> None:
    from notifications.sink import run_sink

    run_sink(settings.smtp_host, settings.smtp_port, settings.mail_dir)


def _sla_deadline(args: argparse.Namespace, settings: Settings) -> None:
    from state_models.calendar_cli import format_deadline
    from state_models.public_holidays import default_calendar

    start_year = int(args.start[:4]) if args.start[:4].isdigit() else 2000
    try:
        # An 11-hour deadline never spans more than a couple of years' holidays.
        print(format_deadline(args.start, args.working_hours,
                              default_calendar(range(start_year, start_year + 2))))
    except ValueError as error:
        raise SystemExit(f"agora-flow sla deadline: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agora-flow",
        description="Suivi des dossiers de formation et des marchés, déclarés à AGORA.",
    )
    parser.add_argument("--log-format", choices=("json", "text"), default=None,
                        help="log lines as JSON objects (default of the services: worker, api, "
                        "simulator, smtp-sink) or as text for a terminal (default of the other "
                        "commands)")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("dev", help="start everything locally (Temporal, simulator, worker, …)").set_defaults(
        func=_dev
    )
    temporal = commands.add_parser("temporal", help="start only the Temporal dev server")
    temporal.add_argument("--in-memory", action="store_true", help="no SQLite file: state is lost at stop")
    temporal.set_defaults(func=_temporal)
    commands.add_parser("worker", help="run a Temporal worker").set_defaults(func=_worker)
    commands.add_parser("simulator", help="run the AGORA simulator (SOAP)").set_defaults(func=_simulator)
    commands.add_parser("api", help="serve the JSON API and the web UI").set_defaults(func=_api)
    admin = commands.add_parser("create-admin", help="create an administrator (asks for a password)")
    admin.add_argument("username")
    admin.set_defaults(func=_create_admin)
    commands.add_parser("demo-users", help="create the demo users (development)").set_defaults(
        func=_demo_users)
    commands.add_parser("smtp-sink", help="a local SMTP server writing .eml files").set_defaults(
        func=_smtp_sink)
    sla = commands.add_parser("sla", help="working-hour SLA arithmetic").add_subparsers(
        dest="sla_command", required=True)
    deadline = sla.add_parser("deadline", help="the instant N working hours after another")
    deadline.add_argument("--from", dest="start", required=True,
                          help="ISO 8601 instant with its offset, e.g. 2026-12-24T18:30:00+01:00")
    deadline.add_argument("--working-hours", type=float, required=True)
    deadline.set_defaults(func=_sla_deadline)
    from bench.cli import add_commands as add_bench_commands
    from cli.backfill import add_commands as add_backfill_commands
    from cli.check_config import add_commands as add_check_config_commands
    from cli.keys import add_commands as add_keys_commands
    from cli.link import add_commands as add_link_commands
    from cli.traces import add_commands as add_trace_commands
    from cli.users import add_commands as add_user_commands

    add_link_commands(commands)
    add_check_config_commands(commands)
    add_keys_commands(commands)
    add_trace_commands(commands)
    add_user_commands(commands)
    add_backfill_commands(commands)
    add_bench_commands(commands)
    return parser


# Long-running processes: their lines go to stdout as JSON, for a log collector (and, under
# `agora-flow dev`, into .data/logs/). Other commands print their results on stdout, so their
# log lines go to stderr as text.
SERVICES = frozenset({"worker", "api", "simulator", "smtp-sink"})


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from observability import logs

    service = args.command in SERVICES
    logs.configure(args.command, args.log_format or ("json" if service else "text"),
                   stream=sys.stdout if service else sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per plugin otherwise
    from crypto.keyring import KeyConfigurationError

    try:
        args.func(args, Settings())
    except KeyConfigurationError as refused:  # outside development: no master key, no start
        raise SystemExit(f"agora-flow {args.command} : {refused}") from None

