"""What production must not run with: the development conveniences, listed in French and
English. The API and the worker refuse to start in production mode when any is left on;
``agora-flow check-config`` lists them."""

from __future__ import annotations

import os
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from settings import Settings
from store.crypto import KEY_ENV
from store.db import Database
from store.models import User

# Development only: one user per role, all with the same password (`agora-flow dev`).
DEMO_PASSWORD = "demo-agora-2026"
DEMO_USERS: dict[str, tuple[str, list[str]]] = {
    "gestionnaire": ("Camille Gestionnaire", ["dossier_manager"]),
    "marches": ("Dominique Marchés", ["market_manager"]),
    "operateur": ("Paul Opérateur", ["operator"]),
    "auditeur": ("Ange Auditeur", ["auditor"]),
    "admin": ("Marie Administratrice", ["administrator"]),
    "dpd": ("Lucie Déléguée", ["dpo"]),
}


@dataclass(frozen=True)
class Problem:
    french: str
    english: str

    def __str__(self) -> str:
        return f"{self.french} / {self.english}"


def problems(settings: Settings, database: Database | None = None) -> list[Problem]:
    """Every production problem of ``settings`` (and of the users in ``database``)."""
    found: list[Problem] = []
    if not os.environ.get(KEY_ENV):
        found.append(Problem(
            f"la clé de données est celle générée en développement : fournissez {KEY_ENV}",
            f"the data key is the auto-generated development one: set {KEY_ENV}"))
    if not settings.public_url.lower().startswith("https://"):
        found.append(Problem(
            f"l'adresse publique n'est pas en HTTPS : {settings.public_url}",
            f"the public URL is not HTTPS: {settings.public_url}"))
    if not settings.agora_url.lower().startswith("https://"):
        found.append(Problem(
            f"l'adresse d'AGORA n'est pas en HTTPS : {settings.agora_url}",
            f"the AGORA URL is not HTTPS: {settings.agora_url}"))
    if not settings.file_channel_url.lower().startswith("https://"):
        found.append(Problem(
            f"le canal de fichiers d'AGORA n'est pas en HTTPS : {settings.file_channel_url}",
            f"AGORA's file channel URL is not HTTPS: {settings.file_channel_url}"))
    if not (settings.vi_signing_cert and settings.vi_signing_key):
        found.append(Problem(
            "le vecteur d'identification et les points de contrôle des traces seraient signés par "
            "la PKI de développement : fournissez AGORA_FLOW_VI_SIGNING_CERT et "
            "AGORA_FLOW_VI_SIGNING_KEY (le certificat de la Région et sa clé)",
            "the identity vector and the trace checkpoints would be signed by the development "
            "PKI: set AGORA_FLOW_VI_SIGNING_CERT and AGORA_FLOW_VI_SIGNING_KEY (the Region's "
            "certificate and key)"))
    if not settings.agora_tls_verify:
        found.append(Problem(
            "le certificat du serveur AGORA n'est pas vérifié (AGORA_FLOW_AGORA_TLS_VERIFY)",
            "AGORA's server certificate is not checked (AGORA_FLOW_AGORA_TLS_VERIFY)"))
    if settings.simulator_admin:
        found.append(Problem(
            "les points d'administration du simulateur AGORA sont activés (AGORA_FLOW_SIMULATOR_ADMIN)",
            "the AGORA simulator's admin endpoints are enabled (AGORA_FLOW_SIMULATOR_ADMIN)"))
    if not settings.payload_encryption:
        found.append(Problem(
            "les données des workflows Temporal ne sont pas chiffrées (AGORA_FLOW_PAYLOAD_ENCRYPTION)",
            "Temporal payloads are not encrypted (AGORA_FLOW_PAYLOAD_ENCRYPTION)"))
    found += open_metrics(settings)
    demo = demo_users(database) if database is not None else []
    if demo:
        found.append(Problem(
            f"des utilisateurs de démonstration existent avec leur mot de passe : {', '.join(demo)}",
            f"demo users exist with their demo password: {', '.join(demo)}"))
    return found


# A bind address listening on every interface: anyone who reaches the host may scrape it.
_EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::", "*"})


def open_metrics(settings: Settings) -> list[Problem]:
    """Metrics endpoints anyone can read: the API's ``/metrics`` with neither an address
    restriction nor a token, and the worker's (or the API client's) endpoints, which take no
    token, listening on every interface. Metrics are no personal data, but they tell
    outsiders the Region's volumes, failures and incidents."""
    found: list[Problem] = []
    if not settings.metrics_allowed_addresses and not settings.metrics_token:
        found.append(Problem(
            "les métriques de l'API (/metrics) sont ouvertes à tous : restreignez-les aux adresses "
            "du collecteur (AGORA_FLOW_METRICS_ALLOWED_ADDRESSES) ou exigez un jeton "
            "(AGORA_FLOW_METRICS_TOKEN)",
            "the API's metrics (/metrics) are open to anyone: restrict them to the scraper's "
            "addresses (AGORA_FLOW_METRICS_ALLOWED_ADDRESSES) or require a token "
            "(AGORA_FLOW_METRICS_TOKEN)"))
    for variable, address in (("WORKER_METRICS_ADDRESS", settings.worker_metrics_address),
                              ("WORKER_BUSINESS_METRICS_ADDRESS",
                               settings.worker_business_metrics_address),
                              ("API_ENGINE_METRICS_ADDRESS", settings.api_engine_metrics_address)):
        host = address.rsplit(":", 1)[0].strip("[]") if address else None
        if host in _EVERY_INTERFACE:
            found.append(Problem(
                f"des métriques sont servies sur toutes les interfaces, sans jeton possible "
                f"(AGORA_FLOW_{variable}={address}) : liez-les à une adresse que seul le "
                "collecteur atteint",
                f"metrics are served on every interface, where no token can be required "
                f"(AGORA_FLOW_{variable}={address}): bind them to an address only the scraper "
                "reaches"))
    return found


def demo_users(database: Database) -> list[str]:
    """The demo users still holding the demo password."""
    hasher = PasswordHasher()
    with database.sessions() as session:
        rows = session.execute(select(User.username, User.password_hash).where(
            User.username.in_(list(DEMO_USERS)))).all()
    found = []
    for username, password_hash in rows:
        try:
            hasher.verify(password_hash, DEMO_PASSWORD)
        except (VerificationError, InvalidHashError):
            continue
        found.append(username)
    return sorted(found)


class UnsafeConfiguration(SystemExit):
    pass


def refuse_unsafe_start(settings: Settings, database: Database | None, what: str) -> None:
    """In production mode, stop ``what`` (the API, the worker) if any problem is found."""
    if settings.development:
        return
    found = problems(settings, database)
    if found:
        lines = "\n".join(f"  - {problem}" for problem in found)
        raise UnsafeConfiguration(
            f"{what} : démarrage refusé en production / start refused in production "
            f"(AGORA_FLOW_ENV={settings.env}):\n{lines}")
