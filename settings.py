"""Configuration, read once from the environment (prefix ``AGORA_FLOW_``).

Every address, port, identifier and duration the contracts leave to the
partner lives here, never in code. Defaults run everything on 127.0.0.1.
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# What an AGORA environment profile may set (the link: endpoint, TLS files, identity vector).
PROFILE_KEYS = frozenset({
    "AGORA_URL", "AGORA_TIMEOUT_SECONDS", "AGORA_CA_BUNDLE", "AGORA_CLIENT_CERT",
    "AGORA_CLIENT_KEY", "AGORA_TLS_VERIFY", "PARTNER_ID", "APPLICATION_ID", "VI_AUDIENCE",
    "VI_RECIPIENT", "VI_AUTH_LEVEL", "VI_PAGM", "VI_SIGNATURE_ALGORITHM", "VI_MODE",
    "VI_SIGNING_CERT", "VI_SIGNING_KEY", "REGION_CA_CERT",
})
_PROFILE_PATHS = frozenset({"AGORA_CA_BUNDLE", "AGORA_CLIENT_CERT", "AGORA_CLIENT_KEY",
                            "VI_SIGNING_CERT", "VI_SIGNING_KEY", "REGION_CA_CERT"})


@functools.cache
def load_profile(path: str) -> dict[str, str]:
    """An AGORA environment profile (TOML, ``KEY = value`` with the variables' names without
    their prefix): AGORA's acceptance platform or production in one file. Its file paths are
    relative to the profile's folder. A key it may not set is refused."""
    if not path:
        return {}
    file = Path(path)
    with file.open("rb") as opened:
        data = tomllib.load(opened)
    unknown = sorted(set(data) - PROFILE_KEYS)
    if unknown:
        raise ValueError(f"profil AGORA {path} : clé(s) non admise(s) : {', '.join(unknown)}")
    values = {}
    for key, value in data.items():
        if isinstance(value, list):
            text = ",".join(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        if key in _PROFILE_PATHS and text and not Path(text).is_absolute():
            text = str((file.parent / text).resolve())
        values[key] = text
    return values


def _env(name: str, default: str) -> str:
    """The variable ``AGORA_FLOW_<name>``, else the AGORA profile's value, else ``default``."""
    value = os.environ.get(f"AGORA_FLOW_{name}")
    if value is not None:
        return value
    if name in PROFILE_KEYS:
        return load_profile(os.environ.get("AGORA_FLOW_AGORA_PROFILE", "")).get(name, default)
    return default


def _env_list(name: str, default: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in _env(name, default).split(",") if v.strip())


def _development() -> bool:
    return _env("ENV", "production") == "development"


@dataclass(frozen=True)
class Settings:
    # "production" (the default) refuses to start with development conveniences left on;
    # `agora-flow dev` and the tests run in "development".
    env: str = field(default_factory=lambda: _env("ENV", "production"))
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA_DIR", ".data")).resolve())

    # Temporal
    temporal_address: str = field(default_factory=lambda: _env("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    temporal_namespace: str = field(default_factory=lambda: _env("TEMPORAL_NAMESPACE", "default"))
    task_queue: str = field(default_factory=lambda: _env("TASK_QUEUE", "agora-flow"))
    # Workflows a worker keeps in memory between their events (about 0.2 MB each for a
    # dossier); the others are replayed from their history when an event comes.
    worker_max_cached_workflows: int = field(
        default_factory=lambda: int(_env("WORKER_MAX_CACHED_WORKFLOWS", "1000")))
    # Threads running the worker's sync activities (AGORA calls); the AGORA client keeps as
    # many pooled keep-alive connections, one per call in flight.
    worker_activity_threads: int = field(
        default_factory=lambda: int(_env("WORKER_ACTIVITY_THREADS", "64")))
    temporal_ui_port: int = field(default_factory=lambda: int(_env("TEMPORAL_UI_PORT", "8233")))
    # Where operators open Temporal Web (the dossier page links each dossier's workflow).
    temporal_web_url: str = field(default_factory=lambda: _env(
        "TEMPORAL_WEB_URL", f"http://127.0.0.1:{_env('TEMPORAL_UI_PORT', '8233')}"))

    # AGORA's environment in one setting: a profile file (agora/profiles/*.toml) holding the
    # endpoint, the TLS files and the identity vector's values; each may still be overridden
    # by its own variable. None: the local simulator.
    agora_profile: str = field(default_factory=lambda: _env("AGORA_PROFILE", ""))
    # AGORA endpoint (the simulator by default; the real platform in production)
    agora_url: str = field(default_factory=lambda: _env("AGORA_URL", "https://127.0.0.1:8088/agora"))
    simulator_host: str = field(default_factory=lambda: _env("SIMULATOR_HOST", "127.0.0.1"))
    simulator_port: int = field(default_factory=lambda: int(_env("SIMULATOR_PORT", "8088")))
    agora_timeout_seconds: float = field(
        default_factory=lambda: float(_env("AGORA_TIMEOUT_SECONDS", "10"))
    )
    # TLS to AGORA (SPEC §3: certificates from a PKI, never self-signed). The CA bundle the
    # server's certificate is checked against ("": the system's trust store; in development
    # the dev CA), the Region's client certificate and key ("": none presented; in
    # development the dev CA's client leaf), and whether the server's certificate is checked
    # at all — production refuses an http:// URL or checking off (agora-flow check-config).
    agora_ca_bundle: str = field(default_factory=lambda: _env("AGORA_CA_BUNDLE", ""))
    agora_client_cert: str = field(default_factory=lambda: _env("AGORA_CLIENT_CERT", ""))
    agora_client_key: str = field(default_factory=lambda: _env("AGORA_CLIENT_KEY", ""))
    agora_tls_verify: bool = field(default_factory=lambda: _env(
        "AGORA_TLS_VERIFY", "on").lower() not in ("off", "false", "0"))
    # The simulator serves HTTPS with the dev CA's server certificate, and can require the
    # client's certificate (issued by the same CA).
    simulator_tls: bool = field(default_factory=lambda: _env(
        "SIMULATOR_TLS", "on").lower() not in ("off", "false", "0"))
    simulator_require_client_cert: bool = field(default_factory=lambda: _env(
        "SIMULATOR_REQUIRE_CLIENT_CERT", "off").lower() not in ("off", "false", "0"))
    # A consultation's answer (rights, balances, eligibility, a holder's dossiers) is shown
    # again for this long without asking AGORA (a page refresh); 0 turns the cache off.
    agora_read_cache_seconds: float = field(
        default_factory=lambda: float(_env("AGORA_READ_CACHE_SECONDS", "120")))
    # How long a page or an API call waits for a consultation before saying AGORA has not
    # answered (the link held the call, or AGORA keeps failing).
    agora_read_wait_seconds: float = field(
        default_factory=lambda: float(_env("AGORA_READ_WAIT_SECONDS", "15")))

    # The secure file channel to AGORA (backfill files, Convention art. 7): HTTPS with the
    # Region's PKI client certificate; the simulator serves it on this port in development.
    file_channel_url: str = field(
        default_factory=lambda: _env("FILE_CHANNEL_URL", "https://127.0.0.1:8089/sfe"))
    file_channel_port: int = field(default_factory=lambda: int(_env("FILE_CHANNEL_PORT", "8089")))
    # The backfill campaign: records per batch file, and how many open dossiers per second
    # it brings to life (bounded, so that the live flow keeps its speed).
    backfill_chunk_rows: int = field(default_factory=lambda: int(_env("BACKFILL_CHUNK_ROWS", "1000")))
    backfill_starts_per_second: float = field(
        default_factory=lambda: float(_env("BACKFILL_STARTS_PER_SECOND", "5")))
    # The largest export the page *Reprise d'antériorité* accepts (1,000,000 rows ≈ 250 MB).
    backfill_upload_max_bytes: int = field(
        default_factory=lambda: int(_env("BACKFILL_UPLOAD_MAX_BYTES", str(300 * 1024 * 1024))))

    # Identity vector (SPEC §3): every value is the partner's to configure.
    partner_id: str = field(default_factory=lambda: _env("PARTNER_ID", "REGION-CORSE"))
    application_id: str = field(default_factory=lambda: _env("APPLICATION_ID", "agora-flow"))
    vi_audience: str = field(default_factory=lambda: _env("VI_AUDIENCE", "urn:cdc:agora:services"))
    vi_recipient: str = field(default_factory=lambda: _env("VI_RECIPIENT", "urn:cdc"))
    vi_lifetime_seconds: int = field(default_factory=lambda: int(_env("VI_LIFETIME_SECONDS", "3600")))
    vi_auth_level: str = field(
        default_factory=lambda: _env(
            "VI_AUTH_LEVEL", "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        )
    )
    vi_pagm: tuple[str, ...] = field(
        default_factory=lambda: _env_list("VI_PAGM", "AGORA_FINANCEUR;REGION-CORSE")
    )
    vi_signature_algorithm: str = field(
        default_factory=lambda: _env("VI_SIGNATURE_ALGORITHM", "rsa-sha256")
    )
    # "sign": we sign the VI ourselves; "gateway": plain SOAP to a GIP-MDS-style gateway that signs.
    vi_mode: str = field(default_factory=lambda: _env("VI_MODE", "sign"))
    # The Region's certificate and key from its PKI (PEM paths) that sign the identity vector
    # and the trace log's checkpoints, and the CA that issued it (checkpoints are verified
    # against it). Unset: the development PKI under <data dir>/pki, created if missing —
    # production refuses to start that way (agora-flow check-config).
    vi_signing_cert: str = field(default_factory=lambda: _env("VI_SIGNING_CERT", ""))
    vi_signing_key: str = field(default_factory=lambda: _env("VI_SIGNING_KEY", ""))
    region_ca_cert: str = field(default_factory=lambda: _env("REGION_CA_CERT", ""))

    # API / UI
    api_host: str = field(default_factory=lambda: _env("API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: int(_env("API_PORT", "8000")))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))

    # The singleton workflow holding the AGORA link's state (cut-off, incidents).
    link_workflow_id: str = field(default_factory=lambda: _env("LINK_WORKFLOW_ID", "agora-link"))
    # AGORA's weekly maintenance windows, "DAY HH:MM-HH:MM" (Paris time), comma-separated.
    maintenance_windows: tuple[str, ...] = field(
        default_factory=lambda: _env_list("MAINTENANCE_WINDOWS", "sun 22:00-23:00")
    )
    # The public address of the UI, for links in emails.
    public_url: str = field(default_factory=lambda: _env("PUBLIC_URL", "http://127.0.0.1:8000"))

    # Mail
    smtp_host: str = field(default_factory=lambda: _env("SMTP_HOST", "127.0.0.1"))
    smtp_port: int = field(default_factory=lambda: int(_env("SMTP_PORT", "8025")))
    smtp_tls: str = field(default_factory=lambda: _env("SMTP_TLS", "none"))  # none|starttls|ssl
    smtp_username: str = field(default_factory=lambda: _env("SMTP_USERNAME", ""))
    smtp_password: str = field(default_factory=lambda: _env("SMTP_PASSWORD", ""), repr=False)
    smtp_sender: str = field(
        default_factory=lambda: _env("SMTP_SENDER", "agora-flow <agora-flow@localhost>"))
    smtp_timeout_seconds: float = field(
        default_factory=lambda: float(_env("SMTP_TIMEOUT_SECONDS", "30")))

    # Incidents (SPEC §4): this many AGORA transport failures within the window open one.
    incident_burst_failures: int = field(
        default_factory=lambda: int(_env("INCIDENT_BURST_FAILURES", "5")))
    incident_burst_window_seconds: float = field(
        default_factory=lambda: float(_env("INCIDENT_BURST_WINDOW_SECONDS", "600")))
    incident_ticket_prefix: str = field(default_factory=lambda: _env("INCIDENT_TICKET_PREFIX", "AGORA"))
    # A JSON file {"cells": {impact: {urgency: priority}}, "sla_priorities": [...]}; the
    # convention's default matrix (state_models/incident_priority.py) when empty.
    priority_matrix_file: str = field(default_factory=lambda: _env("PRIORITY_MATRIX_FILE", ""))
    # Channels other than email (chat or SMS gateway webhooks, comma-separated URLs) that
    # alert the head of service and the handlers when a CDC notification is late.
    alert_webhook_urls: tuple[str, ...] = field(
        default_factory=lambda: _env_list("ALERT_WEBHOOK_URLS", ""), repr=False)

    # Request bodies above this get 413 before being read whole (API and simulator).
    max_body_bytes: int = field(default_factory=lambda: int(_env("MAX_BODY_BYTES", str(1024 * 1024))))
    # The simulator's /admin endpoints (faults, effects): development only, behind a token
    # (AGORA_FLOW_SIMULATOR_ADMIN_TOKEN, else one generated under the data folder).
    simulator_admin: bool = field(
        default_factory=lambda: _env("SIMULATOR_ADMIN", "true" if _development() else "false").lower() == "true")
    simulator_admin_token: str = field(
        default_factory=lambda: _env("SIMULATOR_ADMIN_TOKEN", ""), repr=False)
    # Sign-in: after this many failures for a user or an address within the window, each
    # next try waits a growing delay (429 with Retry-After meanwhile).
    sign_in_free_failures: int = field(default_factory=lambda: int(_env("SIGN_IN_FREE_FAILURES", "5")))
    sign_in_window_seconds: float = field(
        default_factory=lambda: float(_env("SIGN_IN_WINDOW_SECONDS", "900")))

    # Market places reserved for a dossier that never started are given back by a schedule.
    reconcile_every_seconds: float = field(
        default_factory=lambda: float(_env("RECONCILE_EVERY_SECONDS", "900")))
    reconcile_grace_seconds: float = field(
        default_factory=lambda: float(_env("RECONCILE_GRACE_SECONDS", "600")))

    @property
    def development(self) -> bool:
        return self.env == "development"

    # The master keyring file (JSON, 0600); the key itself may instead come from
    # AGORA_FLOW_MASTER_KEY, which is never a setting so that it never shows in a repr.
    keyring_file: str = field(default_factory=lambda: _env("KEYRING_FILE", ""))
    # Where per-person data keys live (wrapped by the master key); default <data dir>/keys.
    keys_folder: str = field(default_factory=lambda: _env("KEYS_DIR", ""))
    # Browser origins allowed to call the codec endpoint (Temporal Web); default: the
    # dev server's UI on this machine.
    codec_cors_origins: tuple[str, ...] = field(default_factory=lambda: _env_list(
        "CODEC_CORS_ORIGINS", f"http://127.0.0.1:{_env('TEMPORAL_UI_PORT', '8233')},"
                              f"http://localhost:{_env('TEMPORAL_UI_PORT', '8233')}"))

    @property
    def keys_dir(self) -> Path:
        return Path(self.keys_folder).resolve() if self.keys_folder else self.data_dir / "keys"

    # Trace log (SPEC §5): on unless measuring its cost; kept this many days, then purged.
    traces_enabled: bool = field(default_factory=lambda: _env("TRACES", "on").lower() not in ("off", "false", "0"))
    trace_retention_days: int = field(
        default_factory=lambda: int(_env("TRACE_RETENTION_DAYS", "365")))
    # Temporal payloads sealed by the codec: on, except to measure the codec's cost (bench
    # lifecycle); production refuses it off (agora-flow check-config).
    payload_encryption: bool = field(default_factory=lambda: _env(
        "PAYLOAD_ENCRYPTION", "on").lower() not in ("off", "false", "0"))
    # Personal data of closed dossiers (settled or cancelled) are crypto-erased this many days
    # after the dossier closed: ten years, the retention of public funding records (SPEC §8).
    personal_data_retention_days: int = field(
        default_factory=lambda: int(_env("PERSONAL_DATA_RETENTION_DAYS", "3650")))

    # Metrics (Prometheus). An empty address serves nothing. The engine's (Temporal SDK's
    # runtime telemetry) of the worker and of the API's client; the worker's business
    # metrics (the API serves its own on /metrics).
    worker_metrics_address: str = field(
        default_factory=lambda: _env("WORKER_METRICS_ADDRESS", "127.0.0.1:9464"))
    api_engine_metrics_address: str = field(
        default_factory=lambda: _env("API_ENGINE_METRICS_ADDRESS", "127.0.0.1:9465"))
    worker_business_metrics_address: str = field(
        default_factory=lambda: _env("WORKER_BUSINESS_METRICS_ADDRESS", "127.0.0.1:9466"))
    # The API's /metrics needs no session; in production restrict it to the scraper's
    # addresses (IPs or networks, comma-separated) and/or a bearer token.
    metrics_allowed_addresses: tuple[str, ...] = field(
        default_factory=lambda: _env_list("METRICS_ALLOWED_ADDRESSES", ""))
    metrics_token: str = field(default_factory=lambda: _env("METRICS_TOKEN", ""), repr=False)
    # An OTLP/HTTP collector (e.g. http://127.0.0.1:4318) receiving OpenTelemetry spans of
    # workflows and activities (extra "otel"); empty: no spans.
    otlp_endpoint: str = field(default_factory=lambda: _env("OTLP_ENDPOINT", ""))
    # How often the worker recounts dossiers, markets and incidents for the state gauges.
    metrics_refresh_seconds: float = field(
        default_factory=lambda: float(_env("METRICS_REFRESH_SECONDS", "30")))

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"

    @property
    def backfill_dir(self) -> Path:
        """Campaign files (sealed at rest, owner-only): the worker and the commands share it."""
        return self.data_dir / "backfill"

    @property
    def mail_dir(self) -> Path:
        """Where the development SMTP sink writes each message as a .eml file."""
        return self.data_dir / "mail"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'agora-flow.sqlite3'}"


def load() -> Settings:
    return Settings()


# Fields read from a variable not named after them (the documented names).
_VARIABLE_OF_FIELD = {"traces_enabled": "TRACES", "keys_folder": "KEYS_DIR"}


def as_environment(settings: Settings) -> dict[str, str]:
    """The ``AGORA_FLOW_*`` variables that rebuild ``settings`` in a child process."""
    environment: dict[str, str] = {}
    for name, value in vars(settings).items():
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        environment[f"AGORA_FLOW_{_VARIABLE_OF_FIELD.get(name, name.upper())}"] = text
    return environment
