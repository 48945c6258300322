"""Moments as the contract writes them: UTC, ISO 8601, with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


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
