"""Files attached to incidents, kept with them: one folder per ticket under the data
folder, each file sealed with the data key and bound to its ticket (screenshots may show
personal data). Their references travel in the incident's workflow; their bytes never do.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from contracts.notify import EmailAttachment
from settings import Settings
from state_models.attachments import check_attachment
from store.crypto import DataCipher, cipher_for


class AttachmentStore:
    def __init__(self, settings: Settings, cipher: DataCipher | None = None,
                 root: Path | None = None) -> None:
        self._root = root or settings.data_dir / "incident-attachments"
        self._cipher = cipher or cipher_for(settings)

    def save(self, ticket: str, filename: str, content: bytes, uploaded_by: str) -> EmailAttachment:
        """Check the file (ValueError, in French, when refused) and keep it sealed."""
        accepted = check_attachment(filename, content)
        digest = hashlib.sha256(content).hexdigest()
        folder = self._root / ticket
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{digest[:32]}.sealed"
        sealed = self._cipher.encrypt(base64.b64encode(content).decode(), row=ticket)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(sealed)
        temporary.replace(path)  # the same file sent twice is one file
        return EmailAttachment(ticket=ticket, file_id=digest[:32], filename=accepted.filename,
                               content_type=accepted.content_type, size=len(content),
                               sha256=digest, uploaded_by=uploaded_by,
                               uploaded_at=datetime.now(UTC).isoformat())

    def load(self, attachment: EmailAttachment) -> bytes:
        sealed = (self._root / attachment.ticket / f"{attachment.file_id}.sealed").read_bytes()
        content = base64.b64decode(self._cipher.decrypt(sealed, row=attachment.ticket))
        if hashlib.sha256(content).hexdigest() != attachment.sha256:
            raise ValueError(f"pièce jointe {attachment.filename} altérée")
        return content
