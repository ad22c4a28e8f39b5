"""Sign-in: the pages' session (cookie) and the API's bearer tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

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
from api.signin.throttle import sign_in
from store.users import issue_token

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["sign-in"])


@api.post("/token", response_model=TokenOut, responses={
    401: {"model": ErrorOut, "description": "Identifiants refusés"},
    429: {"model": ErrorOut, "description": "Trop d'échecs : réessayer après Retry-After secondes"}})
async def token(request: Request, username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=256)],
                ctx: Annotated[AppContext, Depends(context)]) -> TokenOut:
    """Exchange a username and password for a bearer token (OAuth2 password flow)."""
    attempt = await sign_in(ctx, request, username, password)
    if attempt.retry_after:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, {
            "code": "TooManyAttempts", "message": _locked_out(attempt.retry_after)},
            headers={"Retry-After": str(attempt.retry_after)})
    if attempt.user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            {"code": "BadCredentials", "message": "Identifiant ou mot de passe incorrect."},
                            headers={"WWW-Authenticate": "Bearer"})
    user = attempt.user

    def issue() -> str:
        with ctx.db.sessions.begin() as session:
            return issue_token(session, user, "api", API_TOKEN_LIFETIME)

    value = await run_in_threadpool(issue)
    return TokenOut(access_token=value, expires_in=int(API_TOKEN_LIFETIME.total_seconds()))


def _locked_out(seconds: int) -> str:
    return (f"Trop de tentatives de connexion échouées : réessayez dans {seconds} s. "
            "Chaque tentative est enregistrée.")


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
    attempt = await sign_in(ctx, request, form.get("username", "")[:64], form.get("password", "")[:256])
    target = form.get("suite", "/dossiers")
    if not target.startswith("/") or target.startswith("//"):
        target = "/dossiers"  # never redirect off-site
    if attempt.user is None:
        locked = attempt.retry_after > 0
        response = render(request, "login.html", 429 if locked else 401, suite=target, user=None,
                          username=form.get("username", "")[:64],
                          error=_locked_out(attempt.retry_after) if locked
                          else "Identifiant ou mot de passe incorrect.")
        if locked:
            response.headers["Retry-After"] = str(attempt.retry_after)
        return response
    response = RedirectResponse(target, status_code=303)
    # Secure whenever the public address is HTTPS, also behind a TLS-terminating proxy.
    secure = request.url.scheme == "https" or ctx.settings.public_url.lower().startswith("https://")
    response.set_cookie(SESSION_COOKIE, await run_in_threadpool(open_session, ctx, attempt.user),
                        httponly=True, samesite="lax", secure=secure,
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


