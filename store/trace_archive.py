"""Moving the trace log to another store (SPEC §5: integrity across a change of storage).

The archive is JSON Lines: a header, then every row of the logs, their heads, the signed
checkpoints and the legal holds, exactly as stored (sealed bytes in base64, digests as they
are). Nothing is recomputed on import, so ``agora-flow traces verify`` on the new store checks
the very chain and signatures the old one held.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, insert, select
from sqlalchemy.orm import Session

from store.models import UtcDateTime
from store.trace_models import (
    AuditRecord,
    AuthorisationRecord,
    ChainHead,
    Checkpoint,
    LegalHold,
    TraceRecord,
    VectorRecord,
)

FORMAT = "agora-flow-trace-archive"
VERSION = 1
TABLES = (TraceRecord, VectorRecord, AuditRecord, AuthorisationRecord, ChainHead, Checkpoint,
          LegalHold)
_BATCH = 2000


class ArchiveError(ValueError):
    pass


def _encode(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64encode(value).decode()
    if isinstance(column.type, UtcDateTime):
        return value.isoformat()
    return value


def _decode(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, LargeBinary):
        return base64.b64decode(value)
    if isinstance(column.type, UtcDateTime):
        return datetime.fromisoformat(value)
    return value


def export_archive(session: Session, path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    # Readable by its owner only: it carries the sealed envelopes and the journal.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
        for model in TABLES:
            table = model.__table__
            count = 0
            for row in session.execute(select(table).order_by(*table.primary_key.columns)
                                       .execution_options(yield_per=_BATCH)):
                record = {c.name: _encode(c, row._mapping[c.name]) for c in table.columns}
                out.write(json.dumps({"table": table.name, "row": record}) + "\n")
                count += 1
            counts[table.name] = count
    return counts


def import_archive(session: Session, path: Path) -> dict[str, int]:
    """Into an empty trace log only: merging two chains would break both."""
    tables = {model.__table__.name: model.__table__ for model in TABLES}
    for table in tables.values():
        if session.execute(select(table).limit(1)).first() is not None:
            raise ArchiveError(f"la table {table.name} n'est pas vide : import refusé")
    counts = dict.fromkeys(tables, 0)
    pending: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}

    def flush(name: str) -> None:
        if pending[name]:
            session.execute(insert(tables[name]), pending[name])
            pending[name] = []

    with path.open(encoding="utf-8") as source:
        header = json.loads(source.readline() or "{}")
        if header.get("format") != FORMAT or header.get("version") != VERSION:
            raise ArchiveError(f"{path} n'est pas une archive de traces agora-flow (v{VERSION})")
        for number, line in enumerate(source, start=2):
            item = json.loads(line)
            table = tables.get(item.get("table"))
            if table is None:
                raise ArchiveError(f"ligne {number} : table inconnue {item.get('table')!r}")
            pending[table.name].append(
                {c.name: _decode(c, item["row"].get(c.name)) for c in table.columns})
            counts[table.name] += 1
            if len(pending[table.name]) >= _BATCH:
                flush(table.name)
    for name in tables:
        flush(name)
    return counts
