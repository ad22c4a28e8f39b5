"""Input and output of the notification activity, importable from workflows (stdlib only)."""


from dataclasses import dataclass, field
from typing import Any

SEND_EMAIL = "SendNotification"


@dataclass
class EmailAttachment:
    """A file kept with an incident (``store/incident_attachments.py``), sent as a MIME
    attachment named after the incident's ticket. Only its reference travels."""

    ticket: str
    file_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str = ""
    uploaded_at: str = ""

    @property
    def sent_name(self) -> str:
        """The name it leaves with: never without the incident's reference."""
        return self.filename if self.filename.startswith(self.ticket) else f"{self.ticket}_{self.filename}"


@dataclass
class EmailRequest:
    """One email to render and send.

    ``idempotency_key`` identifies the email across retries (and workflow
    replays): e.g. ``incident-INC-42:escalation_no_ack``. ``context`` is the
    template's data, JSON-friendly (instants as ISO strings).
    """

    template: str
    to: list[str]
    context: dict[str, Any]
    idempotency_key: str
    incident_id: str = ""
    cc: list[str] = field(default_factory=list)
    attachments: list[EmailAttachment] = field(default_factory=list)


@dataclass
class SentEmail:
    """What was sent: the workflow keeps these as its email log."""

    template: str
    to: list[str]
    subject: str
    sent_at: str  # ISO instant the SMTP server accepted it
    incident_id: str
    message_id: str
    idempotency_key: str
