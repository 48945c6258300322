"""The mapper from a shape's validation error to the envelope's error, in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest

from shared.errors import AccountNotFound, InvalidAmount
from shared.shapes.checking import Checked, Shape
from shared.shapes.validating import validated


@dataclass(frozen=True)
class _Limits:
    max_amount_cents: int = 100
    max_batch: int = 10
    webhook_allow_private: bool = False


def _refuse_amount(value: Any, info: Any) -> int:
    raise InvalidAmount(f"amount {value!r} is refused")


def _unknown_account(value: Any, info: Any) -> str:
    raise AccountNotFound(f"account {value} not found")


class _AmountShape(Shape):
    amount: Annotated[int, Checked(_refuse_amount, {"type": "number"})]


class _AccountShape(Shape):
    account: Annotated[str, Checked(_unknown_account, {"type": "string"})]


def test_a_check_s_validation_error_keeps_its_type_and_message() -> None:
    with pytest.raises(InvalidAmount, match="amount 5 is refused"):
        validated(_AmountShape, {"amount": 5}, _Limits())


def test_an_error_that_is_not_a_validation_error_passes_through_as_it_is() -> None:
    """Not turned into a 400 invalid_parameter: the API answers with its own status."""
    with pytest.raises(AccountNotFound, match="account 7 not found"):
        validated(_AccountShape, {"account": "7"}, _Limits())
