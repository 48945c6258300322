"""Reading requests: the JSON body (exact decimals), the Prefer header, query integers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from flask import request

from shared.errors import InvalidJson, InvalidParameter, UnsupportedMediaType


def json_object_body(*, allow_empty: bool = False) -> dict[str, object]:
    """The body as a JSON object; numbers with a fraction become Decimal, never float.

    NaN and Infinity are let through as Decimal so the amount check can name them.
    """
    raw = request.get_data(cache=True)
    if allow_empty and not raw:
        return {}
    if not request.is_json:
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
    try:
        value = json.loads(raw, parse_float=Decimal, parse_constant=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidJson("the body must be a JSON object")
    return value


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
                try:
                    wait = max(float(value.strip().strip('"')), 0.0)
                except ValueError:
                    continue  # an unusable preference is ignored, as RFC 7240 asks
    return Preferences(respond_async=respond_async, wait=wait)


def query_int(
    name: str, default: int | None, *, minimum: int = 0, maximum: int | None = None
) -> int | None:
    """An integer query parameter; above `maximum` it is clamped, malformed it is a 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidParameter(f"{name} must be a whole number") from exc
    if value < minimum:
        raise InvalidParameter(f"{name} must be at least {minimum}")
    return min(value, maximum) if maximum is not None else value


def long_poll_seconds(prefer: Preferences, maximum: float) -> tuple[float, dict[str, str]]:
    """How long a GET may wait (`Prefer: wait=N`, capped), and the header that says so."""
    seconds = min(prefer.wait or 0.0, maximum)
    headers = {"Preference-Applied": f"wait={seconds:g}"} if prefer.wait is not None else {}
    return seconds, headers
