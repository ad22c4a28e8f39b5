"""``agora-flow check-config``: what would stop the API and the worker in production."""

from __future__ import annotations

import argparse

from settings import Settings


def _check_config(args: argparse.Namespace, settings: Settings) -> None:
    from store.db import Database
    from store.production import problems

    database = Database(settings.effective_database_url)
    try:
        found = problems(settings, database)
    finally:
        database.dispose()
    print(f"mode / mode : {settings.env}")
    if not found:
        print("Configuration prête pour la production. / Configuration ready for production.")
        return
    print(f"{len(found)} problème(s) pour la production / problem(s) for production:")
    for problem in found:
        print(f"  - {problem.french}\n    {problem.english}")
    raise SystemExit(1)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser(
        "check-config", help="list what production refuses (French and English); exit 1 if any",
    ).set_defaults(func=_check_config)
