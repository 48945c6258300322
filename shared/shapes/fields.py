"""The fields of request shapes: amounts, account numbers, references, metadata, hold times."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationInfo

from shared.accepting.references import parse_metadata, parse_reference
from shared.errors import InvalidAmount
from shared.ledger.accounts import validate_account_number
from shared.ledger.money import format_cents, parse_amount
from shared.shapes.checking import Checked, JsonSchema, Limits, limits_of, rule_error

DEFAULT_HOLD_SECONDS = 600
MAX_HOLD_SECONDS = 604_800  # 7 days
# A daily limit is a setting, not an amount moved: any value a balance column holds.
MAX_DAILY_LIMIT_CENTS = 2**62

ACCOUNT_NUMBER = {"type": "string", "pattern": "^[0-9]{1,34}$"}
WEBHOOK_URL = {"type": "string", "format": "uri", "maxLength": 2048}
REFERENCE = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[ -~]+$"}
MONEY_TEXT = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}  # an amount as a string


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


Amount = Annotated[
    int,
    Checked(
        lambda value, info: parse_amount(value, max_cents=limits_of(info).max_amount_cents),
        lambda limits: money_schema({"exclusiveMinimum": 0}, limits),
    ),
]
OpeningAmount = Annotated[
    int,
    Checked(
        lambda value, info: parse_amount(
            value,
            max_cents=limits_of(info).max_amount_cents,
            allow_zero=True,
            name=info.field_name or "amount",
        ),
        lambda limits: money_schema({"minimum": 0}, limits),
    ),
]

# How far below zero an account may go: money >= 0, as an opening balance is.
OverdraftLimit = OpeningAmount


@dataclass(frozen=True)
class HoldLimits:
    """The limits of a capture: the settings', and the amount its hold holds."""

    max_amount_cents: int
    max_batch: int
    webhook_allow_private: bool
    held_cents: int

    @classmethod
    def of(cls, limits: Limits, held_cents: int) -> HoldLimits:
        return cls(
            limits.max_amount_cents, limits.max_batch, limits.webhook_allow_private, held_cents
        )


def _capture_amount(value: object, info: ValidationInfo) -> int | None:
    """Null (or left out) captures the whole hold; more than it holds is refused."""
    if value is None:
        return None
    limits: HoldLimits = info.context  # type: ignore[assignment]
    cents = parse_amount(value, max_cents=limits.max_amount_cents)
    if cents > limits.held_cents:
        raise InvalidAmount(
            f"cannot capture {format_cents(cents)} of a hold of {format_cents(limits.held_cents)}"
        )
    return cents


CaptureAmount = Annotated[
    int | None,
    Checked(
        _capture_amount, lambda limits: nullable(money_schema({"exclusiveMinimum": 0}, limits))
    ),
]
DailyLimit = Annotated[
    int | None,
    Checked(
        lambda value, info: (
            None
            if value is None
            else parse_amount(
                value, max_cents=MAX_DAILY_LIMIT_CENTS, name=info.field_name or "amount"
            )
        ),
        nullable(
            {
                "oneOf": [
                    {"type": "number", "exclusiveMinimum": 0},
                    MONEY_TEXT,
                ],
                "description": "money > 0 with at most 2 decimals; null: no limit",
            }
        ),
    ),
]
AccountNumber = Annotated[
    str, Checked(lambda value, info: validate_account_number(value), ACCOUNT_NUMBER)
]
NewAccountNumber = Annotated[
    str | None,
    Checked(
        lambda value, info: None if value is None else validate_account_number(value),
        {**ACCOUNT_NUMBER, "description": "assigned when left out"},
    ),
]
Reference = Annotated[
    str | None, Checked(lambda value, info: parse_reference(value), nullable(REFERENCE))
]
# Kept as the compact JSON text that is stored.
Metadata = Annotated[
    str | None,
    Checked(
        lambda value, info: parse_metadata(value),
        nullable({"type": "object", "description": "at most 4096 bytes as compact JSON"}),
    ),
]


def _expires_in(value: object, info: ValidationInfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HOLD_SECONDS:
        raise rule_error(
            "invalid_parameter", f"expires_in must be whole seconds from 1 to {MAX_HOLD_SECONDS}"
        )
    return value


ExpiresIn = Annotated[
    int, Checked(_expires_in, {"type": "integer", "minimum": 1, "maximum": MAX_HOLD_SECONDS})
]


def money_schema(minimum: JsonSchema, limits: Limits) -> JsonSchema:
    """A request amount: a JSON number or a decimal string, at most ATM_MAX_AMOUNT."""
    maximum = format_cents(limits.max_amount_cents)
    return {
        "oneOf": [
            {"type": "number", **minimum, "maximum": limits.max_amount_cents / 100},
            MONEY_TEXT,
        ],
        "description": f"at most 2 decimals, at most {maximum} (ATM_MAX_AMOUNT)",
    }
