"""The data each dossier event carries, and the rules it must satisfy.

Pure: the API uses it to answer 422 with the field and the reason, the
workflow's update validator uses it again so that no path reaches AGORA with
bad data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from state_models.dossier import DossierFacts
from state_models.dossier_data import CHOICES
from state_models.funders import validate_funders
from state_models.validators import ValidationError, normalise_event_data

# Event -> (required fields, optional fields).
EVENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "validate": (("validation_date",), ()),
    # The person's situation at entry (SPEC §2 item 4).
    "enter": (("entry_date",), ("entry_kind", "job_seeker_since", "france_travail_registered",
                                "socio_professional_category", "last_contract_type")),
    "pay": (("payment_date", "amount"), ()),
    "interrupt": (("interruption_date", "reason"), ("reason_code",)),
    "resume": (("resume_date",), ()),
    "exit": (("exit_date", "reason"), ("reason_code",)),
    "settle": (("settlement_date", "amount_paid"), ()),
    "cancel": (("reason",), ()),
    # A correction of data already sent: named fields, or the action's funders, or both.
    "reengineer": (("reason",), ("corrections", "funders")),
}

DATE_FIELDS = frozenset(
    {
        "validation_date",
        "entry_date",
        "job_seeker_since",
        "payment_date",
        "interruption_date",
        "resume_date",
        "exit_date",
        "settlement_date",
    }
)
AMOUNT_FIELDS = frozenset({"amount", "amount_paid"})

# Fields of a dossier a re-engineering may correct (AGORA's element names stay in agora/).
CORRECTABLE_FIELDS = frozenset(
    {
        "birth_name",
        "usage_name",
        "first_names",
        "birth_date",
        "email",
        "phone",
        "title",
        "certification_code",
        "duration_hours",
        "start_date",
        "end_date",
        "entry_date",
        "exit_date",
        "price",
    }
)


def _other_field(name: str, value: Any) -> Any:
    if name == "corrections":
        return _validate_corrections(value)
    if name == "funders":
        return [{"code": code, "share": share} for code, share in validate_funders(value)]
    if not isinstance(value, str):
        raise ValidationError(name, "texte attendu")
    if name in CHOICES and value.strip() not in CHOICES[name]:
        raise ValidationError(name, f"valeur hors liste : {value.strip()} (attendu : "
                                    f"{', '.join(CHOICES[name])})")
    return value.strip()


def _not_before(later: date, earlier: str | None, field: str, earlier_label: str) -> None:
    if earlier is not None and later < date.fromisoformat(earlier):
        raise ValidationError(field, f"la date ne peut pas précéder {earlier_label} ({earlier})")


def _not_after(earlier: date, later: str, field: str, later_label: str) -> None:
    if earlier > date.fromisoformat(later):
        raise ValidationError(field, f"la date ne peut pas suivre {later_label} ({later})")


def validate_event_data(event: str, data: dict[str, Any], facts: DossierFacts) -> dict[str, Any]:
    """Return the event's data normalised (dates ISO, amounts as decimal text),
    or raise ValidationError naming the field and the reason."""
    clean = normalise_event_data(event, data, EVENT_FIELDS, DATE_FIELDS, AMOUNT_FIELDS,
                                 _other_field)
    if event == "reengineer" and not {"corrections", "funders"} & set(clean):
        raise ValidationError("corrections", "au moins une correction (ou les financeurs) est attendue")
    if event == "resume":
        _not_before(
            date.fromisoformat(clean["resume_date"]),
            facts.last_interruption_date,
            "resume_date",
            "l'interruption",
        )
    if clean.get("france_travail_registered") == "oui" and "job_seeker_since" not in clean:
        # AGORA's situation at entry: a registered job seeker says since when.
        raise ValidationError("job_seeker_since",
                              "obligatoire pour une personne inscrite à France Travail")
    if "job_seeker_since" in clean and "entry_date" in clean:
        _not_after(date.fromisoformat(clean["job_seeker_since"]), clean["entry_date"],
                   "job_seeker_since", "l'entrée")
    for name in ("payment_date", "interruption_date", "exit_date"):
        if name in clean:
            _not_before(date.fromisoformat(clean[name]), facts.entry_date, name, "l'entrée")
    if event == "settle":
        _not_before(
            date.fromisoformat(clean["settlement_date"]), facts.exit_date, "settlement_date", "la sortie"
        )
    return clean


def _validate_corrections(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise ValidationError("corrections", "au moins une correction est attendue")
    corrections = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "value"}:
            raise ValidationError("corrections", "chaque correction a un nom et une valeur")
        if item["name"] not in CORRECTABLE_FIELDS:
            raise ValidationError("corrections", f"champ non corrigeable : {item['name']}")
        corrections.append({"name": str(item["name"]), "value": str(item["value"])})
    return corrections
