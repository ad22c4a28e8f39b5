"""Sending email over real SMTP; host, port, TLS and credentials are configuration.

``AGORA_FLOW_SMTP_HOST`` / ``_PORT`` come from ``settings.Settings``; the rest
from ``AGORA_FLOW_SMTP_TLS`` ("none", "starttls" or "ssl"), ``_USERNAME``,
``_PASSWORD``, ``_SENDER`` and ``_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from notifications.render import RenderedEmail
from settings import Settings

TLS_MODES = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 8025
    tls: str = "none"
    username: str = ""
    password: str = ""
    sender: str = "agora-flow <agora-flow@localhost>"
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"SMTP TLS mode must be one of {TLS_MODES}, got {self.tls!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_sender,
            timeout_seconds=settings.smtp_timeout_seconds,
        )


def message_id(idempotency_key: str, domain: str = "agora-flow") -> str:
    """The Message-ID of one email: the same on every attempt at sending it, so a
    receiver can recognise a duplicate should one ever get through."""
    readable = re.sub(r"[^A-Za-z0-9_-]+", ".", idempotency_key).strip(".")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]
    return f"<{readable}.{digest}@{domain}>"


def build_message(
    email: RenderedEmail,
    sender: str,
    to: list[str],
    cc: list[str],
    idempotency_key: str,
    sent_at: datetime,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> EmailMessage:
    """The email, with ``attachments`` as (file name, content type, bytes) MIME parts."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = email.subject
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id(idempotency_key)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for filename, content_type, content in attachments or []:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message


def send(message: EmailMessage, config: SmtpConfig) -> None:
    """Hand ``message`` to the SMTP server; raises on any refusal or transport error."""
    context = ssl.create_default_context()
    if config.tls == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout_seconds, context=context
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
    with client:
        if config.tls == "starttls":
            client.starttls(context=context)
        if config.username:
            client.login(config.username, config.password)
        # A recipient refused while others accept (e.g. the CDC's address misconfigured)
        # is a failed send: a notification that did not reach the CDC is not delivered.
        try:
            refused = client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:  # every recipient refused
            refused = error.recipients
    if refused:
        # Raised outside the handler: the library's error, which quotes the addresses, must
        # not travel with it as its context.
        raise RecipientsRefused(refused)


class RecipientsRefused(smtplib.SMTPException):
    """Recipients the SMTP server refused, named by their domain and the server's answer only:
    a staff address is personal data, and this message reaches logs and Temporal failures
    (the sent-mail log keeps the addresses)."""

    def __init__(self, refused: dict[str, tuple[int, bytes]]) -> None:
        answers = sorted(f"…@{address.rpartition('@')[2]} ({code} {reply.decode(errors='replace')})"
                         for address, (code, reply) in refused.items())
        super().__init__(f"{len(refused)} destinataire(s) refusé(s) : {', '.join(answers)}")
