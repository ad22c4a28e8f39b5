"""User administration (SPEC §3): each user's roles and PAGM profiles per role, changed by
an administrator with a reason, and each user's authorisation history (who granted,
changed or revoked what, when and why), read from the hash-chained history log.

Administrators only (``users:admin``). The holders of a permission — e.g. who may read the
traces (``traces:read``) — are listed for them. Reading a user's history is journaled in the
audit journal, like every other read of the trace log it belongs to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import PERMISSIONS, check_csrf, context, requires
from api.context import AppContext
from api.dossiers.schemas import ErrorOut
from api.pages import guarded, read_form, render, signed_in_user
from api.traces.routes import trace_store
from contracts.authorisations import is_read_only, role_defaults
from state_models.authorisations import ProfileRefused
from store.authorisations import (
    LastAdministrator,
    UnknownRoles,
    assignments,
    change_authorisations,
    configured_roles,
    history,
)
from store.models import ROLES, User
from store.trace_models import AuthorisationRecord

api = APIRouter(prefix="/api", tags=["Users and authorisations"])
pages = APIRouter(include_in_schema=False)

Ctx = Annotated[AppContext, Depends(context)]
Administrator = Annotated[User, Depends(requires("users:admin"))]
ERRORS = {401: {"model": ErrorOut, "description": "Non authentifié"},
          403: {"model": ErrorOut, "description": "Rôle insuffisant"},
          404: {"model": ErrorOut, "description": "Utilisateur inconnu"}}


class RoleOut(BaseModel):
    role: str
    label: str
    profiles: list[str]
    read_only: bool
    configured: bool  # False: the role's default profiles (never set for this user)


class UserOut(BaseModel):
    username: str
    display_name: str
    active: bool
    roles: list[RoleOut]
    permissions: list[str]


class HistoryOut(BaseModel):
    id: int
    at: str
    username: str
    actor: str
    source: str
    action: str
    role: str
    profiles_before: list[str]
    profiles_after: list[str]
    reason: str
    digest: str


class UserDetailOut(UserOut):
    history: list[HistoryOut]


class AuthorisationsIn(BaseModel):
    """Every role the user is to hold, each with its PAGM profiles (a role left out is
    revoked); an empty list of profiles gives the role its default ones."""

    roles: dict[Annotated[str, StringConstraints(max_length=32)],
                list[Annotated[str, StringConstraints(max_length=120)]]] = Field(max_length=20)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=2000)]


def _source(request: Request) -> str:
    return request.client.host if request.client else ""


def _permissions(user: User) -> list[str]:
    return sorted(p for p, roles in PERMISSIONS.items() if user.role_codes & roles)


def _user_out(ctx: AppContext, session: Session, user: User) -> UserOut:
    held = assignments(session, user, ctx.settings.partner_id)
    configured = configured_roles(session, user)
    return UserOut(username=user.username, display_name=user.display_name, active=user.active,
                   roles=[RoleOut(role=role, label=ROLES.get(role, role), profiles=list(profiles),
                                  read_only=is_read_only(role), configured=role in configured)
                          for role, profiles in held.items()],
                   permissions=_permissions(user))


def _history_out(row: AuthorisationRecord) -> HistoryOut:
    return HistoryOut(id=row.seq, at=row.at, username=row.username, actor=row.actor,
                      source=row.source, action=row.action, role=row.role,
                      profiles_before=row.profiles_before.splitlines(),
                      profiles_after=row.profiles_after.splitlines(), reason=row.reason,
                      digest=row.digest)


def list_users(ctx: AppContext, permission: str | None) -> list[UserOut]:
    if permission is not None and permission not in PERMISSIONS:
        raise HTTPException(422, [{"loc": ["query", "permission"], "type": "value_error",
                                   "msg": f"permission inconnue : {permission}"}])
    with ctx.db.sessions() as session:
        users = session.scalars(select(User).order_by(User.username)).all()
        out = [_user_out(ctx, session, u) for u in users]
    if permission is not None:
        out = [u for u in out if u.active and permission in u.permissions]
    return out


def user_detail(request: Request, ctx: AppContext, admin: User, username: str) -> UserDetailOut:
    with ctx.db.sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            raise HTTPException(404, {"code": "UnknownUser",
                                      "message": f"Utilisateur inconnu : {username}"})
        base = _user_out(ctx, session, user)
        rows = [_history_out(r) for r in history(session, [username])]
    trace_store(request).journal(admin.username, _source(request), "authorisations.read",
                                 {"username": username}, [r.id for r in rows])
    return UserDetailOut(**base.model_dump(), history=rows)


def update_authorisations(request: Request, ctx: AppContext, admin: User, username: str,
                          body: AuthorisationsIn) -> None:
    partner = ctx.settings.partner_id
    wanted = {role: profiles or list(role_defaults(role, partner))
              for role, profiles in body.roles.items()}
    with ctx.db.sessions.begin() as session:
        user = session.scalars(select(User).where(User.username == username)).one_or_none()
        if user is None:
            raise HTTPException(404, {"code": "UnknownUser",
                                      "message": f"Utilisateur inconnu : {username}"})
        try:
            change_authorisations(session, user, wanted, actor=admin.username,
                                  reason=body.reason, source=_source(request), partner=partner)
        except ProfileRefused as refused:
            raise HTTPException(422, [{"loc": ["body", "roles", refused.role],
                                       "type": "value_error", "msg": str(refused)}]) from None
        except (UnknownRoles, LastAdministrator) as refused:
            raise HTTPException(422, [{"loc": ["body", "roles"], "type": "value_error",
                                       "msg": str(refused)}]) from None


# --- JSON API ---------------------------------------------------------------------------


@api.get("/users", response_model=list[UserOut], responses=ERRORS)
def get_users(ctx: Ctx, admin: Administrator, permission: str | None = None) -> list[UserOut]:
    """Every account with its roles and PAGM profiles; with ``permission`` (e.g.
    ``traces:read``), only the active accounts holding it."""
    return list_users(ctx, permission)


@api.get("/users/{username}", response_model=UserDetailOut, responses=ERRORS)
def get_user(request: Request, ctx: Ctx, admin: Administrator, username: str) -> UserDetailOut:
    """One account: roles, PAGM profiles and its authorisation history (oldest first).
    Journaled."""
    return user_detail(request, ctx, admin, username)


@api.put("/users/{username}/authorisations", response_model=UserDetailOut, responses=ERRORS)
def put_authorisations(request: Request, ctx: Ctx, admin: Administrator, username: str,
                       body: AuthorisationsIn) -> UserDetailOut:
    """Set the account's roles and each role's PAGM profiles; each grant, change and
    revocation is recorded with who, when, from where and the reason given. 422 names the
    role whose profiles are refused (a write right on a read-only role, an unknown right),
    an unknown role, the last active administrator's role revoked, or a missing reason."""
    update_authorisations(request, ctx, admin, username, body)
    return user_detail(request, ctx, admin, username)


# --- pages --------------------------------------------------------------------------------


@pages.get("/administration/utilisateurs")
@guarded
async def users_page(request: Request) -> Response:
    admin = signed_in_user(request, "users:admin")
    ctx: AppContext = request.app.state.context
    users = list_users(ctx, None)
    readers = [u for u in users if u.active and "traces:read" in u.permissions]
    return render(request, "users.html", user=admin, users=users, trace_readers=readers)


def _user_page(request: Request, admin: User, username: str, status: int = 200,
               error: str | None = None) -> Response:
    ctx: AppContext = request.app.state.context
    try:
        detail = user_detail(request, ctx, admin, username)
    except HTTPException:
        return render(request, "error.html", 404, user=admin, title="Utilisateur inconnu",
                      message=f"Aucun utilisateur {username}.")
    return render(request, "user.html", status, user=admin, account=detail, roles=ROLES,
                  error=error, read_only=is_read_only)


@pages.get("/administration/utilisateurs/{username}")
@guarded
async def user_page(request: Request, username: str) -> Response:
    admin = signed_in_user(request, "users:admin")
    return _user_page(request, admin, username)


@pages.post("/administration/utilisateurs/{username}")
@guarded
async def user_form(request: Request, username: str) -> Response:
    admin = signed_in_user(request, "users:admin")
    form = await read_form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return render(request, "error.html", 403, user=admin, title="Accès refusé",
                      message="Formulaire expiré.")
    roles = {code: [p for p in form.get(f"profiles_{code}", "").replace(",", "\n").splitlines()
                    if p.strip()]
             for code in ROLES if form.get(f"role_{code}")}
    reason = form.get("reason", "").strip()
    if not reason:
        return _user_page(request, admin, username, 422, "Le motif est obligatoire.")
    try:
        update_authorisations(request, request.app.state.context, admin, username,
                              AuthorisationsIn(roles=roles, reason=reason))
    except HTTPException as refused:
        if refused.status_code == 404:
            return _user_page(request, admin, username)
        detail = refused.detail[0]
        where = detail["loc"][-1]
        label = ROLES.get(where, "") if isinstance(where, str) else ""
        return _user_page(request, admin, username, 422,
                          f"{label + ' : ' if label else ''}{detail['msg']}")
    return RedirectResponse(f"/administration/utilisateurs/{username}", status_code=303)
