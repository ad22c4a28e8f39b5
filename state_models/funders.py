"""The funders of a training action and each one's share (SPEC §2 item 3, "financing mode").

The closed list is LHÉO's ``dict-financeurs`` (the Carif-Oref / LHÉO dictionary, current
version), kept here as data with its French labels; the XSD (agora/wsdl/agora.xsd,
``CodeFinanceur``) lists the same codes (a test compares them). Pure: the API, the workflow
side and the backfill use the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from state_models.validators import ValidationError

FIELD = "funders"

FUNDERS: dict[str, str] = {
    "0": "Autre",
    "1": "Code(s) obsolète(s)",
    "2": "Collectivité territoriale - Conseil régional",
    "3": "Fonds européens - FSE",
    "4": "France Travail (ex-Pôle emploi)",
    "5": "Entreprise",
    "6": "ACSÉ (anciennement FASILD)",
    "7": "AGEFIPH",
    "8": "Collectivité territoriale - Conseil départemental",
    "9": "Collectivité territoriale - Commune",
    "10": "Bénéficiaire de l'action",
    "11": "État - Ministère chargé de l'emploi",
    "12": "État - Ministère de l'éducation nationale",
    "13": "État - Autre",
    "14": "Fonds européens - Autre",
    "15": "Collectivité territoriale - Autre",
    "16": "OPCO",
    "17": "Transition Pro",
    "18": "LADOM",
    "19": "État - Ministère de l'intérieur",
    "20": "OFII",
}
# LHÉO keeps code 1 for data recorded under codes since withdrawn: never for new data.
OBSOLETE = "1"
# What a new dossier may name: the list without the obsolete code (the forms' select).
SELECTABLE: dict[str, str] = {code: label for code, label in FUNDERS.items() if code != OBSOLETE}
# The Region's own programme (PRF): a new dossier's funders unless told otherwise.
REGION = "2"
WHOLE = Decimal(100)
_CENT = Decimal("0.01")


def share_text(share: Decimal) -> str:
    """A share as AGORA's decimal text: two decimals ("60.00")."""
    return str(share.quantize(_CENT))


def region_only() -> list[tuple[str, str]]:
    """The default funders: the Region at 100 %."""
    return [(REGION, share_text(WHOLE))]


def label(code: str) -> str:
    return FUNDERS.get(code, code)


def _code(value: Any, position: int) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(FIELD, f"financeur n° {position} : code financeur attendu.")
    code = str(value).strip()
    if not code:
        raise ValidationError(FIELD, f"financeur n° {position} : le code financeur est obligatoire.")
    if code.isdigit():
        code = str(int(code))  # "02" is code 2
    if code == OBSOLETE:
        raise ValidationError(FIELD, f"financeur n° {position} : le code 1 (codes obsolètes) "
                                     "n'est plus accepté pour un nouveau dossier.")
    if code not in FUNDERS:
        raise ValidationError(FIELD, f"financeur n° {position} : code financeur inconnu ({code}), "
                                     "hors de la liste LHÉO dict-financeurs.")
    return code


def _share(value: Any, position: int, code: str) -> Decimal:
    who = f"financeur n° {position} ({label(code)})"
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValidationError(FIELD, f"{who} : part en pourcentage attendue.")
    text = "".join(value.split()).replace(",", ".").rstrip("%") if isinstance(value, str) else str(value)
    if not text:
        raise ValidationError(FIELD, f"{who} : la part est obligatoire.")
    try:
        share = Decimal(text)
    except InvalidOperation:
        raise ValidationError(FIELD, f"{who} : part invalide, pourcentage attendu.") from None
    if not share.is_finite():
        raise ValidationError(FIELD, f"{who} : part invalide, pourcentage attendu.")
    if share <= 0:
        raise ValidationError(FIELD, f"{who} : la part doit être strictement positive.")
    if share > WHOLE:
        raise ValidationError(FIELD, f"{who} : la part ne peut pas dépasser 100 %.")
    if share != share.quantize(_CENT):
        raise ValidationError(FIELD, f"{who} : la part ne peut pas avoir plus de 2 décimales.")
    return share


def validate_funders(funders: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The funders as (code, share with two decimals), in the order given; or raise
    ValidationError (field ``funders``) with the French reason: at least one funder, known
    codes only (the obsolete code 1 refused), no code twice, shares in percent with at most
    two decimals, each above 0, summing to exactly 100."""
    if not isinstance(funders, Sequence) or isinstance(funders, str) or not funders:
        raise ValidationError(FIELD, "Au moins un financeur est obligatoire.")
    clean: list[tuple[str, str]] = []
    seen: set[str] = set()
    total = Decimal(0)
    for position, item in enumerate(funders, start=1):
        if not isinstance(item, Mapping):
            raise ValidationError(FIELD, f"financeur n° {position} : un code et une part sont attendus.")
        code = _code(item.get("code"), position)
        if code in seen:
            raise ValidationError(FIELD, f"le financeur {code} ({label(code)}) figure deux fois.")
        seen.add(code)
        share = _share(item.get("share"), position, code)
        total += share
        clean.append((code, share_text(share)))
    if total != WHOLE:
        raise ValidationError(FIELD, "La somme des parts des financeurs doit faire exactement "
                                     f"100 % (elle fait {share_text(total)} %).")
    return clean
