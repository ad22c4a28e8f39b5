"""``agora-flow users …``: show an account's roles, PAGM profiles and authorisation history,
and set its roles and profiles with a reason (SPEC §3) — the page *Utilisateurs* does the
same for administrators signed in. Every change is recorded with who (``--who``), when, why."""

from __future__ import annotations

import argparse

from settings import Settings


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    from store.db import Database

    return Database(settings.effective_database_url)


def _show(args: argparse.Namespace, settings: Settings) -> None:
    from sqlalchemy import select

    from store.authorisations import assignments, history
    from store.models import User

    database = _open(settings)
    try:
        with database.sessions() as session:
            user = session.scalars(select(User).where(User.username == args.username)).one_or_none()
            if user is None:
                raise SystemExit(f"agora-flow users show : utilisateur inconnu : {args.username}")
            print(f"{user.username} ({user.display_name}) — {'actif' if user.active else 'désactivé'}")
            for role, profiles in assignments(session, user, settings.partner_id).items():
                print(f"  {role} : {', '.join(profiles)}")
            for row in history(session, [args.username]):
                print(f"{row.at} {row.action} {row.role} "
                      f"[{', '.join(row.profiles_before.splitlines())}] → "
                      f"[{', '.join(row.profiles_after.splitlines())}] par {row.actor} : {row.reason}")
    finally:
        database.dispose()


def _set(args: argparse.Namespace, settings: Settings) -> None:
    from sqlalchemy import select

    from contracts.authorisations import role_defaults
    from state_models.authorisations import ProfileRefused
    from store.authorisations import UnknownRoles, change_authorisations
    from store.models import User

    wanted: dict[str, list[str]] = {}
    for item in args.role or []:
        role, _, profiles = item.partition("=")
        wanted[role.strip()] = ([p for p in profiles.split(",") if p.strip()]
                                or list(role_defaults(role.strip(), settings.partner_id)))
    database = _open(settings)
    try:
        with database.sessions.begin() as session:
            user = session.scalars(select(User).where(User.username == args.username)).one_or_none()
            if user is None:
                raise SystemExit(f"agora-flow users set : utilisateur inconnu : {args.username}")
            changes = change_authorisations(session, user, wanted, actor=args.who,
                                            reason=args.reason, source="cli",
                                            partner=settings.partner_id)
    except ProfileRefused as refused:
        raise SystemExit(f"agora-flow users set : rôle {refused.role} : {refused}") from None
    except (UnknownRoles, ValueError) as refused:
        raise SystemExit(f"agora-flow users set : {refused}") from None
    finally:
        database.dispose()
    for change in changes:
        print(f"{change.action} {change.role} : {', '.join(change.after) or '—'}")
    if not changes:
        print("aucun changement")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    users = subparsers.add_parser("users", help="accounts' roles and PAGM profiles (SPEC §3)"
                                  ).add_subparsers(dest="users_command", required=True)
    show = users.add_parser("show", help="roles, PAGM profiles and authorisation history")
    show.add_argument("username")
    show.set_defaults(func=_show)
    change = users.add_parser("set", help="set every role the account holds (others revoked)")
    change.add_argument("username")
    change.add_argument("--role", action="append",
                        help="ROLE or ROLE=PROFILE,PROFILE (repeatable; no profile: the "
                             "role's default)")
    change.add_argument("--who", required=True, help="who makes the change")
    change.add_argument("--reason", required=True, help="why (recorded)")
    change.set_defaults(func=_set)
