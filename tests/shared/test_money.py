"""Amount parsing: exact cents from JSON numbers and decimal strings, every bad form refused."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared.errors import InvalidAmount
from shared.ledger.money import _plain_cents, format_cents, parse_amount, to_json_number

MAX = 100_000_000


def parse_json_amount(text: str) -> object:
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("100", 10000),
        ("100.5", 10050),
        ("1e2", 10000),
        ('"100.50"', 10050),
        ("0.1", 10),
        ("0.01", 1),
        ("1000000", MAX),
        ("2.675", None),
        ('"1.500"', 150),
        ('"007.10"', 710),
        ('"1000000.00"', MAX),
        ('"1000000.01"', None),
        ('"1.001"', None),
        ('"0.00"', None),
        ('"' + "9" * 5000 + '"', None),
        ('"0000000000000000000000001.00"', 100),
    ],
)
def test_parse_amount(text: str, cents: int | None) -> None:
    value = parse_json_amount(text)
    if cents is None:
        with pytest.raises(InvalidAmount):
            parse_amount(value, max_cents=MAX)
    else:
        assert parse_amount(value, max_cents=MAX) == cents


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        [],
        {},
        "",
        "abc",
        "1e2",
        " ",
        "-1",
        "+1",
        "0x10",
        "١٢",
        "1.",
        ".5",
        " 5",
        "2.5 ",
        "1\n",
    ],
)
def test_rejects_non_amounts(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(value, max_cents=MAX)


@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "-Infinity", "0", "-0.5", "0.001", "1000000.01"]
)
def test_rejects_out_of_range(text: str) -> None:
    with pytest.raises(InvalidAmount):
        parse_amount(parse_json_amount(text), max_cents=MAX)


def test_zero_only_where_allowed() -> None:
    assert parse_amount(0, max_cents=MAX, allow_zero=True) == 0
    assert parse_amount("0.00", max_cents=MAX, allow_zero=True) == 0
    with pytest.raises(InvalidAmount):
        parse_amount(0, max_cents=MAX)


def test_output_is_exact_to_the_cent() -> None:
    for cents in (0, 1, 10, 99, 490050, 500000, 123456789, 10**13 + 7):
        text = json.dumps(to_json_number(cents))
        assert Decimal(text) * 100 == cents
    assert json.dumps(to_json_number(500000)) == "5000.0"
    assert json.dumps(to_json_number(490050)) == "4900.5"
    assert format_cents(100_000_000) == "1000000.00"


@pytest.mark.parametrize("text", ["0.1", "2.675", "1000000.01", "1e2", "12.30", "0"])
def test_strings_and_numbers_get_the_same_answer(text: str) -> None:
    """An amount sent as a string gets the same answer as the same JSON number, errors too."""

    def outcome(value: object) -> object:
        try:
            return parse_amount(value, max_cents=MAX)
        except InvalidAmount as error:
            return error.message

    number = outcome(parse_json_amount(text))
    string = outcome(text)
    assert number == string or text == "1e2"  # exponents are JSON-number syntax only


@pytest.mark.parametrize(
    "value",
    ["12", "12.3", "12.34", "0.05", "1000000", "1000000.00", "000000000000001.1", 7, 1_000_000],
)
def test_the_quick_path_agrees_with_decimal(value: object) -> None:
    """Plain strings and whole numbers are read without Decimal: the same cents."""
    expected = int(Decimal(str(value)) * 100)
    assert parse_amount(value, max_cents=MAX) == expected
    assert parse_amount(value, max_cents=expected) == expected
    with pytest.raises(InvalidAmount, match="at most"):
        parse_amount(value, max_cents=expected - 1)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("12.34", 1234),
        ("12.340", 1234),
        ("0.10", 10),
        ("1E-2", 1),
        ("99999999999999.99", None),  # beyond the maximum: the general path's message
        ("1.005", None),
        ("1e-999999", None),
        ("1e999999", None),
        ("1." + "0" * 100_000 + "1", None),
    ],
)
def test_json_numbers_with_a_fraction_take_a_quick_path_too(text: str, cents: int | None) -> None:
    """A JSON number with a fraction (a Decimal) of two places at most is read without the
    general path's checks, with the same answer; any other, however many digits or however
    large its exponent, still gets the general path's error, without a huge integer."""
    value = parse_json_amount(text)
    quick = _plain_cents(value)
    if cents is None:
        assert quick is None or not 0 < quick <= MAX
        with pytest.raises(InvalidAmount):
            parse_amount(value, max_cents=MAX)
    else:
        assert quick == cents == parse_amount(value, max_cents=MAX)
