"""The retry policy, apart from sending and storage: what a send's result makes of a delivery."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.config.settings import Settings
from shared.store.models import DELIVERED, FAILED, PENDING
from worker.webhooks.due import Result

MAX_DELAY = timedelta(days=1)


def state_after(result: Result, settings: Settings, now: datetime) -> dict[str, object]:
    """A delivery's columns after this result."""
    if result.deferred:  # not tried: its receiver had just failed
        return {
            "result": "deferred",
            "status": PENDING,
            "attempts": result.due.attempts,
            "code": None,
            "error": None,
            "next": now + _backoff(settings, 1),
            "completed_at": None,
        }
    attempts = result.due.attempts + 1
    error = None if result.delivered else (result.error or f"HTTP {result.status_code}")
    state: dict[str, object] = {
        "attempts": attempts,
        "code": result.status_code,
        "error": error,
        "next": now,
        "completed_at": now,
    }
    if result.delivered:
        return {**state, "result": DELIVERED, "status": DELIVERED}
    if result.gone or attempts >= settings.webhook_max_attempts:
        return {**state, "result": FAILED, "status": FAILED}
    return {
        **state,
        "result": "retry",
        "status": PENDING,
        "next": now + _backoff(settings, attempts),
        "completed_at": None,
    }


def _backoff(settings: Settings, attempts: int) -> timedelta:
    """base, twice base, four times base … after the first, second, third failed attempt."""
    seconds = settings.webhook_retry_base_seconds * 2 ** min(attempts - 1, 30)
    return min(timedelta(seconds=seconds), MAX_DELAY)
