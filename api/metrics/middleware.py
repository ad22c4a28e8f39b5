"""Outermost ASGI layer: gives each request its id (``X-Request-Id`` taken when well formed,
else created; echoed on the answer) for the logs and the workflows it reaches, and counts
the request by method, route template and status, with its duration. The route template
(``/api/dossiers/{dossier_id}``), never the path: a label must not carry a dossier id."""

from __future__ import annotations

import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability import correlation, metrics

UNMATCHED = "unmatched"  # no route: 404s, static files
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
            correlation.request_id.reset(token)
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = metrics.bounded(scope["method"], METHODS)
            metrics.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            metrics.HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)
