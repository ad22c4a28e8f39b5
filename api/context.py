"""What every request handler needs, built once per application."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from notifications.contacts import Contacts
from settings import Settings
from state_models.calendar import WorkingCalendar
from store.crypto import DataCipher
from store.db import Database
from workflows.agora_link_types import GateConfig
from workflows.dossier_types import EscalationConfig, RetryConfig

TemporalClientFactory = Callable[[], Awaitable[Client]]


@dataclass
class AppContext:
    settings: Settings
    db: Database
    cipher: DataCipher
    client_factory: TemporalClientFactory
    retry: RetryConfig = field(default_factory=RetryConfig)
    link: GateConfig = field(default_factory=GateConfig)
    contacts: Contacts | None = None
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    # Tests shrink the per-dossier reminder clocks (seconds instead of working hours).
    escalation_override: EscalationConfig | None = None
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def escalation_for(self, dossier_id: str, manager: str | None) -> EscalationConfig:
        """Who is reminded about this dossier, and when (SPEC §4 per-dossier escalation)."""
        base = self.escalation_override or EscalationConfig(calendar=self.calendar)
        contacts = self.contacts
        return EscalationConfig(
            partner_name=contacts.partner_name if contacts else "",
            manager_email=contacts.dossier_manager_email(manager) if contacts else "",
            head_of_service_email=(contacts.head_of_service.email
                                   if contacts and contacts.head_of_service else ""),
            dossier_url=f"{self.settings.public_url}/dossiers/{dossier_id}",
            reminder_after_working_hours=base.reminder_after_working_hours,
            escalation_after_working_hours=base.escalation_after_working_hours,
            calendar=base.calendar,
            reminder_after_seconds=base.reminder_after_seconds,
            escalation_after_seconds=base.escalation_after_seconds,
        )

    async def temporal(self) -> Client:
        # Connected lazily, in the server's own event loop, and only once.
        async with self._lock:
            if self._client is None:
                self._client = await self.client_factory()
            return self._client
