"""Sign-in and roles: bearer tokens for the API, a signed session cookie for the UI.

Both are random tokens stored hashed (so they can be revoked); the cookie also
carries an HMAC so a forged value is refused before any database look-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from api.context import AppContext
from store.models import User
from store.users import issue_token, revoke_token, user_for_token

SESSION_COOKIE = "agora_session"
API_TOKEN_LIFETIME = timedelta(hours=8)
SESSION_LIFETIME = timedelta(hours=10)

# Who may do what. Roles are the store's role codes.
PERMISSIONS: dict[str, frozenset[str]] = {
    "dossiers:read": frozenset(
        {"dossier_manager", "market_manager", "operator", "auditor", "administrator"}
    ),
    "dossiers:write": frozenset({"dossier_manager"}),
    "nir:unmask": frozenset({"dossier_manager", "auditor"}),
    # AGORA's consultations (a holder's rights, balances, dossiers, eligibility): each is a
    # call to AGORA under the user's own identity vector, so only roles that follow
    # trainees; recording a DIF balance writes to AGORA: dossier managers.
    "agora:read": frozenset({"dossier_manager", "market_manager", "auditor"}),
    "agora:dif": frozenset({"dossier_manager"}),
    "markets:read": frozenset(
        {"dossier_manager", "market_manager", "operator", "auditor", "administrator"}
    ),
    "markets:write": frozenset({"market_manager"}),
    # Everyone sees whether AGORA answers (the banner); operators act on the link.
    "link:read": frozenset(
        {"dossier_manager", "market_manager", "operator", "auditor", "administrator"}
    ),
    "link:write": frozenset({"operator", "administrator"}),
    "link:disaster": frozenset({"administrator"}),
    "incidents:read": frozenset({"operator", "auditor", "administrator"}),
    "incidents:write": frozenset({"operator", "administrator"}),
    # The AGORA trace log (SPEC §5): specifically authorised staff only; who looked is
    # journaled, and the journal is read by the security officer and administrators.
    "traces:read": frozenset({"auditor"}),
    "audit:read": frozenset({"auditor", "administrator"}),
    # Data-subject requests (SPEC §8): the data-protection officer's team only.
    "subject_requests:write": frozenset({"dpo"}),
    # The backfill (SPEC §6): uploading a legacy export, starting and steering a campaign,
    # downloading its report — dossier managers, who declare dossiers to AGORA.
    "backfill:run": frozenset({"dossier_manager"}),
    # Roles and PAGM profiles of every account, their history, who holds which permission.
    "users:admin": frozenset({"administrator"}),
}

bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False,
                              description="Jeton obtenu par POST /api/token")


def context(request: Request) -> AppContext:
    return request.app.state.context


def may(user: User, permission: str) -> bool:
    return bool(user.role_codes & PERMISSIONS[permission])


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, {"code": "Unauthenticated", "message": message},
                         headers={"WWW-Authenticate": "Bearer"})


def api_user(token: Annotated[str | None, Depends(bearer)],
             ctx: Annotated[AppContext, Depends(context)]) -> User:
    if not token:
        raise _unauthenticated("Authentification requise (jeton Bearer).")
    with ctx.db.sessions() as session:
        user = user_for_token(session, token, "api")
    if user is None:
        raise _unauthenticated("Jeton invalide ou expiré.")
    return user


def requires(permission: str):  # type: ignore[no-untyped-def]
    """Dependency: the API user, if one of their roles grants ``permission`` (else 403)."""

    def dependency(user: Annotated[User, Depends(api_user)]) -> User:
        if not may(user, permission):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                {"code": "Forbidden", "message": "Votre rôle ne permet pas cette action."})
        return user

    return dependency


# --- UI session cookie ------------------------------------------------------------------


def _sign(ctx: AppContext, value: str) -> str:
    mac = hmac.new(ctx.cipher.session_secret(), value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def open_session(ctx: AppContext, user: User) -> str:
    """A new session; returns the cookie value."""
    with ctx.db.sessions.begin() as session:
        token = issue_token(session, user, "session", SESSION_LIFETIME)
    return f"{token}.{_sign(ctx, token)}"


def _session_token(ctx: AppContext, cookie: str | None) -> str | None:
    if not cookie or "." not in cookie:
        return None
    token, signature = cookie.rsplit(".", 1)
    return token if hmac.compare_digest(signature, _sign(ctx, token)) else None


def session_user(request: Request) -> User | None:
    ctx = context(request)
    token = _session_token(ctx, request.cookies.get(SESSION_COOKIE))
    if token is None:
        return None
    with ctx.db.sessions() as session:
        return user_for_token(session, token, "session")


def close_session(request: Request) -> None:
    ctx = context(request)
    token = _session_token(ctx, request.cookies.get(SESSION_COOKIE))
    if token:
        with ctx.db.sessions.begin() as session:
            revoke_token(session, token)


def csrf_token(request: Request) -> str:
    """Bound to the session: a form posted from another site cannot know it."""
    return _sign(context(request), "csrf:" + (request.cookies.get(SESSION_COOKIE) or ""))


def check_csrf(request: Request, submitted: str) -> bool:
    return hmac.compare_digest(submitted, csrf_token(request))
