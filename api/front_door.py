"""The front door: what every answer of the API and the pages carries, and what they answer
when a service behind them is out.

- Temporal or the database unreachable: the JSON API answers 503 with ``Retry-After``, a
  page a French message (503), never a 500 with a stack trace. Pages that need neither
  (the sign-in page, static files) keep working; pages whose live part needs Temporal
  render from the store alone.
- Security headers on every answer: a Content-Security-Policy with no inline script and
  ``frame-ancestors 'none'``, ``Referrer-Policy``, ``X-Content-Type-Options``; and
  ``Cache-Control: no-store`` on everything but static files (pages and API answers may
  show personal data).
- Access logs without query strings (a search by name must not land in a log file).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from temporalio.service import RPCError

from api.context import TemporalUnreachable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RETRY_AFTER_SECONDS = 5
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
]
_DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
_TEMPORAL_DOWN = (TemporalUnreachable, RPCError)


def outage_of(error: BaseException) -> tuple[str, str] | None:
    """(code, French message) when ``error`` means a service behind the API is out."""
    if isinstance(error, _TEMPORAL_DOWN):
        return "TemporalUnavailable", "Service de workflow indisponible, réessayez dans quelques instants."
    if isinstance(error, _DATABASE_DOWN) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return "DatabaseUnavailable", "Base de données indisponible, réessayez dans quelques instants."
    return None


class FrontDoor:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {name for name, _ in _SECURITY_HEADERS}]
                headers += _SECURITY_HEADERS
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception as error:
            outage = outage_of(error)
            if outage is None or started:
                raise
            logging.getLogger(__name__).warning("%s: %s", outage[0], type(error).__name__)
            await _unavailable(scope, with_headers, *outage)


async def _unavailable(scope: Scope, send: Send, code: str, message: str) -> None:
    if scope["path"].startswith("/api/") or scope["path"] == "/api":
        import json

        body = json.dumps({"detail": {"code": code, "message": message}}, ensure_ascii=False).encode()
        content_type = b"application/json"
    else:
        body = standalone_page("Service momentanément indisponible", message)
        content_type = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode())]})
    await send({"type": "http.response.body", "body": body})


# Standalone (no database, no template): it must render when both are out.
_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{title} — agora-flow</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main><h1>{title}</h1>
<p class="alert error" role="alert">{message}</p>
<p><a href="{back}">{back_label}</a></p></main></body></html>
"""


def standalone_page(title: str, message: str, back: str = "/connexion",
                    back_label: str = "Page de connexion") -> bytes:
    return _PAGE.format(title=escape(title), message=escape(message), back=escape(back),
                        back_label=escape(back_label)).encode()


def too_large_page(path: str, limit: int) -> bytes | None:
    """A page's form refused for its size (BodyLimit): a page in French, never JSON shown in
    a browser; the API's clients get JSON (None)."""
    if path.startswith("/api/") or path == "/api":
        return None
    size = (f"{limit / (1024 * 1024):.0f} Mo" if limit >= 1024 * 1024 else f"{limit} octets")
    return standalone_page("Envoi trop volumineux",
                           f"Le formulaire envoyé dépasse la taille admise ({size} au plus) : "
                           f"rien n'a été enregistré. Envoyez un fichier plus petit.",
                           # The section the form belongs to (a POST target is no page).
                           back="/" + path.strip("/").split("/", 1)[0],
                           back_label="Revenir à la page")


def masked_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's validation errors without the submitted values (a NIR typed in the wrong
    field must not come back in an error, nor land in a client's log)."""
    return [{k: v for k, v in error.items() if k not in ("input", "ctx", "url")} for error in errors]
