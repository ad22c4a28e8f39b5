"""Run the simulator as a process: ``python -m agora.simulator.server``."""

from __future__ import annotations

import uvicorn

from agora.simulator.app import create_app
from agora.simulator.config import SimulatorConfig
from settings import Settings, load


def run(settings: Settings) -> None:
    app = create_app(SimulatorConfig.from_settings(settings))
    # log_config=None: the lines go through the process's own logging (observability.logs).
    uvicorn.run(app, host=settings.simulator_host, port=settings.simulator_port, log_level="info",
                log_config=None)


if __name__ == "__main__":
    run(load())
