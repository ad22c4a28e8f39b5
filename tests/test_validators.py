from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from state_models.validators import (
    ValidationError,
    luhn_valid,
    mask_nir,
    nir_key,
    validate_amount,
    validate_date,
    validate_date_order,
    validate_nir,
    validate_siret,
)

# --- NIR -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("269054958815780", "269054958815780"),  # INSEE's published example
        ("2 69 05 49 588 157 80", "269054958815780"),
        ("185022A00412308", "185022A00412308"),  # born in Corse-du-Sud
        ("185022a00412308", "185022A00412308"),
        ("290102B01234585", "290102B01234585"),  # born in Haute-Corse
        ("184029912345608", "184029912345608"),  # born abroad (99)
        ("790109912345627", "790109912345627"),  # provisional number
        ("185509912345648", "185509912345648"),  # pseudo-month 50
        ("299421305500124", "299421305500124"),  # pseudo-month 42
    ],
)
def test_valid_nirs_are_normalised(raw: str, normalised: str) -> None:
    assert validate_nir(raw) == normalised


def test_corsica_key_matches_the_subtraction_rule() -> None:
    # INSEE's other formulation: read 2A/2B as 20, then subtract 1 000 000 / 2 000 000.
    assert nir_key("185022A004123") == 97 - (int("1850220004123") - 1_000_000) % 97
    assert nir_key("290102B012345") == 97 - (int("2901020012345") - 2_000_000) % 97


def test_key_97_is_a_valid_key() -> None:
    base = -(-1840112345000 // 97) * 97  # a multiple of 97: key 97
    assert nir_key(str(base)) == 97
    assert validate_nir(f"{base}97") == f"{base}97"
    with pytest.raises(ValidationError):
        validate_nir(f"{base}00")


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("269054958815781", "clé NIR invalide"),
        ("185022A00412309", "clé NIR invalide"),
        ("185022B00412308", "clé NIR invalide"),  # 2A's key does not fit 2B
        ("26905495881578", "15 caractères"),
        ("2690549588157800", "15 caractères"),
        ("", "15 caractères"),
        ("2690549X8815780", "chiffres"),
        ("1850A2A00412308", "chiffres"),  # letters only as a Corsican département
        ("2690549588157A0", "clé du NIR"),
        ("569054958815780", "sexe"),
        ("069054958815780", "sexe"),
        ("169004958815780", "mois"),
        ("169134958815780", "mois"),
        ("169434958815780", "mois"),
    ],
)
def test_invalid_nirs_are_refused(raw: str, reason_part: str) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_nir(raw)
    assert refusal.value.field == "nir"
    assert reason_part in str(refusal.value)
    assert isinstance(refusal.value, ValueError)


_NIR_BASES = st.builds(
    lambda sex, year, month, department, rest: f"{sex}{year:02d}{month:02d}{department}{rest}",
    st.sampled_from("123478"),
    st.integers(0, 99),
    st.one_of(st.integers(1, 12), st.integers(20, 42), st.integers(50, 99)),
    st.one_of(st.sampled_from(["2A", "2B"]), st.integers(0, 99).map(lambda n: f"{n:02d}")),
    st.integers(0, 999_999).map(lambda n: f"{n:06d}"),
)


@settings(max_examples=200)
@given(base=_NIR_BASES, other_key=st.integers(0, 99))
def test_only_the_computed_key_validates(base: str, other_key: int) -> None:
    key = nir_key(base)
    assert 1 <= key <= 97
    assert validate_nir(f"{base}{key:02d}") == base + f"{key:02d}"
    if other_key != key:
        with pytest.raises(ValidationError, match="clé NIR invalide"):
            validate_nir(f"{base}{other_key:02d}")


def test_mask_nir_keeps_only_sex_year_and_month() -> None:
    assert mask_nir("269054958815780") == "2 69 05 ** *** *** **"
    assert mask_nir("2 69 05 49 588 157 80") == "2 69 05 ** *** *** **"
    assert mask_nir("185022A00412308") == "1 85 02 ** *** *** **"


def test_mask_nir_hides_a_malformed_value_entirely() -> None:
    assert mask_nir("2690549588") == "**********"


# --- SIRET -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("73282932000074", "73282932000074"),
        ("732 829 320 00074", "73282932000074"),
        ("35600000000048", "35600000000048"),  # La Poste head office (passes Luhn)
        ("35600000000015", "35600000000015"),  # La Poste: digit sum 20, not Luhn
        ("35600000049837", "35600000049837"),  # La Poste: digit sum 45
    ],
)
def test_valid_sirets(raw: str, normalised: str) -> None:
    assert validate_siret(raw) == normalised


def test_la_poste_examples_really_exercise_the_exception() -> None:
    assert not luhn_valid("35600000000015")
    assert not luhn_valid("35600000049837")


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("73282932000075", "clé de contrôle"),
        ("35600000000016", "clé de contrôle"),  # La Poste, neither rule holds
        ("35700000000015", "clé de contrôle"),  # the exception is La Poste's only
        ("7328293200007", "14 chiffres"),
        ("732829320000740", "14 chiffres"),
        ("7328293200007A", "14 chiffres"),
        ("", "14 chiffres"),
    ],
)
def test_invalid_sirets(raw: str, reason_part: str) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_siret(raw)
    assert refusal.value.field == "siret"
    assert reason_part in str(refusal.value)


def _luhn_check_digit(payload: str) -> str:
    """Independent reference: the digit that completes ``payload`` under Luhn."""
    total = 0
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return str((10 - total % 10) % 10)


@settings(max_examples=200)
@given(payload=st.text("0123456789", min_size=13, max_size=13), other=st.sampled_from("0123456789"))
def test_luhn_property(payload: str, other: str) -> None:
    check = _luhn_check_digit(payload)
    assert luhn_valid(payload + check)
    if other != check:
        # One wrong digit is always detected.
        assert not luhn_valid(payload + other)
    if not payload.startswith("356000000"):
        assert validate_siret(payload + check) == payload + check


# --- dates and amounts -------------------------------------------------------


def test_validate_date_parses_iso_dates() -> None:
    assert validate_date("2024-02-29", "entry_date") == date(2024, 2, 29)
    assert validate_date(" 2019-01-01 ", "entry_date") == date(2019, 1, 1)


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "2024-13-01", "01/02/2024", "20240201", "2024-W05-4", "", "2024-2-1"]
)
def test_validate_date_refuses_other_forms(raw: str) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_date(raw, "exit_date")
    assert refusal.value.field == "exit_date"


def test_date_order_blames_the_later_field() -> None:
    validate_date_order(date(2024, 3, 1), date(2024, 3, 1), "entry_date", "exit_date")
    validate_date_order(date(2024, 3, 1), date(2024, 3, 2), "entry_date", "exit_date")
    with pytest.raises(ValidationError) as refusal:
        validate_date_order(date(2024, 3, 2), date(2024, 3, 1), "entry_date", "exit_date")
    assert refusal.value.field == "exit_date"
    assert "02/03/2024" in str(refusal.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.5", Decimal("12.50")),
        ("1 234,56", Decimal("1234.56")),
        ("0.01", Decimal("0.01")),
        ("7.500", Decimal("7.50")),
        (3, Decimal("3.00")),
        (12.1, Decimal("12.10")),
        (Decimal("99.99"), Decimal("99.99")),
    ],
)
def test_valid_amounts(raw: str | float | Decimal, expected: Decimal) -> None:
    amount = validate_amount(raw)
    assert amount == expected
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("raw", "reason_part"),
    [
        ("0", "positif"),
        ("-5", "positif"),
        ("12.345", "2 décimales"),
        ("douze", "nombre"),
        ("NaN", "nombre"),
        ("Infinity", "nombre"),
        ("1e40", "trop grand"),
        (True, "invalide"),
    ],
)
def test_invalid_amounts(raw: str | bool, reason_part: str) -> None:
    with pytest.raises(ValidationError) as refusal:
        validate_amount(raw, "price")
    assert refusal.value.field == "price"
    assert reason_part in str(refusal.value)
