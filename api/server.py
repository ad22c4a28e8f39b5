"""Serve the API and the UI with uvicorn (``agora-flow api``, started by ``agora-flow dev``)."""

from __future__ import annotations

import uvicorn
from temporalio.client import Client

import temporal_client
from api.app import create_app
from api.front_door import install_access_log_filter
from settings import Settings


def temporal_client_factory(settings: Settings):  # type: ignore[no-untyped-def]
    async def connect() -> Client:
        return await temporal_client.connect(settings,
                                             metrics_address=settings.api_engine_metrics_address)

    return connect


def run(settings: Settings) -> None:
    app = create_app(settings, temporal_client_factory(settings))
    install_access_log_filter()
    # log_config=None: uvicorn's lines go through the process's own logging (JSON by default,
    # observability.logs) instead of uvicorn's formatters.
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_level="info",
                proxy_headers=False, log_config=None)
