"""SPEC §6.1, the pure part: the export's header, each row's one class and its French reason."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from state_models.backfill import (
    COLUMNS,
    Layout,
    LayoutError,
    RowClass,
    already_held,
    classify,
    neutralise_cell,
    parse_amount,
    parse_date,
    read_header,
)
from state_models.validators import ValidationError, nir_key


def nir(base: str) -> str:
    return f"{base}{nir_key(base):02d}"


CORSICAN_NIR = nir("185032A004123")    # born in 2A (Ajaccio)
BASTIA_NIR = nir("292052B033045")      # born in 2B (Bastia)
MAINLAND_NIR = nir("2880675115007")    # born in Paris 15e
SIRET = "73282932000074"               # passes Luhn

VALID = {
    "num_dossier": "PE-2020-0001", "nir": CORSICAN_NIR, "nom_naissance": "SANTONI",
    "prenoms": "Marie-Hélène", "date_naissance": "14/03/1985", "sexe": "1",
    "code_lieu_naissance": "2A004", "siret_organisme": SIRET, "code_action": "AF-2020-001",
    "intitule_action": "Titre professionnel Agent de restauration",
    "code_certification": "RNCP35987", "duree_heures": "420", "date_debut_session": "06/01/2020",
    "date_fin_session": "30/06/2020", "date_entree": "06/01/2020", "date_sortie": "30/06/2020",
    "motif_sortie": "fin de formation", "montant_remunere": "1 304,04", "statut": "TERMINE",
}
LAYOUT = read_header(list(COLUMNS))


def row(**changes: str) -> list[str]:
    return [changes.get(column, VALID[column]) for column in COLUMNS]


def verdict(first_seen: int | None = None, **changes: str):  # type: ignore[no-untyped-def]
    return classify(LAYOUT, row(**changes), first_seen)


# --- the header ---------------------------------------------------------------------------


def test_header_matches_names_in_any_case_order_and_padding_and_ignores_unknown_columns() -> None:
    names = ["  Commentaire ", *[f" {c.upper()} " for c in reversed(COLUMNS)], "agent"]
    layout = read_header(names)
    assert layout.positions["num_dossier"] == len(COLUMNS)
    assert layout.positions["statut"] == 1
    assert "commentaire" not in layout.positions
    cells = ["x", *reversed(row()), "y"]
    assert classify(layout, cells, None).row_class is RowClass.READY


def test_optional_columns_may_be_absent() -> None:
    required = ["num_dossier", "nom_naissance", "prenoms", "date_naissance", "sexe",
                "siret_organisme", "code_action", "date_entree"]
    layout = read_header(required)
    cells = [VALID[c] for c in required]
    assert classify(layout, cells, None).row_class is RowClass.NIR_TO_RESOLVE


@pytest.mark.parametrize(("cells", "message"), [
    (["", " "], "La première ligne est vide"),
    (["num_dossier,nir,nom_naissance,prenoms"], "Mauvais séparateur : les colonnes sont séparées par « , »"),
    (["num_dossier\tnir\tnom_naissance"], "séparées par une tabulation"),
    (["PE-1", CORSICAN_NIR, "SANTONI"], "Pas de ligne d'en-tête"),
    ([*COLUMNS, "NIR"], "La colonne « nir » apparaît deux fois"),
    ([c for c in COLUMNS if c != "date_entree"], "Colonne obligatoire absente : date_entree."),
    ([c for c in COLUMNS if c not in ("sexe", "code_action")],
     "Colonnes obligatoires absentes : sexe, code_action."),
])
def test_an_unusable_header_says_precisely_why(cells: list[str], message: str) -> None:
    with pytest.raises(LayoutError, match=message):
        read_header(cells)


# --- the classes, in SPEC §6.1's order -------------------------------------------------


def test_a_valid_row_with_its_nir_is_ready_with_its_values_parsed() -> None:
    result = verdict(nir="1 85 03 2A 004 123 " + CORSICAN_NIR[13:], siret_organisme="732 829 320 00074",
                     sexe="h", montant_remunere="1304.04")
    assert result.row_class is RowClass.READY and result.reason == ""
    record = result.record
    assert record is not None
    assert record.nir == CORSICAN_NIR and record.siret == SIRET and record.sex == "1"
    assert record.birth_date == date(1985, 3, 14) and record.entry_date == date(2020, 1, 6)
    assert record.remuneration == Decimal("1304.04") and record.duration_hours == Decimal(420)
    assert record.status == "TERMINE"


@pytest.mark.parametrize("value", [CORSICAN_NIR, BASTIA_NIR, MAINLAND_NIR,
                                   CORSICAN_NIR.lower()])
def test_corsican_and_mainland_nirs_with_their_key_are_ready(value: str) -> None:
    assert verdict(nir=value).row_class is RowClass.READY


def test_a_valid_row_without_nir_goes_to_nir_resolution() -> None:
    result = verdict(nir="  ")
    assert (result.row_class, result.column) == (RowClass.NIR_TO_RESOLVE, "nir")
    assert "résolution des NIR" in result.reason


def test_an_entry_before_2019_is_out_of_scope_and_the_first_of_january_2019_is_in() -> None:
    result = verdict(date_entree="31/12/2018", date_sortie="")
    assert (result.row_class, result.column) == (RowClass.OUT_OF_SCOPE, "date_entree")
    assert "avant le 01/01/2019" in result.reason
    assert verdict(date_entree="2019-01-01", date_sortie="").row_class is RowClass.READY


def test_a_number_seen_earlier_is_a_duplicate_naming_the_first_line() -> None:
    result = verdict(first_seen=7)
    assert (result.row_class, result.column) == (RowClass.DUPLICATE, "num_dossier")
    assert result.reason == "Numéro de dossier déjà présent à la ligne 7."


# --- each rejection, with its column and its French reason -----------------------------

REJECTIONS = [
    ({"num_dossier": ""}, "num_dossier", "Valeur obligatoire manquante."),
    ({"nom_naissance": ""}, "nom_naissance", "Valeur obligatoire manquante."),
    ({"prenoms": " "}, "prenoms", "Valeur obligatoire manquante."),
    ({"date_naissance": ""}, "date_naissance", "Valeur obligatoire manquante."),
    ({"sexe": ""}, "sexe", "Valeur obligatoire manquante."),
    ({"siret_organisme": ""}, "siret_organisme", "Valeur obligatoire manquante."),
    ({"code_action": ""}, "code_action", "Valeur obligatoire manquante."),
    ({"date_entree": ""}, "date_entree", "Valeur obligatoire manquante."),
    ({"nir": CORSICAN_NIR[:13]}, "nir", "Le NIR doit comporter 15 caractères"),
    ({"nir": CORSICAN_NIR[:13] + f"{nir_key(CORSICAN_NIR[:13]) % 97 + 1:02d}"}, "nir",
     "clé NIR invalide"),
    ({"nir": "185032A00X12345"}, "nir", "ne doit contenir que des chiffres"),
    ({"siret_organisme": "73282932000075"}, "siret_organisme", "clé de contrôle incorrecte"),
    ({"siret_organisme": "7328293200007"}, "siret_organisme", "exactement 14 chiffres"),
    ({"date_naissance": "14-03-1985"}, "date_naissance", "Date illisible : format attendu JJ/MM/AAAA"),
    ({"date_naissance": "31/02/1985"}, "date_naissance", "ce jour n'existe pas"),
    ({"date_entree": "01/25/2020"}, "date_entree", "le mois 25 n'existe pas (jour et mois inversés ?)"),
    ({"date_debut_session": "2020-13-01"}, "date_debut_session", "ce jour n'existe pas"),
    ({"date_fin_session": "fin juin"}, "date_fin_session", "Date illisible"),
    ({"date_sortie": "32/06/2020"}, "date_sortie", "ce jour n'existe pas"),
    ({"sexe": "X"}, "sexe", "Sexe invalide : valeurs admises 1, 2, H, M ou F."),
    ({"sexe": "3"}, "sexe", "Sexe invalide"),
    ({"date_sortie": "05/01/2020"}, "date_sortie",
     "ne peut pas être antérieure au 06/01/2020 (champ « date_entree »)"),
    ({"montant_remunere": "mille"}, "montant_remunere", "Montant invalide"),
    ({"montant_remunere": "-12,00"}, "montant_remunere", "strictement positif"),
    ({"duree_heures": "420h"}, "duree_heures", "Durée invalide"),
    ({"statut": "EN COURS"}, "statut", "Statut inconnu : valeurs admises EN_COURS, TERMINE"),
    ({"prenoms": "Marie-H\ufffdl\ufffdne"}, "prenoms", "ni en UTF-8 ni en Windows-1252"),
]


@pytest.mark.parametrize(("changes", "column", "reason"), REJECTIONS)
def test_each_fault_is_rejected_with_its_column_and_french_reason(
        changes: dict[str, str], column: str, reason: str) -> None:
    result = verdict(**changes)
    assert (result.row_class, result.column) == (RowClass.REJECTED, column)
    assert reason in result.reason
    assert result.record is None


def test_a_reason_never_quotes_the_nir_or_the_names() -> None:
    bad_key = CORSICAN_NIR[:13] + f"{nir_key(CORSICAN_NIR[:13]) % 97 + 1:02d}"
    for result in (verdict(nir=bad_key), verdict(prenoms="Hélène\ufffd")):
        assert bad_key not in result.reason and "Hélène" not in result.reason


def test_a_row_with_more_values_than_columns_is_rejected_but_trailing_empty_ones_are_not() -> None:
    result = classify(LAYOUT, [*row(), "extra", ""], None)
    assert result.row_class is RowClass.REJECTED
    assert result.reason.startswith(f"Ligne mal formée : {len(COLUMNS) + 2} champs pour "
                                    f"{len(COLUMNS)} colonnes")
    assert classify(LAYOUT, [*row(), "", " "], None).row_class is RowClass.READY


def test_a_row_with_fewer_values_reads_the_missing_ones_as_empty() -> None:
    cells = row()[: COLUMNS.index("date_entree")]
    result = classify(LAYOUT, cells, None)
    assert (result.row_class, result.column) == (RowClass.REJECTED, "date_entree")


# --- precedence: the first class that applies -------------------------------------------


def test_duplicate_comes_before_rejected() -> None:
    assert verdict(first_seen=2, nir="123", sexe="X").row_class is RowClass.DUPLICATE


def test_rejected_comes_before_out_of_scope() -> None:
    result = verdict(date_entree="01/01/2015", date_sortie="", siret_organisme="73282932000075")
    assert (result.row_class, result.column) == (RowClass.REJECTED, "siret_organisme")


def test_out_of_scope_comes_before_nir_to_resolve() -> None:
    assert verdict(date_entree="01/01/2015", date_sortie="", nir="").row_class is RowClass.OUT_OF_SCOPE


def test_the_first_faulty_column_in_spec_order_is_the_one_reported() -> None:
    # NIR, SIRET and entry date all wrong: the NIR comes first in SPEC §6.1's table.
    result = verdict(nir="12345", siret_organisme="1", date_entree="")
    assert result.column == "nir"
    # A missing required value later in the table does not overtake an invalid earlier one.
    assert verdict(sexe="Z", date_entree="").column == "sexe"


def test_a_row_already_held_keeps_its_record_and_names_the_dossier() -> None:
    ready = verdict()
    held = already_held(ready, "D-0123456789AB")
    assert held.row_class is RowClass.ALREADY_HELD and held.record == ready.record
    assert "D-0123456789AB" in held.reason and CORSICAN_NIR not in held.reason


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("06/01/2020", date(2020, 1, 6)), ("6/1/2020", date(2020, 1, 6)),
    ("2020-01-06", date(2020, 1, 6)), ("06/01/2020 00:00:00", date(2020, 1, 6)),
    ("2020-01-06 00:00", date(2020, 1, 6)), ("29/02/2020", date(2020, 2, 29)),
])
def test_dates_french_or_iso(text: str, expected: date) -> None:
    assert parse_date(text, "date_entree") == expected


@pytest.mark.parametrize("text", ["29/02/2021", "2020/01/06", "06.01.2020", "20200106", "06/01/20"])
def test_unreadable_dates(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_date(text, "date_entree")


@pytest.mark.parametrize(("text", "expected"), [
    ("1304,04", "1304.04"), ("1304.04", "1304.04"), ("1 304,04", "1304.04"), ("0", "0.00"),
    ("0,00", "0.00"), ("12", "12.00"),
])
def test_amounts_with_a_comma_or_a_point(text: str, expected: str) -> None:
    assert parse_amount(text, "montant_remunere") == Decimal(expected)


def test_a_spreadsheet_number_birth_place_gets_its_leading_zero_back() -> None:
    record = verdict(code_lieu_naissance="1053").record
    assert record is not None and record.birth_place == "01053"


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"http://x\";\"y\")", "'=HYPERLINK(\"http://x\";\"y\")"), ("+33 6", "'+33 6"),
    ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"), ("PE-2020-1", "PE-2020-1"), ("", ""),
])
def test_formula_looking_cells_are_neutralised(cell: str, written: str) -> None:
    assert neutralise_cell(cell) == written


def test_layout_value_of_an_absent_column_is_empty() -> None:
    layout = Layout({"num_dossier": 0}, 1)
    assert layout.value([" PE-1 "], "num_dossier") == "PE-1"
    assert layout.value(["PE-1"], "nir") == ""
