"""The simulator's own data (SQLite, separate from the product's database).

Everything AGORA would know — dossiers, persons, payments, settlements — plus
what tests count: every request received (with its outcome) and every
effect applied. One connection behind a lock: the simulator serves from one
event loop, the lock only guards against admin calls from other threads.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dossiers (
    id TEXT PRIMARY KEY,
    nir TEXT NOT NULL,
    siret TEXT NOT NULL,
    action_id TEXT NOT NULL,
    status TEXT NOT NULL,
    status_operation TEXT NOT NULL,  -- the operation that set the current status (replay detection)
    data TEXT NOT NULL               -- the dossier as AGORA shows it (French names, JSON)
);
-- One open dossier per holder and action (rules.find_or_create); a closed one may be followed.
CREATE INDEX IF NOT EXISTS dossiers_holder_action ON dossiers (nir, siret, action_id);
CREATE TABLE IF NOT EXISTS persons (nir TEXT PRIMARY KEY, birth_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS effects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,
    dossier_id TEXT,
    ack TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    dossier_id TEXT NOT NULL, payment_id TEXT NOT NULL, ack TEXT NOT NULL,
    PRIMARY KEY (dossier_id, payment_id)
);
CREATE TABLE IF NOT EXISTS market_settlements (market_reference TEXT PRIMARY KEY, ack TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dif_balances (nir TEXT PRIMARY KEY, hours INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_id TEXT,
    dossier_id TEXT,
    acting_user TEXT,
    assertion_id TEXT,
    outcome TEXT NOT NULL,           -- applied | replay | answered | fault | injected
    fault_code TEXT,
    http_status INTEGER NOT NULL
);
"""
_TABLES = (
    "dossiers",
    "persons",
    "effects",
    "payments",
    "market_settlements",
    "dif_balances",
    "requests",
)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, path: Path | str) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: a refused request leaves no partial effect."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params).fetchall()]

    def _run(self, sql: str, *params: Any) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    # --- dossiers and persons ---
    def dossier(self, dossier_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM dossiers WHERE id = ?", dossier_id)
        return _dossier(row) if row else None

    def find_dossier(self, nir: str, siret: str, action_id: str) -> dict[str, Any] | None:
        row = self._one(
            # The latest: a closed dossier may be followed by a new one.
            "SELECT * FROM dossiers WHERE nir = ? AND siret = ? AND action_id = ? "
            "ORDER BY rowid DESC LIMIT 1",
            nir,
            siret,
            action_id,
        )
        return _dossier(row) if row else None

    def dossiers_of(self, nir: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM dossiers WHERE nir = ? ORDER BY rowid", (nir,)
            ).fetchall()
        return [_dossier(row) for row in rows]

    def all_dossiers(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM dossiers ORDER BY rowid").fetchall()
        return [_dossier(row) for row in rows]

    def insert_dossier(
        self,
        dossier_id: str,
        nir: str,
        siret: str,
        action_id: str,
        status: str,
        operation: str,
        data: dict[str, Any],
    ) -> None:
        self._run(
            "INSERT INTO dossiers (id, nir, siret, action_id, status, status_operation, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            dossier_id,
            nir,
            siret,
            action_id,
            status,
            operation,
            json.dumps(data),
        )

    def update_dossier(
        self, dossier_id: str, status: str, operation: str, data: dict[str, Any]
    ) -> None:
        self._run(
            "UPDATE dossiers SET status = ?, status_operation = ?, data = ? WHERE id = ?",
            status,
            operation,
            json.dumps(data),
            dossier_id,
        )

    def person_name(self, nir: str) -> str | None:
        row = self._one("SELECT birth_name FROM persons WHERE nir = ?", nir)
        return row["birth_name"] if row else None

    def add_person(self, nir: str, birth_name: str) -> None:
        self._run("INSERT OR IGNORE INTO persons (nir, birth_name) VALUES (?, ?)", nir, birth_name)

    # --- effects and their acknowledgements ---
    def effect(self, request_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT operation, ack FROM effects WHERE request_id = ?", request_id)
        return {"operation": row["operation"], "ack": json.loads(row["ack"])} if row else None

    def last_ack(self, operation: str, dossier_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT ack FROM effects WHERE operation = ? AND dossier_id = ? ORDER BY seq DESC LIMIT 1",
            operation,
            dossier_id,
        )
        return json.loads(row["ack"]) if row else None

    def record_effect(
        self, request_id: str, operation: str, dossier_id: str | None, ack: dict[str, Any]
    ) -> None:
        self._run(
            "INSERT INTO effects (request_id, operation, dossier_id, ack, at) VALUES (?, ?, ?, ?, ?)",
            request_id,
            operation,
            dossier_id,
            json.dumps(ack),
            _now(),
        )

    def payment_ack(self, dossier_id: str, payment_id: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT ack FROM payments WHERE dossier_id = ? AND payment_id = ?",
            dossier_id,
            payment_id,
        )
        return json.loads(row["ack"]) if row else None

    def add_payment(self, dossier_id: str, payment_id: str, ack: dict[str, Any]) -> None:
        self._run("INSERT INTO payments VALUES (?, ?, ?)", dossier_id, payment_id, json.dumps(ack))

    def market_ack(self, market_reference: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT ack FROM market_settlements WHERE market_reference = ?", market_reference
        )
        return json.loads(row["ack"]) if row else None

    def add_market_settlement(self, market_reference: str, ack: dict[str, Any]) -> None:
        self._run("INSERT INTO market_settlements VALUES (?, ?)", market_reference, json.dumps(ack))

    def dif_hours(self, nir: str) -> int:
        row = self._one("SELECT hours FROM dif_balances WHERE nir = ?", nir)
        return int(row["hours"]) if row else 0

    def set_dif_hours(self, nir: str, hours: int) -> None:
        self._run("INSERT OR REPLACE INTO dif_balances VALUES (?, ?)", nir, hours)

    # --- what tests and operators look at ---
    def record_request(
        self,
        *,
        operation: str,
        outcome: str,
        http_status: int,
        request_id: str | None = None,
        dossier_id: str | None = None,
        acting_user: str | None = None,
        assertion_id: str | None = None,
        fault_code: str | None = None,
    ) -> None:
        self._run(
            "INSERT INTO requests (at, operation, request_id, dossier_id, acting_user, assertion_id, "
            "outcome, fault_code, http_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _now(),
            operation,
            request_id,
            dossier_id,
            acting_user,
            assertion_id,
            outcome,
            fault_code,
            http_status,
        )

    def effects(
        self, operation: str | None = None, dossier_id: str | None = None
    ) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT seq, request_id, operation, dossier_id, ack, at FROM effects "
            "WHERE (? IS NULL OR operation = ?) AND (? IS NULL OR dossier_id = ?) ORDER BY seq",
            operation,
            operation,
            dossier_id,
            dossier_id,
        )
        for row in rows:
            row["ack"] = json.loads(row["ack"])
        return rows

    def requests(
        self, operation: str | None = None, outcome: str | None = None
    ) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM requests WHERE (? IS NULL OR operation = ?) AND (? IS NULL OR outcome = ?) ORDER BY seq",
            operation,
            operation,
            outcome,
            outcome,
        )

    def stats(self) -> dict[str, dict[str, int]]:
        rows = self._all(
            "SELECT operation, COUNT(*) AS received, "
            "SUM(outcome = 'applied') AS applied, SUM(outcome = 'replay') AS replays, "
            "SUM(outcome IN ('fault', 'injected')) AS faults "
            "FROM requests GROUP BY operation ORDER BY operation"
        )
        return {row.pop("operation"): {k: int(v or 0) for k, v in row.items()} for row in rows}

    def reset(self) -> None:
        with self.transaction():
            for table in _TABLES:
                self._conn.execute(f"DELETE FROM {table}")


def _dossier(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "status_operation": row["status_operation"],
        "data": json.loads(row["data"]),
    }
