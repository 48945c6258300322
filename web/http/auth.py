"""Who may call: the bearer key of each request, its scope, and the accounts it may use.

With `ATM_AUTH=off` every request passes with no identity (`caller()` is None), as in the
original service. With `ATM_AUTH=required` every endpoint but the public ones needs a live
key (401 `unauthorized` otherwise) whose scopes include the endpoint's (403 `forbidden`
otherwise); GETs need `read` unless marked otherwise, and every other method `admin`
unless marked `operate`, so an endpoint nobody marked is closed, not open. A key limited
to some accounts is also kept, here, to the jobs, holds and batches within its reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import Flask, Response, g, request

from shared.access.api_keys import ADMIN, OPERATE, READ, KeyIdentity
from shared.access.reach import OWNED, Owners, find_owners, unknown
from shared.errors import Forbidden, RateLimited, Unauthorized
from web.http.key_directory import Admission, KeyDirectory

F = TypeVar("F", bound=Callable)
SCOPE_ATTRIBUTE = "_atm_required_scope"
PUBLIC = "public"


def requires(scope: str) -> Callable[[F], F]:
    """Mark a view with the scope it needs (or PUBLIC for none)."""

    def mark(view: F) -> F:
        setattr(view, SCOPE_ATTRIBUTE, scope)
        return view

    return mark


def register_auth(
    app: Flask,
    directory: KeyDirectory,
    required: bool,
    rate_limit: int,
    reading: Callable[..., Owners],
) -> None:
    """Check every request's key, scope, rate and reach (see the module, KeyDirectory and
    keep_within_reach); counted answers carry RateLimit-Limit, RateLimit-Remaining and
    RateLimit-Reset (the Unix time its window ends), and one past the limit is 429
    rate_limited with Retry-After. `reading` runs a read (Services.reading)."""

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
        if identity.accounts is not None:
            keep_within_reach(identity, reading)


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
    require_accounts((account_number,))


def require_accounts(account_numbers: Iterable[str]) -> None:
    """403 unless the caller may act on every one of these accounts (a batch's): the key
    is looked up once, and not at all per account when it is not limited to some."""
    identity = caller()
    if identity is None or identity.accounts is None:
        return
    for account_number in account_numbers:
        if not identity.may_use(account_number):
            raise Forbidden(f"this API key may not use account {account_number}")


def require_unlimited() -> None:
    """403 for a key limited to some accounts: the endpoint shows or changes every account."""
    identity = caller()
    if identity is not None and identity.accounts is not None:
        raise Forbidden("this API key is limited to some accounts; this needs one that is not")


def keep_within_reach(identity: KeyIdentity, reading: Callable[..., Owners]) -> None:
    """A job, hold or batch the path names that is beyond an account-limited key's reach
    is answered exactly as an unknown id (404), before the view runs and so before any
    wait: which ids exist on other accounts is not the key's to learn."""
    for parameter, identifier in (request.view_args or {}).items():
        if parameter in OWNED:
            owners = reading(find_owners, parameter, identifier)  # unknown: its 404
            if not within_reach(identity, owners):
                raise unknown(parameter, identifier)


def within_reach(identity: KeyIdentity, owners: Owners) -> bool:
    """A limited key reaches what belongs to one of its accounts (a transfer: either of
    them) and whatever it submitted itself."""
    return any(identity.may_use(number) for number in owners.accounts) or (
        owners.submitted_by is not None and owners.submitted_by == identity.key_id
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
