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
from collections.abc import Callable
from typing import TypeVar

import redis
from flask import Flask, current_app, g, request
from redis.exceptions import RedisError

from shared.api_keys import ADMIN, OPERATE, READ, KeyIdentity, hash_secret, identify
from shared.db import Database
from shared.errors import Forbidden, Unauthorized
from web.offload import DatabaseThreads

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)
SCOPE_ATTRIBUTE = "_atm_required_scope"
PUBLIC = "public"
# Bumped around every revocation; a web process drops the keys it remembers when it
# changes (see KeyDirectory).
REVOCATIONS_KEY = "atm:api-keys:revocations"


def requires(scope: str) -> Callable[[F], F]:
    """Mark a view with the scope it needs (or PUBLIC for none)."""

    def mark(view: F) -> F:
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return mark


class KeyDirectory:
    """Finds the key of a secret, remembering live keys between requests.

    A revocation must hold from the next request on, in every web process. Each request
    therefore reads one Redis counter (one round trip, no database work): the revoking
    request bumps it before and after its database commit, and a process that sees it
    change forgets every key it remembered. When Redis cannot be asked, nothing is
    remembered or used from memory, and every request reads its key from the database.
    """

    def __init__(
        self, redis_client: redis.Redis, threads: DatabaseThreads, database: Database
    ) -> None:
        self.redis = redis_client
        self.threads = threads
        self.database = database
        self.known: dict[str, KeyIdentity] = {}
        self.generation: bytes | None = None

    def identify(self, secret: str) -> KeyIdentity | None:
        try:
            generation = self.redis.get(REVOCATIONS_KEY)
        except RedisError as exc:
            log.warning("cannot ask Redis for revocations; reading keys from the database: %s", exc)
            self.known.clear()
            return self._read(secret)
        if generation != self.generation:
            self.known, self.generation = {}, generation
        digest = hash_secret(secret)
        identity = self.known.get(digest)
        if identity is None:
            identity = self._read(secret)
            if identity is not None:
                # A key read just before a revocation's commit is forgotten again: the
                # revocation bumps the counter once more after it commits.
                self.known[digest] = identity  # unknown secrets are never remembered
        return identity

    def _read(self, secret: str) -> KeyIdentity | None:
        def read() -> KeyIdentity | None:
            with self.database.read.begin() as session:
                return identify(session, secret)

        return self.threads.run(read)

    def revocations_changed(self) -> None:
        """Called around a revocation; raises RedisError if the change cannot be announced
        (the revocation is then refused rather than left unseen by other processes)."""
        self.redis.incr(REVOCATIONS_KEY)


def register_auth(app: Flask, directory: KeyDirectory, required: bool) -> None:
    app.extensions["atm-keys"] = directory

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
        identity = directory.identify(secret) if secret else None
        if identity is None:
            raise Unauthorized(
                "a valid API key is required: Authorization: Bearer <secret>"
                if secret is None
                else "this API key is unknown or revoked"
            )
        g.api_key = identity
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


def key_directory() -> KeyDirectory:
    return current_app.extensions["atm-keys"]


operate = requires(OPERATE)
admin = requires(ADMIN)
public = requires(PUBLIC)
