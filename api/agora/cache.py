"""The short cache of AGORA's answers to consultations, per API process.

In memory only: answers carry personal data (a holder's rights, their dossiers), so they
are never written anywhere. Refusals are not cached.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from contracts.agora_reads import AgoraReadAnswer


class ReadCache:
    """Answers by (operation, fields) until their expiry; thread-safe (pages and API share it)."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, AgoraReadAnswer]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(operation: str, fields: dict[str, Any]) -> str:
        return json.dumps([operation, fields], sort_keys=True)

    def get(self, operation: str, fields: dict[str, Any]) -> AgoraReadAnswer | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(self.key(operation, fields))
            if entry is None or entry[0] <= now:
                return None
            return entry[1]

    def put(self, operation: str, fields: dict[str, Any], answer: AgoraReadAnswer) -> None:
        if self._ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            # Expired entries go as new ones come: the cache never outgrows a TTL's traffic.
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[self.key(operation, fields)] = (now + self._ttl, answer)

    def forget_holder(self, nir: str, operations: frozenset[str]) -> None:
        with self._lock:
            for operation in operations:
                self._entries.pop(self.key(operation, {"nir": nir}), None)
