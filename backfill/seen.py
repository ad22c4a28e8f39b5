"""The dossier numbers already met in a file, and on which line, in bounded memory.

Up to ``memory_limit`` numbers are kept in a dict; past that they move to SQLite's private
temporary database (on disk, deleted when its connection closes), so a file of ten million rows costs disk, not memory. The numbers
are the legacy tool's own dossier numbers: no personal data lands on the disk.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Self

DEFAULT_MEMORY_LIMIT = 200_000


class SeenDossiers:
    def __init__(self, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self._memory: dict[str, int] = {}
        self._limit = memory_limit
        self._disk: sqlite3.Connection | None = None

    def first_line(self, number: str, line: int) -> int | None:
        """The line ``number`` was first met on, or None after recording it on ``line``."""
        first = self._memory.get(number)
        if first is None and self._disk is not None:
            found = self._disk.execute("SELECT line FROM seen WHERE number = ?", (number,)).fetchone()
            first = found[0] if found else None
        if first is None:
            self._memory[number] = line
            if len(self._memory) >= self._limit:
                self._spill()
        return first

    def _spill(self) -> None:
        if self._disk is None:
            # "": a private on-disk database that SQLite deletes when the connection closes.
            self._disk = sqlite3.connect("")
            self._disk.execute("CREATE TABLE seen (number TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        with self._disk:
            self._disk.executemany("INSERT INTO seen VALUES (?, ?)", self._memory.items())
        self._memory.clear()

    def close(self) -> None:
        if self._disk is not None:
            self._disk.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
