"""``agora-flow keys …``: the master keyring (rotation, status). Never prints a key."""

from __future__ import annotations

import argparse

from crypto.codec import open_keys, rotate_keys
from crypto.keyring import KeyConfigurationError
from settings import Settings


def _rotate(args: argparse.Namespace, settings: Settings) -> None:
    try:
        new_id, rewrapped = rotate_keys(settings)
    except KeyConfigurationError as refused:
        raise SystemExit(f"agora-flow keys rotate : {refused}") from None
    print(f"Nouvelle clé maîtresse courante : {new_id} ; {rewrapped} clé(s) de personne "
          "rechiffrée(s) sous elle. Les anciennes clés restent dans le trousseau pour relire "
          "l'historique. Redémarrez workers et API pour qu'ils chiffrent sous la nouvelle clé.")


def _status(args: argparse.Namespace, settings: Settings) -> None:
    try:
        keys = open_keys(settings)
    except KeyConfigurationError as refused:
        raise SystemExit(f"agora-flow keys status : {refused}") from None
    print(f"Trousseau : {keys.keyring.source}")
    print(f"Clés maîtresses (de la plus ancienne à la courante) : {', '.join(keys.keyring.ids)}")
    print(f"Clés de personnes : {keys.folder / 'persons'} ({keys.count()} clé(s))")


def add_commands(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="master keys: rotate, status").add_subparsers(
        dest="keys_command", required=True)
    keys.add_parser("rotate", help="make a new master key current (older ones still decrypt)"
                    ).set_defaults(func=_rotate)
    keys.add_parser("status", help="key ids in use (never the keys)").set_defaults(func=_status)
