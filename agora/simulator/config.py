"""What the simulator enforces, all configurable: whom it trusts, what it expects in a VI."""

from __future__ import annotations

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
    # Older INTEROPS-A deployments still sign with RSA-SHA1 (SPEC §3).
    accept_sha1: bool = True
    # False: behave like a GIP-MDS gateway already checked the VI (SPEC §3 "gateway" mode).
    require_vi: bool = True
    # Refuse NIRs with a wrong key and SIRETs failing Luhn, as AGORA would.
    check_identifiers: bool = True
    faults: tuple[FaultRule, ...] = ()
    random_seed: int | None = None

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
        )
        return replace(config, **overrides)
