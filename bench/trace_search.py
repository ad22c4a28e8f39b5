"""Searching a year of traces by dossier (SPEC §5: 2 million exchanges at the Region's scale).

Loads N synthetic exchanges into a fresh trace log (the real schema, through the real
migration; chained digests computed as the store does; a sealed payload of a fixed size
instead of real envelopes, so the file stays a few GB at most), then times the Traces page's
query — one dossier's exchanges, newest first, a page of 100 — for dossiers picked at random,
and the same query by market and by period. Prints p50/p99/max against the one-second target.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from settings import Settings
from store.trace_models import ChainHead, TraceRecord
from store.traces import GENESIS, TRACES, TraceStore, chain_digest

BATCH = 20_000
OPERATIONS = ("ValiderDossier", "EntrerEnFormation", "DeclarerRemuneration", "SortirDeFormation",
              "SolderAction", "RechercherOuCreerDossier", "ControlerUniciteNirNom")


def load(store: TraceStore, count: int, dossiers: int, sealed_bytes: int) -> float:
    """Insert ``count`` chained exchanges spread over a year; returns the seconds taken."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=365) / count
    blob = secrets.token_bytes(sealed_bytes)  # stands for a sealed envelope pair
    blob_digest = hashlib.sha256(blob).hexdigest()
    prev = GENESIS
    rng = random.Random(7)
    began = time.perf_counter()
    columns = [c.name for c in TraceRecord.__table__.columns]
    statement = (f"INSERT INTO {TraceRecord.__tablename__} ({', '.join(columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    # The DB-API directly: building 2 million ORM dicts would time Python, not the index.
    with store.database.engine.begin() as connection:
        cursor = connection.connection.cursor()
        rows = []
        for seq in range(1, count + 1):
            at = (start + step * seq).isoformat(timespec="microseconds")
            dossier = rng.randrange(dossiers)
            content = hashlib.sha256(f"{at}|{dossier}|{blob_digest}".encode()).hexdigest()
            digest = chain_digest(prev, seq, at, content)
            row = {"seq": seq, "at": at, "content_digest": content, "prev_digest": prev,
                   "digest": digest, "redacted_at": None, "received_at": at,
                   "operation": OPERATIONS[seq % len(OPERATIONS)],
                   "dossier_id": f"D-{dossier:07d}", "market_id": f"M-{dossier % 500:04d}",
                   "acting_user": f"agent{dossier % 40}", "request_id": f"req-{seq}",
                   "vector_id": f"_vi{seq // 1000}", "attempt": 1, "http_status": 200,
                   "outcome": "acknowledged", "fault_code": "", "sealed": blob}
            rows.append(tuple(row[c] for c in columns))
            prev = digest
            if len(rows) == BATCH:
                cursor.executemany(statement, rows)
                rows = []
        if rows:
            cursor.executemany(statement, rows)
        connection.execute(insert(ChainHead), [{"chain": TRACES, "seq": count, "digest": prev}])
    return time.perf_counter() - began


def timed(store: TraceStore, samples: int, **criteria_for: object) -> list[float]:
    durations = []
    with store.reading() as session:
        for criteria in criteria_for["criteria"]:  # type: ignore[union-attr]
            began = time.perf_counter()
            rows = store.search(session, limit=100, **criteria)
            assert rows is not None
            durations.append(time.perf_counter() - began)
    return durations[:samples]


def run(count: int, dossiers: int, samples: int, sealed_bytes: int,
        work_dir: Path | None = None) -> list[str]:
    own = tempfile.TemporaryDirectory(prefix="agora-trace-bench-") if work_dir is None else None
    folder = Path(own.name) if own else work_dir
    assert folder is not None
    settings = dataclasses.replace(Settings(), data_dir=folder,
                                   database_url=f"sqlite:///{folder / 'traces.sqlite3'}")
    store = TraceStore(settings)
    seconds = load(store, count, dossiers, sealed_bytes)
    size = os.path.getsize(folder / "traces.sqlite3")
    rng = random.Random(11)
    by_dossier = timed(store, samples, criteria=[
        {"dossier_id": f"D-{rng.randrange(dossiers):07d}"} for _ in range(samples)])
    by_market = timed(store, samples, criteria=[
        {"market_id": f"M-{rng.randrange(500):04d}"} for _ in range(samples)])
    by_period = timed(store, samples, criteria=[
        {"dossier_id": f"D-{rng.randrange(dossiers):07d}", "since": "2026-03-01T00:00:00+00:00",
         "until": "2026-09-01T00:00:00+00:00"} for _ in range(samples)])
    store.database.dispose()
    if own:
        own.cleanup()

    def line(name: str, values: list[float]) -> str:
        ordered = sorted(values)
        p99 = ordered[max(0, int(0.99 * len(ordered)) - 1)]
        return (f"{name:22s}: p50 {1000 * statistics.median(values):7.2f} ms  p99 "
                f"{1000 * p99:7.2f} ms  max {1000 * max(values):7.2f} ms  "
                f"RATIO max/1 s {max(values):.4f}  (target ≤ 1)")

    return [
        (f"{count} exchanges for {dossiers} dossiers loaded in {seconds:.0f} s "
         f"({count / seconds:.0f}/s); SQLite file {size / 2**30:.2f} GiB "
         f"(sealed payload {sealed_bytes} B each)"),
        line("by dossier, page of 100", by_dossier),
        line("by market, page of 100", by_market),
        line("dossier + period", by_period),
    ]
