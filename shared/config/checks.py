"""The checks of the settings' values, as reusable annotated types (PositiveInt, Flag, ...).

Each check takes a string from the environment (or a value given in code) and returns the
value, or raises ValueError saying what the value must be; shared.config.settings turns
that into a message naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from shared.redis_address import sentinel_address


class Secret:
    """Marks a field whose value an error message must not repeat (it may hold a password)."""


SECRET = Secret()


def _whole_number(value: object, at_least: int) -> int:
    if isinstance(value, str):
        with suppress(ValueError):
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise ValueError(f"must be a whole number of at least {at_least}")
    return value


def _positive_int(value: object) -> int:
    return _whole_number(value, 1)


def _non_negative_int(value: object) -> int:
    return _whole_number(value, 0)


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None


def _positive_float(value: object) -> float:
    number = _number(value)
    if not number > 0:
        raise ValueError("must be a number above 0")
    return number


def _non_negative_float(value: object) -> float:
    number = _number(value)
    if not number >= 0:
        raise ValueError("must be a number of at least 0")
    return number


def _fits_16_bits(value: int) -> int:
    # A batch operation's job id holds its index, and a batch part's id its partition, in
    # 16 bits (shared.accepting.batch_queue).
    if value > 65_536:
        raise ValueError("must be at most 65536")
    return value


def _amount_cents(value: object) -> int:
    """An amount in currency units, exact (Decimal, never float), as whole cents. A whole
    number given in code (not from the environment) is taken as cents already."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        with suppress(InvalidOperation):  # not a number, or too large to quantize
            amount = Decimal(value)
            if amount.is_finite() and amount > 0 and amount == amount.quantize(Decimal("0.01")):
                return int(amount * 100)
    raise ValueError("must be a positive amount with at most 2 decimals")


def _memory_size(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[1-9][0-9]*(b|kb|mb|gb)?", value.lower()):
        raise ValueError("must be a size such as 512mb or 2gb")
    return value.lower()


def _one_of(*allowed: str, fold: Callable[[str], str] = str) -> Callable[[object], str]:
    """A check that the value is one of `allowed`, after `fold` (e.g. str.upper)."""
    choices = f"{', '.join(allowed[:-1])} or {allowed[-1]}"

    def check(value: object) -> str:
        folded = fold(value) if isinstance(value, str) else None
        if folded not in allowed:
            raise ValueError(f"must be {choices}")
        return folded

    return check


def _bootstrap_secret(value: object) -> str | None:
    if value is None:  # the default: no bootstrap key
        return None
    if not isinstance(value, str) or len(value) < 32 or not value.isprintable() or " " in value:
        raise ValueError("must be at least 32 printable characters without spaces")
    return value


def _directory(value: object) -> Path:
    if not isinstance(value, str | Path):
        raise ValueError("must be a directory's path")
    return Path(value).expanduser().resolve()


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.lower() if isinstance(value, str) else None
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _database_url(value: str) -> str:
    if value.startswith("postgres://"):
        raise ValueError("must start with postgresql:// (not postgres://)")
    return value


def _redis_url(value: str) -> str:
    sentinel_address(value)  # a malformed redis+sentinel:// URL says what is wrong
    return value


PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
NonNegativeInt = Annotated[int, BeforeValidator(_non_negative_int)]
# At most 65,536: the value is kept in 16 bits of an id.
Count16Bits = Annotated[PositiveInt, AfterValidator(_fits_16_bits)]
PositiveFloat = Annotated[float, BeforeValidator(_positive_float)]
NonNegativeFloat = Annotated[float, BeforeValidator(_non_negative_float)]
AmountCents = Annotated[int, BeforeValidator(_amount_cents)]
MemorySize = Annotated[str, BeforeValidator(_memory_size)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Directory = Annotated[Path, BeforeValidator(_directory)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url), SECRET]
RedisUrl = Annotated[str, AfterValidator(_redis_url), SECRET]
AuthMode = Annotated[str, BeforeValidator(_one_of("required", "off"))]
SqliteSynchronous = Annotated[
    str, BeforeValidator(_one_of("OFF", "NORMAL", "FULL", "EXTRA", fold=str.upper))
]
LogLevel = Annotated[
    str,
    # Celery's levels, FATAL included.
    BeforeValidator(
        _one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "FATAL", fold=str.upper)
    ),
]
BootstrapSecret = Annotated[str | None, BeforeValidator(_bootstrap_secret), SECRET]
