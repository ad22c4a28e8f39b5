"""Users' roles and PAGM profiles (SPEC §3): configured per user and role by an
administrator, every grant, change and revocation appended to the hash-chained history
(``authorisations`` log, store/traces.py) in the same transaction as the change itself,
and the profiles an identity vector carries for an acting user.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from contracts.authorisations import role_defaults, valid_profiles
from settings import Settings
from state_models.authorisations import AuthorisationChange, plan_changes, vector_profiles
from store.authorisation_models import RoleProfiles
from store.db import Database
from store.models import Role, User
from store.trace_models import AuthorisationRecord
from store.traces import AUTHORISATIONS, append, now_iso


class UnknownRoles(ValueError):
    pass


class LastAdministrator(ValueError):
    """Revoking this role would leave nobody able to administer the accounts."""


ADMINISTRATOR = "administrator"


def assignments(session: Session, user: User, partner: str) -> dict[str, tuple[str, ...]]:
    """Each role the user holds → its profiles (configured, else the role's default)."""
    configured = {row.role_code: tuple(row.profiles.splitlines()) for row in session.scalars(
        select(RoleProfiles).where(RoleProfiles.user_id == user.id))}
    return {role: configured.get(role) or role_defaults(role, partner)
            for role in sorted(user.role_codes)}


def configured_roles(session: Session, user: User) -> set[str]:
    """The roles whose profiles an administrator (or the account's creation) set."""
    return set(session.scalars(select(RoleProfiles.role_code)
                               .where(RoleProfiles.user_id == user.id)))


def change_authorisations(session: Session, user: User, wanted: Mapping[str, Sequence[str]], *,
                          actor: str, reason: str, source: str, partner: str
                          ) -> list[AuthorisationChange]:
    """Give ``user`` exactly the roles of ``wanted``, each with its profiles, and record each
    change with who, when, from where and why. Raises UnknownRoles, ProfileRefused (naming
    the role), LastAdministrator or ValueError (no reason); nothing is changed then."""
    if not reason.strip():
        raise ValueError("le motif est obligatoire")
    known = {role.code: role for role in session.scalars(select(Role))}
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise UnknownRoles(f"rôle(s) inconnu(s) : {', '.join(unknown)}")
    after = {role: valid_profiles(role, list(profiles)) for role, profiles in wanted.items()}
    before = assignments(session, user, partner)
    changes = plan_changes(before, after)
    if not changes:
        return []
    if ADMINISTRATOR in before and ADMINISTRATOR not in after and user.active:
        others = session.scalars(select(User).where(User.active.is_(True), User.id != user.id)).all()
        if not any(ADMINISTRATOR in other.role_codes for other in others):
            raise LastAdministrator(f"{user.username} est le dernier administrateur actif : "
                                    "ce rôle ne peut lui être retiré")
    user.roles = [known[role] for role in sorted(after)]
    rows = {row.role_code: row for row in session.scalars(
        select(RoleProfiles).where(RoleProfiles.user_id == user.id))}
    for role, row in rows.items():
        if role not in after:
            session.delete(row)
    for role, profiles in after.items():
        if role in rows:
            rows[role].profiles = "\n".join(profiles)
        else:
            session.add(RoleProfiles(user_id=user.id, role_code=role, profiles="\n".join(profiles)))
    at = now_iso()
    for change in changes:
        append(session, AUTHORISATIONS, AuthorisationRecord(
            at=at, username=user.username, actor=actor, source=source or "",
            action=change.action, role=change.role, profiles_before="\n".join(change.before),
            profiles_after="\n".join(change.after), reason=reason.strip(), redacted_at=None))
    session.flush()
    return changes


def history(session: Session, usernames: Sequence[str] | None = None
            ) -> list[AuthorisationRecord]:
    """The history of these users (all users: None), oldest first."""
    query = select(AuthorisationRecord)
    if usernames is not None:
        query = query.where(AuthorisationRecord.username.in_(list(usernames)))
    return list(session.scalars(query.order_by(AuthorisationRecord.seq)))


def profiles_for(session: Session, acting_user: str | None,
                 application_profiles: tuple[str, ...], partner: str) -> tuple[str, ...]:
    """The PAGM profiles the identity vector of a call by ``acting_user`` carries.

    A user of this deployment carries their own (none while deactivated, so AGORA refuses
    their calls); a call without a user, or by a name no account has (the application
    alone: schedules, benchmarks), carries the application's configured profiles."""
    if not acting_user:
        return application_profiles
    user = session.scalars(select(User).where(User.username == acting_user)).one_or_none()
    if user is None:
        return application_profiles
    if not user.active:
        return ()
    return vector_profiles(assignments(session, user, partner))


class ProfileDirectory:
    """The worker's view of users' profiles: one lookup per AGORA call, so a change or a
    revocation applies from the next call on. Thread-safe (activities run in a pool)."""

    def __init__(self, settings: Settings, database: Database | None = None) -> None:
        self._settings = settings
        self._database = database
        self._open = threading.Lock()

    def _db(self) -> Database:
        with self._open:
            if self._database is None:
                self._database = Database(self._settings.effective_database_url)
            return self._database

    def profiles_for(self, acting_user: str | None) -> tuple[str, ...]:
        if not acting_user:  # no look-up for the application's own calls
            return self._settings.vi_pagm
        with self._db().sessions() as session:
            return profiles_for(session, acting_user, self._settings.vi_pagm,
                                self._settings.partner_id)
