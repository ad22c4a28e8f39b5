"""The legacy "passeport emploi" export and how each of its rows is classified (SPEC §6.1).

Pure: the reader (``backfill/reader.py``) hands in the header and each row as text cells; this
module maps the columns, parses the values (dates ``JJ/MM/AAAA`` or ISO, amounts with a comma
or a point, NIR and SIRET with spaces, sexe 1/2/H/M/F) and gives every row exactly one class,
the first that applies: duplicate, rejected, out_of_scope, nir_to_resolve, ready. Reasons are
French (the backfill team reads them) and never quote a NIR, a name or a birth date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from state_models.dossier_data import legacy_exit_reason_code
from state_models.funders import region_only
from state_models.validators import (
    ValidationError,
    validate_amount,
    validate_date,
    validate_date_order,
    validate_nir,
    validate_siret,
)

# The columns in SPEC §6.1's order: rejection reasons are looked for in this order, so that a
# row with several faults always reports the same one.
COLUMNS: tuple[str, ...] = (
    "num_dossier", "nir", "nom_naissance", "prenoms", "date_naissance", "sexe",
    "code_lieu_naissance", "siret_organisme", "code_action", "intitule_action",
    "code_certification", "duree_heures", "date_debut_session", "date_fin_session",
    "date_entree", "date_sortie", "motif_sortie", "montant_remunere", "statut",
)
REQUIRED: frozenset[str] = frozenset({
    "num_dossier", "nom_naissance", "prenoms", "date_naissance", "sexe", "siret_organisme",
    "code_action", "date_entree",
})
# Convention art. 7.2: only dossiers whose trainee entered the session on or after this day.
SCOPE_START = date(2019, 1, 1)
STATUSES: tuple[str, ...] = ("EN_COURS", "TERMINE", "ABANDON", "ANNULE")
_SEXES = {"1": "1", "2": "2", "H": "1", "M": "1", "F": "2"}
# JJ/MM/AAAA, day and month on one or two digits; Excel's CSV may add a time of day.
_FRENCH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?")
_ISO_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
# What a decoder puts for bytes that are neither UTF-8 nor Windows-1252.
_UNREADABLE = "\ufffd"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RowClass(StrEnum):
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    OUT_OF_SCOPE = "out_of_scope"
    NIR_TO_RESOLVE = "nir_to_resolve"
    READY = "ready"
    # Not a SPEC §6.1 class: a row that would be ready but whose person already has a dossier
    # on the same action in the live flow (issue 14): it must not be loaded twice.
    ALREADY_HELD = "already_held"


class LayoutError(ValueError):
    """The header cannot be used: ``str(error)`` is the French reason."""


@dataclass(frozen=True)
class Layout:
    """Where each known column sits in a row (unknown columns are ignored)."""

    positions: Mapping[str, int]
    width: int

    def value(self, cells: Sequence[str], column: str) -> str:
        position = self.positions.get(column)
        if position is None or position >= len(cells):
            return ""
        return cells[position].strip()


def read_header(cells: Sequence[str]) -> Layout:
    """The layout named by the first line: names matched case-insensitively, surrounding
    spaces ignored, any order; raise LayoutError saying precisely what is wrong."""
    names = [cell.strip().lower() for cell in cells]
    if not any(names):
        raise LayoutError("La première ligne est vide : elle doit nommer les colonnes "
                          "(num_dossier;nir;nom_naissance;…).")
    if len(names) == 1:
        for separator, label in ((",", "« , »"), ("\t", "une tabulation"), ("|", "« | »")):
            if separator in names[0] and set(names[0].split(separator)) & set(COLUMNS):
                raise LayoutError(f"Mauvais séparateur : les colonnes sont séparées par {label},"
                                  " le fichier doit utiliser « ; ».")
    known = [name for name in names if name in COLUMNS]
    if not known:
        raise LayoutError("Pas de ligne d'en-tête : la première ligne ne nomme aucune des "
                          "colonnes attendues (num_dossier;nir;nom_naissance;…).")
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in positions:
            raise LayoutError(f"La colonne « {name} » apparaît deux fois dans l'en-tête.")
        if name in COLUMNS:
            positions[name] = position
    missing = [column for column in COLUMNS if column in REQUIRED and column not in positions]
    if len(missing) == 1:
        raise LayoutError(f"Colonne obligatoire absente : {missing[0]}.")
    if missing:
        raise LayoutError(f"Colonnes obligatoires absentes : {', '.join(missing)}.")
    return Layout(positions, len(names))


@dataclass(frozen=True)
class LegacyRecord:
    """A valid row, its values parsed (the later stages of the backfill read these)."""

    num_dossier: str
    nir: str | None
    birth_name: str
    first_names: str
    birth_date: date
    sex: str
    birth_place: str | None
    siret: str
    action_code: str
    action_title: str | None
    certification_code: str | None
    duration_hours: Decimal | None
    session_start: date | None
    session_end: date | None
    entry_date: date
    exit_date: date | None
    exit_reason: str | None
    remuneration: Decimal | None
    status: str | None
    # The exit reason as AGORA's code (state_models/dossier_data.py), where the text says one.
    exit_reason_code: str | None = None
    # The action's funders (code, share): the export has no funder column (SPEC §6.1), and
    # the legacy tool held the Region's own programme only, so the Region at 100 %.
    funders: tuple[tuple[str, str], ...] = tuple(region_only())


@dataclass(frozen=True)
class Verdict:
    row_class: RowClass
    column: str = ""
    reason: str = ""
    record: LegacyRecord | None = None


def parse_date(text: str, column: str) -> date:
    """``JJ/MM/AAAA`` (the export's own) or ``AAAA-MM-JJ``; raise ValidationError."""
    french = _FRENCH_DATE.fullmatch(text)
    if french:
        day, month, year = (int(part) for part in french.groups())
        if month > 12 >= day:
            raise ValidationError(column, f"Date invalide : le mois {month} n'existe pas "
                                          "(jour et mois inversés ?).")
        return validate_date(f"{year:04d}-{month:02d}-{day:02d}", column)
    iso = _ISO_DATE_TIME.fullmatch(text)
    if iso:
        return validate_date(iso.group(1), column)
    raise ValidationError(column, "Date illisible : format attendu JJ/MM/AAAA ou AAAA-MM-JJ.")


def parse_amount(text: str, column: str) -> Decimal:
    """Euros with a decimal comma or point; zero is a real value (nothing was paid)."""
    number = _number(text)
    if number is not None and number.is_finite() and number == 0:
        return Decimal("0.00")
    return validate_amount(text, column)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal("".join(text.split()).replace(",", "."))
    except InvalidOperation:
        return None


def parse_hours(text: str, column: str) -> Decimal:
    hours = _number(text)
    if hours is None or not hours.is_finite() or hours <= 0:
        raise ValidationError(column, "Durée invalide : nombre d'heures positif attendu.")
    return hours


def parse_sex(text: str, column: str) -> str:
    sex = _SEXES.get(text.upper())
    if sex is None:
        raise ValidationError(column, "Sexe invalide : valeurs admises 1, 2, H, M ou F.")
    return sex


def parse_status(text: str, column: str) -> str:
    status = text.upper()
    if status not in STATUSES:
        raise ValidationError(column, f"Statut inconnu : valeurs admises {', '.join(STATUSES)}.")
    return status


def _birth_place(text: str, column: str) -> str:
    # A spreadsheet turns the INSEE code 01053 into the number 1053.
    return text.zfill(5) if text.isdigit() else text.upper()


# How each column's text becomes its value; a column not named here keeps its text.
_PARSERS: dict[str, Callable[[str, str], object]] = {
    "nir": lambda text, column: validate_nir(text),
    "date_naissance": parse_date,
    "sexe": parse_sex,
    "code_lieu_naissance": _birth_place,
    "siret_organisme": lambda text, column: validate_siret(text),
    "duree_heures": parse_hours,
    "date_debut_session": parse_date,
    "date_fin_session": parse_date,
    "date_entree": parse_date,
    "date_sortie": parse_date,
    "montant_remunere": parse_amount,
    "statut": parse_status,
}


def _parse_record(values: Mapping[str, str]) -> LegacyRecord:
    """Every value checked in COLUMNS order; raise ValidationError, naming the export's
    column, on the first fault."""
    parsed: dict[str, Any] = {}
    for column in COLUMNS:
        text = values[column]
        if not text:
            if column in REQUIRED:
                raise ValidationError(column, "Valeur obligatoire manquante.")
            parsed[column] = None
            continue
        if _UNREADABLE in text:
            raise ValidationError(column, "Caractères illisibles : cette ligne n'est ni en "
                                          "UTF-8 ni en Windows-1252.")
        parser = _PARSERS.get(column)
        try:
            parsed[column] = parser(text, column) if parser else text
        except ValidationError as refused:  # the validators name their own field (e.g. siret)
            raise ValidationError(column, refused.reason) from None
    if parsed["date_sortie"] is not None:
        validate_date_order(parsed["date_entree"], parsed["date_sortie"], "date_entree",
                            "date_sortie")
    return LegacyRecord(
        num_dossier=parsed["num_dossier"], nir=parsed["nir"], birth_name=parsed["nom_naissance"],
        first_names=parsed["prenoms"], birth_date=parsed["date_naissance"], sex=parsed["sexe"],
        birth_place=parsed["code_lieu_naissance"], siret=parsed["siret_organisme"],
        action_code=parsed["code_action"], action_title=parsed["intitule_action"],
        certification_code=parsed["code_certification"], duration_hours=parsed["duree_heures"],
        session_start=parsed["date_debut_session"], session_end=parsed["date_fin_session"],
        entry_date=parsed["date_entree"], exit_date=parsed["date_sortie"],
        exit_reason=parsed["motif_sortie"], remuneration=parsed["montant_remunere"],
        status=parsed["statut"], exit_reason_code=legacy_exit_reason_code(parsed["motif_sortie"]))


def classify(layout: Layout, cells: Sequence[str], first_seen_line: int | None) -> Verdict:
    """The row's one class (SPEC §6.1, first that applies). ``first_seen_line`` is the line
    where the row's num_dossier first appeared, None if this is its first appearance."""
    if first_seen_line is not None:
        return Verdict(RowClass.DUPLICATE, "num_dossier",
                       f"Numéro de dossier déjà présent à la ligne {first_seen_line}.")
    if len(cells) > layout.width and any(cell.strip() for cell in cells[layout.width:]):
        return Verdict(RowClass.REJECTED, "",
                       f"Ligne mal formée : {len(cells)} champs pour {layout.width} colonnes "
                       "(un « ; » non protégé dans une valeur ?).")
    values = {column: layout.value(cells, column) for column in COLUMNS}
    try:
        record = _parse_record(values)
    except ValidationError as refused:
        return Verdict(RowClass.REJECTED, refused.field, refused.reason)
    if record.entry_date < SCOPE_START:
        return Verdict(RowClass.OUT_OF_SCOPE, "date_entree",
                       f"Entrée en formation avant le {SCOPE_START:%d/%m/%Y} : hors du champ "
                       "de la reprise (Convention art. 7.2).", record)
    if record.nir is None:
        return Verdict(RowClass.NIR_TO_RESOLVE, "nir",
                       "NIR absent : à rechercher par l'échange de résolution des NIR.", record)
    return Verdict(RowClass.READY, record=record)


def already_held(verdict: Verdict, dossier_id: str) -> Verdict:
    """A ready row whose person already has ``dossier_id`` on the same action."""
    return Verdict(RowClass.ALREADY_HELD, "nir",
                   f"Dossier déjà suivi dans le flux courant ({dossier_id}) pour cette personne "
                   "et cette action : il ne sera pas chargé une seconde fois.", verdict.record)


def neutralise_cell(text: str) -> str:
    """A cell a spreadsheet would run as a formula, made inert by a leading apostrophe."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
