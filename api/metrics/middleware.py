"""Outermost ASGI layer: gives each request its id (``X-Request-Id`` taken when well formed,
else created; echoed on the answer) for the logs and the workflows it reaches, counts the
request by method, route template and status, with its duration, and writes the request's
access log line. The route template (``/api/dossiers/{dossier_id}``), never the path: a label
must not carry a dossier id, and a path or its query string may carry what a user typed —
a search by name or NIR (``/api/dossiers?q=…``)."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability import correlation, metrics

UNMATCHED = "unmatched"  # no route: 404s, static files
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Path parameters an access line names once the request succeeded (2xx): then they are ids
# of the product (a dossier, a market), not whatever a client typed into a URL — a redirect
# to the sign-in page answers any path.
_IDS = ("dossier_id", "market_id")

access_log = logging.getLogger("api.access")


class Observed:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation.from_http(Headers(scope=scope).get(correlation.HTTP_HEADER))
        token = correlation.request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[correlation.HTTP_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = metrics.bounded(scope["method"], METHODS)
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, template).observe(elapsed)
            _log_access(scope, method, template, status, elapsed)
            correlation.request_id.reset(token)


def _log_access(scope: Scope, method: str, template: str, status: int, elapsed: float) -> None:
    """The request's access line (uvicorn's own is off: it writes the path with its query
    string), while the request id is still set, so the line carries it."""
    facts: dict[str, object] = {"http_method": method, "route": template, "status": status,
                                "duration_ms": round(elapsed * 1000, 1)}
    if 200 <= status < 300:
        params = scope.get("path_params") or {}
        facts.update({name: params[name] for name in _IDS if name in params})
    access_log.log(logging.WARNING if status >= 500 else logging.INFO, "%s %s %d",
                   method, template, status, extra=facts)
