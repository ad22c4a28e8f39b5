"""User administration for the CLI: the first administrator, and the dev demo users."""

from __future__ import annotations

import getpass

from sqlalchemy.exc import IntegrityError

from settings import Settings
from store.db import Database
from store.production import DEMO_PASSWORD, DEMO_USERS
from store.users import create_user, find_user


def create_admin(settings: Settings, username: str, password: str | None = None) -> None:
    """Create an administrator; asks for the password on the terminal when not given."""
    if password is None:
        password = getpass.getpass(f"Mot de passe pour {username} : ")
        if password != getpass.getpass("Confirmation : "):
            raise SystemExit("Les mots de passe ne correspondent pas.")
    if len(password) < 12:
        raise SystemExit("Le mot de passe doit comporter au moins 12 caractères.")
    database = Database(settings.effective_database_url)
    try:
        with database.sessions.begin() as session:
            create_user(session, username, password, ["administrator"],
                        reason="premier administrateur (agora-flow create-admin)",
                        partner=settings.partner_id)
    except IntegrityError:
        raise SystemExit(f"L'utilisateur {username} existe déjà.") from None
    finally:
        database.dispose()
    print(f"Administrateur {username} créé.")


def ensure_demo_users(settings: Settings) -> str:
    """Create the missing demo users; return the sign-in help to print."""
    database = Database(settings.effective_database_url)
    try:
        with database.sessions.begin() as session:
            for username, (name, roles) in DEMO_USERS.items():
                if find_user(session, username) is None:
                    create_user(session, username, DEMO_PASSWORD, roles, display_name=name,
                                reason="utilisateur de démonstration",
                                partner=settings.partner_id)
    finally:
        database.dispose()
    return f"demo sign-in: {', '.join(DEMO_USERS)} / password '{DEMO_PASSWORD}'"
