"""Serve the API and the UI with uvicorn (``agora-flow api``, started by ``agora-flow dev``)."""

from __future__ import annotations

from typing import Any

import uvicorn
from temporalio.client import Client

import temporal_client
from api.app import create_app
from settings import Settings


def temporal_client_factory(settings: Settings):  # type: ignore[no-untyped-def]
    async def connect() -> Client:
        return await temporal_client.connect(settings,
                                             metrics_address=settings.api_engine_metrics_address)

    return connect


def server_options() -> dict[str, Any]:
    """How uvicorn serves the API (``agora-flow api``, and the tests that serve it as it runs).
    ``log_config=None``: uvicorn's lines go through the process's own logging (JSON by
    default, observability.logs) instead of uvicorn's formatters. ``access_log=False``:
    uvicorn's access line holds the path with its query string (a search by name or NIR); the
    API writes its own, with the route template and the request id
    (api/metrics/middleware.py)."""
    return {"log_level": "info", "proxy_headers": False, "log_config": None, "access_log": False}


def run(settings: Settings) -> None:
    app = create_app(settings, temporal_client_factory(settings))
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, **server_options())
