"""What the simulator enforces, all configurable: whom it trusts, what it expects in a VI."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agora import operations
from agora.pki import ensure_dev_pki
from agora.simulator.faults import FaultRule
from settings import Settings


def default_pagm_rights() -> dict[str, frozenset[str]]:
    """PAGM rights that grant each operation: its own right, and for reads also the
    funder's right (a funder may read what it reports)."""
    rights: dict[str, frozenset[str]] = {}
    for op in operations.OPERATIONS:
        granted = {op.pagm_right}
        if not op.writes:
            granted.add("AGORA_FINANCEUR")
        rights[op.soap_name] = frozenset(granted)
    return rights


ADMIN_TOKEN_FILE = "simulator-admin-token"
ADMIN_TOKEN_HEADER = "X-Admin-Token"


def admin_token(settings: Settings) -> str:
    """The simulator's admin token: configured, else generated once under the data folder
    (the simulator and the tools reading its admin endpoints share the folder)."""
    if settings.simulator_admin_token:
        return settings.simulator_admin_token
    path = Path(settings.data_dir) / ADMIN_TOKEN_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting together keep one token
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@dataclass(frozen=True)
class SimulatorConfig:
    db_path: Path | str = ":memory:"
    trusted_ca_certs: tuple[Path, ...] = ()
    known_issuers: tuple[str, ...] = ("agora-flow",)
    audience: str = "urn:cdc:agora:services"
    recipient: str = "urn:cdc"
    auth_levels: tuple[str, ...] = (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    )
    pagm_rights: Mapping[str, frozenset[str]] = field(default_factory=default_pagm_rights)
    clock_skew_seconds: float = 120.0
    # Older INTEROPS-A deployments still sign with RSA-SHA1 (SPEC §3): refused, as a
    # provider requiring SHA-256 would.
    accept_sha1: bool = False
    # False: behave like a GIP-MDS gateway already checked the VI (SPEC §3 "gateway" mode).
    require_vi: bool = True
    # Refuse NIRs with a wrong key and SIRETs failing Luhn, as AGORA would.
    check_identifiers: bool = True
    faults: tuple[FaultRule, ...] = ()
    random_seed: int | None = None
    # The /admin endpoints (faults, effects, reset) answer only with this token in the
    # X-Admin-Token header; None: they do not exist (outside development).
    admin_token: str | None = None
    # The longest VI validity accepted (NotBefore to NotOnOrAfter): the convention's
    # window is now − 1 h … now + 1 h.
    max_vi_validity_seconds: float = 7200.0
    # Request bodies above this get 413 before being read whole.
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SimulatorConfig:
        """The simulator that accepts what a client built from ``settings`` sends."""
        pki = ensure_dev_pki(settings.pki_dir, settings.application_id)
        config = cls(
            db_path=settings.data_dir / "agora-simulator.sqlite3",
            trusted_ca_certs=(pki.ca_cert,),
            known_issuers=(settings.application_id,),
            audience=settings.vi_audience,
            recipient=settings.vi_recipient,
            auth_levels=(settings.vi_auth_level,),
            require_vi=settings.vi_mode == "sign",
            admin_token=admin_token(settings) if settings.simulator_admin else None,
            max_body_bytes=settings.max_body_bytes,
        )
        return replace(config, **overrides)
