"""A client's reference and metadata on an operation: checked once, stored as given."""

from __future__ import annotations

import json
from decimal import Decimal

from shared.errors import InvalidMetadata, InvalidReference

MAX_REFERENCE = 128
MAX_METADATA_BYTES = 4096


def parse_reference(value: object) -> str | None:
    """None when absent; otherwise 1 to 128 printable ASCII characters, or InvalidReference."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_reference(value):
        raise InvalidReference(
            f"reference must be a string of 1 to {MAX_REFERENCE} printable ASCII characters"
        )
    return value


def is_reference(value: str) -> bool:
    return 1 <= len(value) <= MAX_REFERENCE and all(" " <= char <= "~" for char in value)


def parse_metadata(value: object) -> str | None:
    """None when absent; otherwise the object as compact JSON of at most 4096 bytes.

    Numbers in it arrive as exact decimals and are kept as JSON numbers of double
    precision: metadata is the client's to read back, not money.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidMetadata("metadata must be a JSON object")
    try:
        text = json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_number
        )
    except ValueError as exc:
        raise InvalidMetadata(f"metadata holds a number JSON cannot carry: {exc}") from exc
    try:
        size = len(text.encode())
    except UnicodeEncodeError as exc:
        # A lone surrogate (an unpaired \ud800 escape, in a key or a value) is valid JSON
        # syntax but not text UTF-8 can carry: it could be neither stored nor sent back.
        raise InvalidMetadata("metadata must not hold a lone surrogate (\\ud800-\\udfff)") from exc
    if size > MAX_METADATA_BYTES:
        raise InvalidMetadata(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return text


def metadata_value(text: str | None) -> dict | None:
    return None if text is None else json.loads(text)


def _number(value: object) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
