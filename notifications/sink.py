"""A local SMTP sink for development: every message becomes a .eml file in a folder.

It relays nothing and serves nothing else; open the files with any mail client.
``agora-flow dev`` runs it and prints the folder.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class EmlFolderHandler:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Timestamped names sort in arrival order in a file browser.
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}.eml"
        (self._folder / name).write_bytes(envelope.original_content or b"")
        return "250 Message accepted for delivery"


def start_sink(host: str, port: int, folder: Path) -> Controller:
    """Start the sink in a background thread; the caller stops it with ``.stop()``."""
    controller = Controller(EmlFolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def run_sink(host: str, port: int, folder: Path) -> None:
    """Run the sink until interrupted (``agora-flow smtp-sink``)."""
    controller = start_sink(host, port, folder)
    print(f"SMTP sink on {host}:{port}: each message is written to {folder.resolve()}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
