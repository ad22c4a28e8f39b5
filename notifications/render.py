"""Emails rendered from Jinja2 templates: French, plain-text and HTML parts.

Each email ``name`` has three templates in ``templates/``: ``name.subject.txt``,
``name.txt`` and ``name.html``. Contexts are plain JSON-friendly data (instants
as ISO strings), so a workflow can build them and an activity render them.
A missing context value is an error, not a blank in an email sent to the CDC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

TEMPLATES = Path(__file__).with_name("templates")
PARIS = ZoneInfo("Europe/Paris")

EMAILS: tuple[str, ...] = (
    "cdc_notification",
    "reminder",
    "escalation",
    "deadline_passed",
    "dossier_reminder",
    "dossier_escalation",
    "cutoff_warning",
    "crisis_convocation",
    "trace_export_reminder",
    "trace_export_escalation",
    "subject_request_reminder",
    "subject_request_escalation",
    "cdc_commitment_missed",
    "phone_confirmation",
    "late_notification",
    "major_disaster",
    "crisis_meeting_reminder",
    "crisis_meeting_escalation",
    "region_notice",
    "backfill_answer_overdue",
)

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")
_SEVERITIES = {"critical_major": "critique ou majeure", "minor": "mineure"}
_IMPACTS = {
    "all_users": "indisponibilité totale, tous les utilisateurs",
    "fifty_users_or_more": "au moins 50 utilisateurs",
    "non_essential_functions": "indisponibilité partielle de fonctions non essentielles",
    "few_users": "moins de 50 utilisateurs",
    "one_user": "un utilisateur",
}
_DOMAINS = {"studies": "études", "production": "production"}
_URGENCIES = {"high": "haute", "medium": "moyenne", "low": "basse"}
_STATES = {
    "detected": "détectée, non encore signalée",
    "notified": "signalée, sans réponse de la CDC",
    "acknowledged": "prise en compte par la CDC",
    "worked_around": "contournée",
    "resolved": "résolue",
}


@dataclass
class RenderedEmail:
    subject: str
    text: str
    html: str


def paris(iso_instant: str) -> str:
    """``2026-12-28T16:30:00+00:00`` → ``lundi 28 décembre 2026 à 17:30 (heure de Paris)``."""
    local = datetime.fromisoformat(iso_instant).astimezone(PARIS)
    return (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}"
            f" à {local:%H:%M} (heure de Paris)")


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["paris"] = paris
    environment.filters["severity_label"] = lambda value: _SEVERITIES.get(value, value)
    environment.filters["impact_label"] = lambda value: _IMPACTS.get(value, value)
    environment.filters["domain_label"] = lambda value: _DOMAINS.get(value, value)
    environment.filters["urgency_label"] = lambda value: _URGENCIES.get(value, value)
    environment.filters["state_label"] = lambda value: _STATES.get(value, value)
    return environment


def render(name: str, context: dict[str, Any]) -> RenderedEmail:
    if name not in EMAILS:
        raise ValueError(f"unknown email {name!r}; expected one of {', '.join(EMAILS)}")
    environment = _environment()
    # A subject is one line: the template's newline and any line break in data are dropped.
    subject = " ".join(environment.get_template(f"{name}.subject.txt").render(context).split())
    return RenderedEmail(
        subject=subject,
        text=environment.get_template(f"{name}.txt").render(context),
        html=environment.get_template(f"{name}.html").render({**context, "subject": subject}),
    )
