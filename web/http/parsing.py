"""Reading requests: the JSON body (exact decimals), the Prefer header, query integers."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from flask import request

from shared.accepting.references import is_reference
from shared.errors import InvalidJson, InvalidParameter, UnsupportedMediaType

MAX_JSON_DEPTH = 64
# The largest integer a database column or OFFSET takes (a signed 64-bit integer).
MAX_QUERY_INT = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]+")
_DELTA_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def json_object_body(*, allow_empty: bool = False) -> dict[str, object]:
    """The body as a JSON object; numbers with a fraction become Decimal, never float.

    NaN and Infinity are let through as Decimal so the amount check can name them. The bytes
    are decoded strictly: json.loads would let a UTF-8-encoded surrogate (ED A0 80) through
    as a lone surrogate, which is not text and fails wherever it is encoded again.
    """
    raw = request.get_data(cache=True)
    if allow_empty and not raw:
        return {}
    if not request.is_json:
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
    try:
        text = raw.decode(json.detect_encoding(raw))
        value = json.loads(text, parse_float=_exact_decimal, parse_constant=Decimal)
    except RecursionError as exc:
        raise InvalidJson(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from exc
    except (ValueError, UnicodeDecodeError, InvalidOperation) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidJson("the body must be a JSON object")
    if _nests_deeper(value, MAX_JSON_DEPTH, raw):
        raise InvalidJson(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _exact_decimal(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, exactly; one whose exponent no decimal
    type can hold (1e999999999999999999) is not a usable number."""
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"the number {text[:40]} is out of range") from exc


def _nests_deeper(value: object, limit: int, raw: bytes) -> bool:
    """True if arrays and objects nest more than `limit` levels, walking level by level."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not enough brackets to nest that deep, strings included
    level = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


@dataclass(frozen=True)
class Preferences:
    """What the client asked for in `Prefer` (RFC 7240)."""

    respond_async: bool = False
    wait: float | None = None


def parse_prefer() -> Preferences:
    respond_async = False
    wait: float | None = None
    for header in request.headers.getlist("Prefer"):
        for item in header.split(","):
            name, _, value = item.split(";")[0].strip().partition("=")
            name = name.strip().lower()
            if name == "respond-async":
                respond_async = True
            elif name == "wait":
                seconds = value.strip().strip('"')
                # Only plain non-negative seconds are usable (not nan, inf, 1e3, -1); an
                # unusable preference is ignored, as RFC 7240 asks.
                if _DELTA_SECONDS.fullmatch(seconds):
                    wait = float(seconds)
    return Preferences(respond_async=respond_async, wait=wait)


def query_int(
    name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """An integer query parameter; above `maximum` it is clamped.

    Plain ASCII digits only (not Arabic-Indic digits, "1_0" or " 1 ", which int() would take),
    and no larger than a 64-bit database integer; anything else is a 400.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not _ASCII_DIGITS.fullmatch(raw):
        raise InvalidParameter(f"{name} must be a whole number written in digits 0-9")
    value = int(raw) if len(raw.lstrip("0")) <= 19 else MAX_QUERY_INT + 1
    if value > MAX_QUERY_INT:
        raise InvalidParameter(f"{name} must be at most {MAX_QUERY_INT}")
    if value < minimum:
        raise InvalidParameter(f"{name} must be at least {minimum}")
    return min(value, maximum) if maximum is not None else value


def query_choice(name: str, choices: Sequence[str]) -> str | None:
    """A query parameter that must be one of `choices` when present."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in choices:
        raise InvalidParameter(f"{name} must be one of {', '.join(choices)}")
    return raw


def query_reference(name: str) -> str | None:
    """A query parameter holding a reference (1 to 128 printable ASCII characters)."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not is_reference(raw):
        raise InvalidParameter(f"{name} must be 1 to 128 printable ASCII characters")
    return raw


def long_poll_seconds(prefer: Preferences, maximum: float) -> tuple[float, dict[str, str]]:
    """How long a GET may wait (`Prefer: wait=N`, capped), and the header that says so."""
    seconds = min(prefer.wait or 0.0, maximum)
    headers = {"Preference-Applied": f"wait={seconds:g}"} if prefer.wait is not None else {}
    return seconds, headers
