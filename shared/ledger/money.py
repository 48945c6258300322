"""Amounts: request values to integer cents and cents back to JSON numbers; nothing else."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from shared.errors import InvalidAmount

CENT = Decimal("0.01")
_DECIMAL_STRING = re.compile(r"[0-9]+(\.[0-9]+)?")  # used with fullmatch
# The usual amount, "12.34" or "12": read straight to cents (no Decimal); every other
# form, and any amount out of range, takes the general path and its error.
_PLAIN_CENTS = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,2}))?")


def parse_amount(
    value: object, *, max_cents: int, allow_zero: bool = False, name: str = "amount"
) -> int:
    """Turn a request amount into cents, or raise InvalidAmount saying why (naming the
    field `name`).

    JSON numbers arrive as int or Decimal (the body is parsed with parse_float=Decimal),
    so 0.1 means exactly ten cents. Strings must be plain decimals such as "100.50".
    """
    cents = _plain_cents(value)
    if cents is not None and (0 < cents <= max_cents or (allow_zero and cents == 0)):
        return cents
    if isinstance(value, bool) or value is None:
        raise InvalidAmount(f"{name} must be a number such as 100.50")
    if isinstance(value, str):
        if not _DECIMAL_STRING.fullmatch(value):
            raise InvalidAmount(f'{name} string must be a plain decimal such as "100.50"')
        value = Decimal(value)
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        raise InvalidAmount(f"{name} must be a number such as 100.50")
    if not value.is_finite():
        raise InvalidAmount(f"{name} must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidAmount(
            f"{name} must be greater than 0" if not allow_zero else f"{name} must not be negative"
        )
    if value > Decimal(max_cents) / 100:
        raise InvalidAmount(f"{name} must be at most {format_cents(max_cents)}")
    try:
        exact = value.quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - bounded above, kept for safety
        raise InvalidAmount(f"{name} is not a valid decimal") from exc
    if exact != value:
        raise InvalidAmount(f"{name} must have at most 2 decimal places")
    return int(exact * 100)


def _plain_cents(value: object) -> int | None:
    """The cents of a whole JSON number, a JSON number with at most two decimal places
    (a Decimal) or a plain "12.34" string, else None (a batch parses thousands of amounts,
    and the general path costs several times this)."""
    if type(value) is int:  # not bool
        return value * 100
    if type(value) is Decimal and value.is_finite() and -3 < value.adjusted() < 15:
        # Its leading digit between 0.01 and 10**14: quantized to 17 digits at most.
        exact = value.quantize(CENT)
        return int(exact.scaleb(2)) if exact == value else None
    if type(value) is str and (match := _PLAIN_CENTS.fullmatch(value)):
        whole, fraction = match.groups()
        return int(whole) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
    return None


def to_json_number(cents: int) -> float:
    """Cents as a JSON number (5000.0, 4900.5).

    A float is used only for the response text: the repr of cents/100 is the shortest
    decimal that round-trips, which for any realistic balance is exact to the cent.
    """
    return cents / 100


def format_cents(cents: int) -> str:
    """Cents as a decimal string with two places ("1000000.00", "-0.05")."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
