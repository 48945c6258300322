"""Requests per second per API key, counted in Redis so every web process shares the count.

Flask-Limiter with its Redis storage, fixed one-second windows of ATM_RATE_LIMIT requests
(a burst of that size at most). Only requests made with a key are counted: with
ATM_AUTH=off there is no key to count against, and the public endpoints need none. A 429
answers `rate_limited` in the envelope (web/errors.py) with Retry-After; every counted
answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (the Unix time the
window ends). If Redis cannot be reached the limit is not applied rather than refusing
every request.
"""

from __future__ import annotations

from flask import Flask
from flask_limiter import HeaderNames, Limiter

from shared.settings import Settings
from web.auth import caller, caller_id

KEY_PREFIX = "atm:rate"


def register_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Call after register_auth: the limit is per key, so the key must be known first."""
    return Limiter(
        key_func=lambda: caller_id() or "anonymous",
        app=app,
        enabled=settings.auth_required,
        default_limits=[f"{settings.rate_limit}/second"],
        default_limits_exempt_when=lambda: caller() is None,
        strategy="fixed-window",
        storage_uri=settings.redis_url,
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        key_prefix=KEY_PREFIX,
        swallow_errors=True,
        headers_enabled=True,
        header_name_mapping={
            HeaderNames.LIMIT: "RateLimit-Limit",
            HeaderNames.REMAINING: "RateLimit-Remaining",
            HeaderNames.RESET: "RateLimit-Reset",
        },
    )
