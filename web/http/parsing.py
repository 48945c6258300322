"""Reading requests: the JSON body (exact decimals), the Prefer header, the query string."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from flask import request

from shared.errors import InvalidJson, UnsupportedMediaType
from shared.shapes.checking import Limits, Shape
from shared.shapes.validating import validated

S = TypeVar("S", bound=Shape)
MAX_JSON_DEPTH = 64
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
    """True if arrays and objects nest more than `limit` levels, walking level by level.

    The body came from json.loads, so its containers are exactly dict and list. A node
    whose children are all scalars (a batch's 10,000 operation objects) is passed over by
    one set check of their types instead of a test of each child in Python.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # not enough brackets to nest that deep, strings included
    level: list = [value]
    holds_no_container = _CONTAINERS.isdisjoint
    for _ in range(limit):
        deeper: list = []
        for node in level:
            children = node.values() if type(node) is dict else node
            if not holds_no_container(map(type, children)):
                deeper += [child for child in children if type(child) in _CONTAINERS]
        if not deeper:
            return False
        level = deeper
    return True


_CONTAINERS = frozenset((dict, list))


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


def checked_query(shape: type[S], limits: Limits) -> S:
    """The query string checked as `shape` (a parameter given twice: its first value)."""
    return validated(shape, request.args.to_dict(), limits)


def long_poll_seconds(prefer: Preferences, maximum: float) -> tuple[float, dict[str, str]]:
    """How long a GET may wait (`Prefer: wait=N`, capped), and the header that says so."""
    seconds = min(prefer.wait or 0.0, maximum)
    headers = {"Preference-Applied": f"wait={seconds:g}"} if prefer.wait is not None else {}
    return seconds, headers
