"""Pure validators of the data items sent to AGORA (SPEC §2).

Each validator returns the normalised value or raises ValidationError, whose
message is French (it is shown to business users) and whose ``field`` is the
English field name the API reports it under. No I/O, no clock: safe to import
inside a Temporal workflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

NIR_FIELD = "nir"
SIRET_FIELD = "siret"

# Corsican départements are written 2A/2B; INSEE maps them to 19/18 before the
# mod-97 key computation (2A → 20 − 1, 2B → 20 − 2 at that position).
_CORSICA = {"2A": "19", "2B": "18"}
# Sex digit: 1/2 for a registered person, 3/4 and 7/8 for provisional numbers.
_NIR_SEX_DIGITS = frozenset("123478")
# La Poste's establishments do not follow Luhn: INSEE checks them by a digit sum
# divisible by 5 instead (its head office, 35600000000048, happens to pass Luhn).
_LA_POSTE_SIREN = "356000000"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CENT = Decimal("0.01")


class ValidationError(ValueError):
    """A data item refused; ``str(error)`` is the French reason for the user."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


def _compact(value: str) -> str:
    """The value without any whitespace (users paste NIRs and SIRETs in groups)."""
    return "".join(value.split())


# --- NIR -------------------------------------------------------------------


def _nir_digits(first13: str) -> str:
    """The 13-digit number used for the key, Corsican letters mapped to digits."""
    department = first13[5:7]
    return first13[:5] + _CORSICA.get(department, department) + first13[7:]


def _check_nir_base(base: str) -> str:
    """Validate the 13 characters before the key; return them upper-cased."""
    base = base.upper()
    if len(base) != 13:
        raise ValidationError(NIR_FIELD, "Le NIR doit comporter 13 caractères avant la clé.")
    if not _nir_digits(base).isdigit():
        raise ValidationError(
            NIR_FIELD,
            "Le NIR ne doit contenir que des chiffres (sauf 2A ou 2B pour un département corse).",
        )
    if base[0] not in _NIR_SEX_DIGITS:
        raise ValidationError(NIR_FIELD, "Le premier chiffre du NIR (sexe) est invalide.")
    month = int(base[3:5])
    # INSEE uses 20–42 and 50–99 as pseudo-months when the birth month is unknown.
    if not (1 <= month <= 12 or 20 <= month <= 42 or month >= 50):
        raise ValidationError(NIR_FIELD, "Le mois de naissance indiqué dans le NIR est invalide.")
    return base


def nir_key(first13: str) -> int:
    """The NIR key, 97 − (number mod 97), of the 13 characters before it (1–97)."""
    return 97 - int(_nir_digits(_check_nir_base(_compact(first13)))) % 97


def validate_nir(value: str) -> str:
    """Return the NIR as 15 upper-case characters without spaces, or raise."""
    nir = _compact(value).upper()
    if len(nir) != 15:
        raise ValidationError(
            NIR_FIELD,
            "Le NIR doit comporter 15 caractères (13 caractères et une clé de 2 chiffres).",
        )
    key = nir[13:]
    if not key.isdigit():
        raise ValidationError(NIR_FIELD, "La clé du NIR doit comporter 2 chiffres.")
    if int(key) != nir_key(nir[:13]):
        raise ValidationError(NIR_FIELD, "clé NIR invalide")
    return nir


def mask_nir(nir: str) -> str:
    """The NIR for screens and logs: sex, birth year and month only.

    "184127512345678" → "1 84 12 ** *** *** **". Anything that is not 15
    characters is masked entirely rather than shown in clear.
    """
    compact = _compact(nir)
    if len(compact) != 15:
        return "*" * len(compact)
    return f"{compact[0]} {compact[1:3]} {compact[3:5]} ** *** *** **"


# A NIR: sex, year, month, département (2A/2B in Corsica), commune, order, key.
_NIR_IN_TEXT = re.compile(r"\b[1-478]\d{4}(?:\d{2}|2A|2B)\d{6}\d{2}\b", re.IGNORECASE)


def mask_nirs(text: str) -> str:
    """``text`` with every NIR in it masked (an error message, a fault quoting one)."""
    return _NIR_IN_TEXT.sub(lambda match: mask_nir(match.group(0)), text)


# --- SIRET -----------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def validate_siret(value: str) -> str:
    """Return the SIRET as 14 digits without spaces, or raise."""
    siret = _compact(value)
    if len(siret) != 14 or not siret.isdigit():
        raise ValidationError(SIRET_FIELD, "Le SIRET doit comporter exactement 14 chiffres.")
    if siret.startswith(_LA_POSTE_SIREN):
        valid = luhn_valid(siret) or sum(map(int, siret)) % 5 == 0
    else:
        valid = luhn_valid(siret)
    if not valid:
        raise ValidationError(SIRET_FIELD, "Numéro SIRET invalide (clé de contrôle incorrecte).")
    return siret


# --- dates and amounts -------------------------------------------------------


def validate_date(value: str, field: str) -> date:
    """Parse a calendar date written YYYY-MM-DD (ISO 8601, nothing else)."""
    text = value.strip()
    # fromisoformat alone would also accept "20240101" or week dates: be explicit.
    if not _ISO_DATE.fullmatch(text):
        raise ValidationError(field, "Date invalide : format attendu AAAA-MM-JJ.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, "Date invalide : ce jour n'existe pas.") from None


def validate_date_order(earlier: date, later: date, field_earlier: str, field_later: str) -> None:
    """Refuse ``later`` (reported on ``field_later``) when it precedes ``earlier``.

    The same day is accepted: a one-day training enters and exits on that day.
    """
    if later < earlier:
        raise ValidationError(
            field_later,
            f"Cette date ne peut pas être antérieure au {earlier:%d/%m/%Y}"
            f" (champ « {field_earlier} »).",
        )


def validate_amount(value: str | float | Decimal, field: str = "amount") -> Decimal:
    """Return a strictly positive amount in euros with exactly two decimals.

    Strings may use a French decimal comma and spaces between thousands
    ("1 234,50"); floats are read through their shortest repr, so 12.1 is
    12.10, not its binary approximation.
    """
    if isinstance(value, bool):
        raise ValidationError(field, "Montant invalide.")
    text = _compact(value).replace(",", ".") if isinstance(value, str) else str(value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(field, "Montant invalide : nombre attendu.") from None
    if not amount.is_finite():
        raise ValidationError(field, "Montant invalide : nombre attendu.")
    if amount <= 0:
        raise ValidationError(field, "Le montant doit être strictement positif.")
    try:
        cents = amount.quantize(_CENT)
    except InvalidOperation:  # more digits than the decimal context holds
        raise ValidationError(field, "Montant invalide : nombre trop grand.") from None
    if amount != cents:
        raise ValidationError(field, "Le montant ne peut pas avoir plus de 2 décimales.")
    return cents


def normalise_event_data(
    event: str,
    data: dict[str, Any],
    fields: dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    dates: Collection[str],
    amounts: Collection[str],
    other: Callable[[str, Any], Any],
) -> dict[str, Any]:
    """An event's data checked field by field against ``fields`` (event → required, optional):
    dates as ISO text, amounts as decimal text, any other field through ``other``. A field
    absent, None or blank counts as not given. Raise ValidationError naming the field."""
    if event not in fields:
        raise ValidationError("event", f"événement inconnu : {event}")
    required, optional = fields[event]
    unknown = set(data) - set(required) - set(optional)
    if unknown:
        raise ValidationError(min(unknown), "champ inattendu pour cet événement")
    clean: dict[str, Any] = {}
    for name in required + optional:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if name in required:
                raise ValidationError(name, "champ obligatoire")
            continue
        if name in dates:
            clean[name] = validate_date(str(value), name).isoformat()
        elif name in amounts:
            clean[name] = str(validate_amount(value, name))
        else:
            clean[name] = other(name, value)
    return clean
