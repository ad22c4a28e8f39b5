"""The record of every email sent (to, subject, time, incident), keyed by an
idempotency key so that a retried send never sends twice.

A small SQLite file of our own (stdlib ``sqlite3``) under the data folder.
An email is marked ``sending`` before it is handed to SMTP and ``sent`` once
the server accepted it; a retry finds ``sent`` and does nothing. Only a crash
between the server's acceptance and the ``sent`` mark can repeat a send, and
the repeat carries the same Message-ID, so receivers can discard it.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from crypto.keyring import write_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_mail (
    idempotency_key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    template TEXT NOT NULL,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sending', 'sent')),
    sent_at TEXT
)
"""


@dataclass
class SentRecord:
    idempotency_key: str
    message_id: str
    template: str
    recipients: list[str]
    subject: str
    incident_id: str
    sent_at: str


class SentLog:
    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # Readable by its owner only: subjects and recipients name dossiers and people.
            # Linked into place, never opened and closed here: closing a descriptor of the
            # file would drop the SQLite locks this process's other connections hold on it.
            write_private(path, "", exclusive=True)
        with closing(self._connect()) as db, db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # One connection per operation: activities run on many threads.
        return sqlite3.connect(self._path, timeout=30)

    def already_sent(self, idempotency_key: str) -> SentRecord | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT idempotency_key, message_id, template, recipients, subject, incident_id,"
                " sent_at FROM sent_mail WHERE idempotency_key = ? AND status = 'sent'",
                (idempotency_key,),
            ).fetchone()
        if row is None:
            return None
        return SentRecord(row[0], row[1], row[2], row[3].split(", "), row[4], row[5], row[6])

    def sending(self, record: SentRecord) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO sent_mail VALUES (?, ?, ?, ?, ?, ?, 'sending', NULL)"
                " ON CONFLICT (idempotency_key) DO UPDATE SET status = 'sending'",
                (record.idempotency_key, record.message_id, record.template,
                 ", ".join(record.recipients), record.subject, record.incident_id),
            )

    def sent(self, idempotency_key: str, sent_at: str) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "UPDATE sent_mail SET status = 'sent', sent_at = ? WHERE idempotency_key = ?",
                (sent_at, idempotency_key),
            )

    def all_sent(self) -> list[SentRecord]:
        with closing(self._connect()) as db:
            keys = [r[0] for r in db.execute(
                "SELECT idempotency_key FROM sent_mail WHERE status = 'sent' ORDER BY sent_at")]
        return [record for key in keys if (record := self.already_sent(key))]

    def naming(self, fragments: list[str]) -> list[SentRecord]:
        """Emails sent whose idempotency key names one of ``fragments`` (a dossier id): what
        was written about a person, for their access request (GDPR art. 15)."""
        if not fragments:
            return []
        clause = " OR ".join("instr(idempotency_key, ?) > 0" for _ in fragments)
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT idempotency_key, message_id, template, recipients, subject, incident_id,"
                f" sent_at FROM sent_mail WHERE status = 'sent' AND ({clause}) ORDER BY sent_at",
                fragments).fetchall()
        return [SentRecord(r[0], r[1], r[2], r[3].split(", "), r[4], r[5], r[6]) for r in rows]
