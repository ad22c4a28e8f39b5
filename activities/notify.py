"""The notification activity: render one email, send it over SMTP, record it.

Idempotent by ``EmailRequest.idempotency_key``: the sent-mail log answers a
retry of an email already accepted by the server without sending it again, and a
retry that starts while the timed-out attempt is still talking to the server (its
thread is not stopped by Temporal's timeout) waits for that attempt's outcome in
this process instead of sending a second copy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
        self._in_flight = _InFlight()

    @activity.defn(name=SEND_EMAIL)
    def send_email(self, request: EmailRequest) -> SentEmail:
        with self._in_flight.holding(request.idempotency_key):
            return self._send_once(request)

    def _send_once(self, request: EmailRequest) -> SentEmail:
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


class _InFlight:
    """The idempotency keys this process is sending, each with its own lock: one attempt at a
    time per email, other emails not held up."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # key → (lock, holders)

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, holders = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, holders + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, holders = self._locks[key]
                if holders == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, holders - 1)


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
