"""Run the simulator as a process: ``python -m agora.simulator.server``."""

from __future__ import annotations

import uvicorn

from agora.simulator.app import create_app
from agora.simulator.config import SimulatorConfig
from settings import Settings, load


def run(settings: Settings) -> None:
    app = create_app(SimulatorConfig.from_settings(settings))
    uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_level="info")


if __name__ == "__main__":
    run(load())
