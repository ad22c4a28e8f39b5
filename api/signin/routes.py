"""Sign-in: the pages' session (cookie) and the API's bearer tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import (
    API_TOKEN_LIFETIME,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    check_csrf,
    close_session,
    context,
    open_session,
)
from api.context import AppContext
from api.dossiers.schemas import ErrorOut, TokenOut
from api.pages import read_form, render
from store.users import authenticate, issue_token

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["sign-in"])


@api.post("/token", response_model=TokenOut, responses={401: {"model": ErrorOut, "description": "Identifiants refusés"}})
def token(username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=256)],
          ctx: Annotated[AppContext, Depends(context)]) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password flow)."""
    with ctx.db.sessions.begin() as session:
        user = authenticate(session, username, password)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                                {"code": "BadCredentials", "message": "Identifiant ou mot de passe incorrect."},
                                headers={"WWW-Authenticate": "Bearer"})
        value = issue_token(session, user, "api", API_TOKEN_LIFETIME)
    return TokenOut(access_token=value, expires_in=int(API_TOKEN_LIFETIME.total_seconds()))


@pages.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dossiers", status_code=303)


@pages.get("/connexion")
async def login_page(request: Request, suite: str = "/dossiers") -> HTMLResponse:
    return render(request, "login.html", suite=suite, user=None)


@pages.post("/connexion")
async def login(request: Request) -> Response:
    form = await read_form(request)
    ctx = context(request)
    with ctx.db.sessions.begin() as session:
        user = authenticate(session, form.get("username", ""), form.get("password", ""))
    target = form.get("suite", "/dossiers")
    if not target.startswith("/") or target.startswith("//"):
        target = "/dossiers"  # never redirect off-site
    if user is None:
        return render(request, "login.html", 401, suite=target, user=None,
                       username=form.get("username", ""),
                       error="Identifiant ou mot de passe incorrect.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, open_session(ctx, user), httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=int(SESSION_LIFETIME.total_seconds()))
    return response


@pages.post("/deconnexion")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    if check_csrf(request, form.get("csrf", "")):
        close_session(request)
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


