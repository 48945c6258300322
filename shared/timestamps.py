"""Moments as the contract writes them: UTC, ISO 8601, with a Z."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# RFC 3339's date-time, with an offset, to the microsecond at most (the stored precision).
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes that are UTC already; make them aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def utc_day(moment: datetime) -> str:
    """The UTC date a daily withdrawal limit counts on, as YYYY-MM-DD."""
    return as_utc(moment).date().isoformat()


def parse_moment(text: str) -> datetime | None:
    """An RFC 3339 date-time with an offset (`Z` or `±hh:mm`) as an aware UTC datetime, or
    None if `text` is not one (no offset, more than microseconds, no such day or time)."""
    if not _MOMENT.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # no such day; or moved out of years 1 to 9999
        return None
