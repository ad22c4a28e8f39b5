"""Users, roles and their tokens. Passwords are hashed with Argon2id (memory-hard)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contracts.authorisations import role_defaults
from settings import Settings
from store.authorisations import change_authorisations
from store.models import AuthToken, Role, User, utcnow

_hasher = PasswordHasher()
# Verifying against this keeps the timing of unknown users close to that of known ones.
_DUMMY_HASH = _hasher.hash("not-a-password")


class UnknownRole(ValueError):
    pass


def create_user(session: Session, username: str, password: str, roles: list[str],
                display_name: str | None = None, *, granted_by: str = "système",
                reason: str = "création du compte", source: str = "cli",
                partner: str | None = None) -> User:
    """A new account; its roles are granted with their default PAGM profiles, each grant
    recorded in the authorisation history (by ``granted_by``, for ``reason``)."""
    known = {role.code: role for role in session.scalars(select(Role))}
    missing = [code for code in roles if code not in known]
    if missing:
        raise UnknownRole(f"unknown role(s): {', '.join(missing)} (known: {', '.join(sorted(known))})")
    user = User(username=username, display_name=display_name or username,
                password_hash=_hasher.hash(password), roles=[])
    session.add(user)
    session.flush()
    partner = partner or Settings().partner_id
    change_authorisations(session, user, {code: role_defaults(code, partner) for code in roles},
                          actor=granted_by, reason=reason, source=source, partner=partner)
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = find_user(session, username)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, kind: str, lifetime: timedelta) -> str:
    """A new random token for ``user``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(AuthToken(token_hash=_digest(token), kind=kind, user_id=user.id,
                          expires_at=utcnow() + lifetime))
    return token


def user_for_token(session: Session, token: str, kind: str) -> User | None:
    row = session.scalars(
        select(AuthToken).where(AuthToken.token_hash == _digest(token), AuthToken.kind == kind)
    ).one_or_none()
    if row is None:
        return None
    if row.expires_at <= utcnow() or not row.user.active:
        return None
    return row.user


def revoke_token(session: Session, token: str) -> None:
    session.execute(delete(AuthToken).where(AuthToken.token_hash == _digest(token)))
