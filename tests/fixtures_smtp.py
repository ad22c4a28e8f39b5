"""A real SMTP server (aiosmtpd) on a free port, keeping every message in memory.

Use as a plugin (``pytest_plugins = ["tests.fixtures_smtp"]`` in conftest.py) or
import ``smtp_server_fixture`` into a test module: the fixture is ``smtp_server``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifications.smtp import SmtpConfig


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        # Addresses answered "550" (a mailbox that does not exist, a misconfigured contact).
        self.refused: set[str] = set()
        # Seconds the server takes before accepting a message (a slow relay).
        self.delay = 0.0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.original_content or b"",
                                          policy=email.policy.default)
        self.messages.append(Received(list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"


class SmtpServer:
    def __init__(self, controller: Controller, collector: _Collector) -> None:
        self._controller = controller
        self._collector = collector
        self.config = SmtpConfig(host="127.0.0.1", port=controller.port,
                                 sender="agora-flow <agora-flow@test.example.org>")

    @property
    def messages(self) -> list[Received]:
        return list(self._collector.messages)

    def refuse(self, *addresses: str) -> None:
        """Refuse these recipients from now on; a message to others still arrives."""
        self._collector.refused.update(addresses)

    def slow_down(self, seconds: float) -> None:
        """Take ``seconds`` before accepting each message from now on."""
        self._collector.delay = seconds

    def accept_all(self) -> None:
        self._collector.refused.clear()

    def with_template(self, subject_part: str) -> list[Received]:
        return [m for m in self.messages if subject_part in m.subject]

    async def wait_for(self, predicate: Callable[[list[Received]], bool],
                       timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while not predicate(self.messages):
            if time.monotonic() > deadline:
                subjects = [m.subject for m in self.messages]
                raise AssertionError(f"timed out waiting for emails; received: {subjects}")
            await asyncio.sleep(0.05)
        return self.messages

    def stop(self) -> None:
        self._controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_smtp_server(port: int | None = None) -> SmtpServer:
    collector = _Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return SmtpServer(controller, collector)


@pytest.fixture(name="smtp_server")
def smtp_server_fixture() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    yield server
    server.stop()
