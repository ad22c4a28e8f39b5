"""Run the simulator as a process: ``python -m agora.simulator.server``.

Two listeners: the SOAP endpoint, and the secure file channel over mutual TLS."""

from __future__ import annotations

import asyncio

import uvicorn

from agora.pki import ensure_dev_pki
from agora.simulator.app import create_app
from agora.simulator.config import SimulatorConfig, admin_token
from agora.simulator.file_channel import ChannelRules, create_file_channel_app, tls_options
from settings import Settings, load


def run(settings: Settings) -> None:
    app = create_app(SimulatorConfig.from_settings(settings))
    pki = ensure_dev_pki(settings.pki_dir, settings.application_id)
    channel = create_file_channel_app(
        ChannelRules(), admin_token(settings) if settings.simulator_admin else None,
        app.state.simulator.store)
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=settings.simulator_host,
                                      port=settings.simulator_port, log_level="info")),
        uvicorn.Server(uvicorn.Config(
            channel, host=settings.simulator_host, port=settings.file_channel_port,
            log_level="info", **tls_options(settings.pki_dir, settings.simulator_host,
                                            pki.ca_cert))),
    ]

    async def serve() -> None:
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve())


if __name__ == "__main__":
    run(load())
