"""What every request handler needs, built once per application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from settings import Settings
from store.crypto import DataCipher
from store.db import Database
from workflows.dossier_types import RetryConfig

TemporalClientFactory = Callable[[], Awaitable[Client]]


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cipher: DataCipher
    client_factory: TemporalClientFactory
    retry: RetryConfig = field(default_factory=RetryConfig)
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def temporal(self) -> Client:
        # Connected lazily, in the server's own event loop, and only once.
        async with self._lock:
            if self._client is None:
                self._client = await self.client_factory()
            return self._client
