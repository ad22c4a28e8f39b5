"""Run the simulator as a process: ``python -m agora.simulator.server``.

Two listeners: the SOAP endpoint, and the secure file channel over mutual TLS."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn

from agora.pki import ensure_dev_pki, ensure_dev_server_cert
from agora.simulator.app import create_app
from agora.simulator.config import SimulatorConfig, admin_token
from agora.simulator.file_channel import ChannelRules, create_file_channel_app
from agora.simulator.file_channel import tls_options as channel_tls_options
from settings import Settings, load


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options: the dev CA's server certificate, client certificates checked
    against the same CA (required when configured). Empty when the simulator serves HTTP."""
    if not settings.simulator_tls:
        return {}
    ca_cert = ensure_dev_pki(settings.pki_dir, settings.application_id).ca_cert
    cert, key = ensure_dev_server_cert(settings.pki_dir, settings.simulator_host)
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key), "ssl_ca_certs": str(ca_cert),
            "ssl_cert_reqs": ssl.CERT_REQUIRED if settings.simulator_require_client_cert
            else ssl.CERT_OPTIONAL}


def run(settings: Settings) -> None:
    app = create_app(SimulatorConfig.from_settings(settings))
    pki = ensure_dev_pki(settings.pki_dir, settings.application_id)
    channel = create_file_channel_app(
        ChannelRules(), admin_token(settings) if settings.simulator_admin else None,
        app.state.simulator.store)
    # log_config=None: the lines go through the process's own logging (observability.logs).
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=settings.simulator_host,
                                      port=settings.simulator_port, log_level="info",
                                      log_config=None, **tls_options(settings))),
        uvicorn.Server(uvicorn.Config(
            channel, host=settings.simulator_host, port=settings.file_channel_port,
            log_level="info", log_config=None,
            **channel_tls_options(settings.pki_dir, settings.simulator_host, pki.ca_cert))),
    ]

    async def serve() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve())


if __name__ == "__main__":
    run(load())
