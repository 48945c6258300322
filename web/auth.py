"""Who may call: the bearer key of each request, its scope, and the accounts it may use.

With `ATM_AUTH=off` every request passes with no identity (`caller()` is None), as in the
original service. With `ATM_AUTH=required` every endpoint but the public ones needs a live
key (401 `unauthorized` otherwise) whose scopes include the endpoint's (403 `forbidden`
otherwise); GETs need `read` unless marked otherwise, and every other method `admin`
unless marked `operate`, so an endpoint nobody marked is closed, not open.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import redis
from flask import Flask, Response, g, request
from redis.exceptions import RedisError

from shared.api_keys import ADMIN, OPERATE, READ, KeyIdentity, hash_secret
from shared.errors import Forbidden, RateLimited, Unauthorized

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)
SCOPE_ATTRIBUTE = "_atm_required_scope"
PUBLIC = "public"
# Bumped around every revocation; a web process drops the keys it remembers when it
# changes (see KeyDirectory).
REVOCATIONS_KEY = "atm:api-keys:revocations"
RATE_PREFIX = "atm:rate"
# KEYS[1]: the revocation counter; KEYS[2]: this key's counter for this second.
ADMISSION_SCRIPT = """
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], 2) end
return {redis.call('GET', KEYS[1]), count}
"""


def requires(scope: str) -> Callable[[F], F]:
    """Mark a view with the scope it needs (or PUBLIC for none)."""

    def mark(view: F) -> F:
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return mark


@dataclass(frozen=True)
class Admission:
    """What one request's key check found: its key (None: unknown or revoked) and, when
    Redis answered, the request's place in its key's current one-second window."""

    identity: KeyIdentity | None
    count: int | None = None
    window: int = 0


class KeyDirectory:
    """Finds the key of a secret and counts its requests, in one Redis round trip.

    Revocation must hold from the next request on, in every web process, so each request
    reads a Redis counter that every revocation bumps before and after its database commit;
    a process that sees it change forgets every key it remembered, and otherwise finds a
    key in memory with no database work. The same round trip (one Lua script) counts the
    request in its key's one-second window (INCR, and EXPIRE when the window is new): a
    fixed window of ATM_RATE_LIMIT requests, shared by every web process. When Redis cannot
    be asked, nothing is remembered or used from memory (every request reads its key from
    the database) and nothing is counted.
    """

    def __init__(
        self, redis_client: redis.Redis, read_key: Callable[[str], KeyIdentity | None]
    ) -> None:
        self.redis = redis_client
        self._read = read_key  # the database read, off the event loop
        self.known: dict[str, KeyIdentity] = {}
        self.generation: bytes | None = None
        # One command instead of a pipeline of three: the round trip is the same, but
        # redis-py's work per command is a measurable share of a request's CPU.
        self.check = redis_client.register_script(ADMISSION_SCRIPT)

    def admit(self, secret: str) -> Admission:
        digest = hash_secret(secret)
        window = int(time.time())
        counter = f"{RATE_PREFIX}:{digest[:32]}:{window}"
        try:
            generation, count = self.check(keys=[REVOCATIONS_KEY, counter])
        except RedisError as exc:
            log.warning("cannot ask Redis for revocations; reading keys from the database: %s", exc)
            self.known.clear()
            return Admission(self._read(secret))
        if generation != self.generation:
            self.known, self.generation = {}, generation
        identity = self.known.get(digest)
        if identity is None:
            identity = self._read(secret)
            if identity is not None:
                # A key read just before a revocation's commit is forgotten again: the
                # revocation bumps the counter once more after it commits.
                self.known[digest] = identity  # unknown secrets are never remembered
        return Admission(identity, int(count), window)

    def revocations_changed(self) -> None:
        """Called around a revocation; raises RedisError if the change cannot be announced
        (the revocation is then refused rather than left unseen by other processes)."""
        self.redis.incr(REVOCATIONS_KEY)


def register_auth(app: Flask, directory: KeyDirectory, required: bool, rate_limit: int) -> None:
    """Check every request's key, scope and rate (see the module and KeyDirectory); counted
    answers carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (the Unix time
    its window ends), and one past the limit is 429 rate_limited with Retry-After."""

    @app.after_request
    def rate_limit_headers(response: Response) -> Response:
        admission = g.get("admission")
        if admission is not None and admission.count is not None:
            response.headers["RateLimit-Limit"] = str(rate_limit)
            response.headers["RateLimit-Remaining"] = str(max(0, rate_limit - admission.count))
            response.headers["RateLimit-Reset"] = str(admission.window + 1)
        return response

    @app.before_request
    def authenticate() -> None:
        g.api_key = None
        if not required or request.endpoint is None:
            return  # open, or no such route (404/405 say so)
        view = app.view_functions[request.endpoint]
        scope = getattr(view, SCOPE_ATTRIBUTE, None) or (
            READ if request.method in ("GET", "HEAD") else ADMIN
        )
        if scope == PUBLIC or request.blueprint in PUBLIC_BLUEPRINTS:
            return
        secret = bearer_secret()
        admission = directory.admit(secret) if secret else Admission(None)
        identity = admission.identity
        if identity is None:
            raise Unauthorized(
                "a valid API key is required: Authorization: Bearer <secret>"
                if secret is None
                else "this API key is unknown or revoked"
            )
        g.api_key, g.admission = identity, admission
        if admission.count is not None and admission.count > rate_limit:
            raise RateLimited(
                f"more than {rate_limit} requests in one second with this API key",
                retry_after_seconds=1,
            )
        if not identity.allows(scope):
            raise Forbidden(f"this API key does not have the {scope} scope")


# The interactive documentation's page and assets: the document they show is public too.
PUBLIC_BLUEPRINTS = frozenset({"interactive_docs"})


def bearer_secret() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def caller() -> KeyIdentity | None:
    """The key of this request, or None with auth off."""
    return g.get("api_key")


def caller_id() -> str | None:
    identity = caller()
    return None if identity is None else identity.key_id


def require_account(account_number: str) -> None:
    """403 unless the caller may act on (or read) this account."""
    identity = caller()
    if identity is not None and not identity.may_use(account_number):
        raise Forbidden(f"this API key may not use account {account_number}")


def require_unlimited() -> None:
    """403 for a key limited to some accounts: the endpoint shows or changes every account."""
    identity = caller()
    if identity is not None and identity.accounts is not None:
        raise Forbidden("this API key is limited to some accounts; this needs one that is not")


def may_see(account_number: str, submitted_by: str | None) -> bool:
    """A limited key reads its accounts' records and whatever it submitted itself."""
    identity = caller()
    return (
        identity is None
        or identity.may_use(account_number)
        or (submitted_by is not None and submitted_by == identity.key_id)
    )


def scoped_idempotency_key(key: str) -> str:
    """Idempotency keys belong to the API key that sent them (as Stripe scopes them)."""
    identity = caller()
    if identity is None:
        return key
    return f"{identity.key_id}:{hashlib.sha256(key.encode()).hexdigest()}"


operate = requires(OPERATE)
admin = requires(ADMIN)
public = requires(PUBLIC)
