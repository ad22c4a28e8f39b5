"""The notification activity: render one email, send it over SMTP, record it.

Idempotent by ``EmailRequest.idempotency_key``: the sent-mail log answers a
retry of an email already accepted by the server without sending it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from contracts.notify import SEND_EMAIL, EmailRequest, SentEmail
from notifications import render, smtp
from notifications.sent_log import SentLog, SentRecord
from observability import metrics
from settings import Settings
from store.incident_attachments import AttachmentStore


class NotifyActivities:
    def __init__(self, settings: Settings, smtp_config: smtp.SmtpConfig | None = None,
                 log_path: Path | None = None, attachments: AttachmentStore | None = None) -> None:
        self._smtp = smtp_config or smtp.SmtpConfig.from_settings(settings)
        self._attachments = attachments or AttachmentStore(settings)
        self._log = SentLog(log_path or settings.data_dir / "sent-mail.sqlite3")

    @activity.defn(name=SEND_EMAIL)
    def send_email(self, request: EmailRequest) -> SentEmail:
        done = self._log.already_sent(request.idempotency_key)
        if done is not None:
            activity.logger.info("email %s already sent, not sending again", request.idempotency_key)
            return _sent_email(done)
        email = render.render(request.template, request.context)
        now = datetime.now(UTC)
        files = [(a.sent_name, a.content_type, self._attachments.load(a))
                 for a in request.attachments]
        message = smtp.build_message(email, self._smtp.sender, request.to, request.cc,
                                     request.idempotency_key, now, files)
        record = SentRecord(
            idempotency_key=request.idempotency_key,
            message_id=message["Message-ID"],
            template=request.template,
            recipients=[*request.to, *request.cc],
            subject=email.subject,
            incident_id=request.incident_id,
            sent_at=now.isoformat(),
        )
        self._log.sending(record)
        try:
            smtp.send(message, self._smtp)  # raises: Temporal retries, the log says "sending"
        except Exception:
            metrics.EMAILS.labels(request.template, "failed").inc()
            raise
        metrics.EMAILS.labels(request.template, "sent").inc()
        self._log.sent(request.idempotency_key, record.sent_at)
        return _sent_email(record)

    def all(self) -> list:
        return [self.send_email]


def _sent_email(record: SentRecord) -> SentEmail:
    return SentEmail(
        template=record.template,
        to=record.recipients,
        subject=record.subject,
        sent_at=record.sent_at,
        incident_id=record.incident_id,
        message_id=record.message_id,
        idempotency_key=record.idempotency_key,
    )
