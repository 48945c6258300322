"""The Idempotency-Key header: reading it, and answering once-only creates from what was stored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import Response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.accepting.idempotency import (
    Claim,
    StoredResponse,
    ensure_same_request,
    find_claims,
    store_claim,
    stored_response,
)
from shared.errors import InvalidIdempotencyKey
from web.http.auth import scoped_idempotency_key
from web.http.responses import success
from web.serving.services import Services

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_claim(body: dict[str, object]) -> Claim | None:
    """The request's claim, or None without the header; 400 for a malformed key."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(" " <= char <= "~" for char in key):
        raise InvalidIdempotencyKey(f"{HEADER} must be 1 to 255 printable ASCII characters")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()
    return Claim(scoped_idempotency_key(key), digest)


def replayed(response: StoredResponse) -> Response:
    return success(
        response.data, status=response.status, headers={**response.headers, REPLAYED_HEADER: "true"}
    )


def create_once(
    services: Services, claim: Claim | None, create: Callable[[Session], StoredResponse]
) -> tuple[StoredResponse, bool]:
    """Run `create` in a write transaction, keeping its response under the claim's key.

    A repeat of the key with the same request gets the stored response (second value True)
    and creates nothing. Two first uses racing on PostgreSQL meet at the key's primary key;
    the loser's transaction rolls back and its retry finds the winner's response.
    """

    def attempt_once(session: Session) -> tuple[StoredResponse, bool]:
        if claim is not None:
            stored = find_claims(session, [claim.key]).get(claim.key)
            if stored is not None:
                ensure_same_request(stored.fingerprint, claim)
                return stored_response(stored), True
        response = create(session)
        if claim is not None:
            store_claim(
                session, claim, services.settings.idempotency_ttl_seconds, response=response
            )
        return response, False

    for attempt in (1, 2):
        try:
            return services.writing(attempt_once)
        except IntegrityError:
            if claim is None or attempt == 2:
                raise
    raise AssertionError("unreachable")
