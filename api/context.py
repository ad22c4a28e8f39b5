"""What every request handler needs, built once per application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from api.agora.cache import ReadCache
from contracts.agora_link import GateConfig, LinkState
from contracts.dossier import EscalationConfig, RetryConfig
from contracts.incident import IncidentTimings
from crypto.codec import EncryptionCodec, open_keys
from notifications.contacts import Contacts
from settings import Settings
from state_models.calendar import WorkingCalendar
from state_models.incident_priority import PriorityMatrix
from store.crypto import DataCipher
from store.db import Database
from store.person_fields import PersonFields
from temporal_client.link import LinkRefused, link_state

TemporalClientFactory = Callable[[], Awaitable[Client]]


class TemporalUnreachable(Exception):
    """Temporal cannot be reached (the client could not connect)."""

# The banner on every page reads the link's status at most this often.
LINK_STATUS_TTL_SECONDS = 5.0
LINK_STATUS_TIMEOUT_SECONDS = 2.0


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
    # Incidents opened by users; tests shrink the SLA clocks.
    incident_timings: IncidentTimings = field(default_factory=IncidentTimings)
    # Impact × urgency → priority (SPEC §4), from AGORA_FLOW_PRIORITY_MATRIX_FILE.
    priority_matrix: PriorityMatrix = field(default_factory=PriorityMatrix)
    # Decodes Temporal payloads for the codec endpoint (Temporal Web).
    codec: EncryptionCodec | None = None
    # AGORA's recent answers to consultations (off unless the app sets a lifetime).
    agora_reads: ReadCache = field(default_factory=lambda: ReadCache(0))
    _client: Client | None = None
    _fields: PersonFields | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _link_seen: tuple[float, LinkState | None] | None = None

    @property
    def fields(self) -> PersonFields:
        """Opens persons' identities (sealed under each person's key) for the screens."""
        if self._fields is None:
            self._fields = PersonFields(self.cipher, open_keys(self.settings))
        return self._fields

    def escalation_for(self, page: str, manager: str | None) -> EscalationConfig:
        """Who is reminded about the dossier or market at ``page`` (its UI path), and when
        (SPEC §4 per-dossier escalation)."""
        base = self.escalation_override or EscalationConfig(calendar=self.calendar)
        contacts = self.contacts
        return EscalationConfig(
            partner_name=contacts.partner_name if contacts else "",
            manager_email=contacts.dossier_manager_email(manager) if contacts else "",
            head_of_service_email=(contacts.head_of_service.email
                                   if contacts and contacts.head_of_service else ""),
            page_url=f"{self.settings.public_url}{page}",
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
                try:
                    self._client = await self.client_factory()
                except RuntimeError as error:  # the SDK's "Failed client connect"
                    raise TemporalUnreachable(str(error)) from error
            return self._client

    async def link_status(self) -> LinkState | None:
        """The AGORA link's state for the pages' banner, cached briefly; None if unknown."""
        now = time.monotonic()
        if self._link_seen is None or now - self._link_seen[0] > LINK_STATUS_TTL_SECONDS:
            try:
                state = await asyncio.wait_for(
                    self._read_link(), LINK_STATUS_TIMEOUT_SECONDS)
            except (RPCError, LinkRefused, WorkflowQueryFailedError, TimeoutError,
                    TemporalUnreachable):
                state = None  # a page must render even when Temporal does not answer
            self._link_seen = (now, state)
        return self._link_seen[1]

    async def remember_link(self, state: LinkState) -> LinkState:
        """After a cut-off or an approval made here, the banner shows it at once."""
        self._link_seen = (time.monotonic(), state)
        return state

    async def _read_link(self) -> LinkState:
        return await link_state(await self.temporal(), self.settings.link_workflow_id)
