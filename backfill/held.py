"""What the Region already holds: the dossiers of the live flow, by person and action, read
from the store without changing it (``validate`` is a dry run).

A person is found by the keyed hash of the NIR (``store/crypto.py``), as the store itself
looks persons up; the NIR is never compared, stored or shown in clear here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import make_url

from settings import Settings
from state_models.backfill import LegacyRecord
from store.crypto import DataCipher, cipher_for
from store.models import Dossier, Person

# (NIR look-up hash, SIRET, action code) → [(session start date, dossier id)]
_Key = tuple[str, str, str]


@dataclass
class HeldDossiers:
    cipher: DataCipher | None = None
    dossiers: dict[_Key, list[tuple[str, str]]] = field(default_factory=dict)

    def holder(self, record: LegacyRecord) -> str | None:
        """The store's dossier for this row's person on this row's action (on the same
        session when the row dates it), whatever its state: one the live flow closed was
        declared to AGORA all the same, and loading the row would declare it twice."""
        if self.cipher is None or record.nir is None:
            return None
        key = (self.cipher.lookup_hash(record.nir), record.siret, record.action_code)
        for start, dossier_id in self.dossiers.get(key, ()):
            if record.session_start is None or start == record.session_start.isoformat():
                return dossier_id
        return None


def _read_only_url(url: str) -> str | None:
    """The store's URL, a SQLite file opened read-only (PostgreSQL is only sent SELECTs);
    None for a SQLite file that does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    if not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).exists():
        return None
    # An SQLite URI: a "?" or "#" in the path must be percent-encoded.
    return f"sqlite:///file:{quote(str(Path(parsed.database).resolve()))}?mode=ro&uri=true"


def load_held(settings: Settings) -> HeldDossiers:
    """The live flow's dossiers; none when the store is absent or was never migrated."""
    url = _read_only_url(settings.effective_database_url)
    if url is None:
        return HeldDossiers()
    engine = create_engine(url)
    try:
        if not inspect(engine).has_table(Dossier.__tablename__):
            return HeldDossiers()
        held: dict[_Key, list[tuple[str, str]]] = {}
        with engine.connect() as connection:
            rows = connection.execute(
                select(Person.nir_hash, Dossier.siret, Dossier.action_id, Dossier.start_date,
                       Dossier.id).join(Person, Dossier.person_id == Person.id))
            for nir_hash, siret, action_id, start, dossier_id in rows:
                held.setdefault((nir_hash, siret, action_id), []).append((start, dossier_id))
    finally:
        engine.dispose()
    # The data key only when there is something to compare with (in development, asking for
    # it creates the key file when missing; a store holding dossiers already has it).
    return HeldDossiers(cipher_for(settings), held) if held else HeldDossiers()
