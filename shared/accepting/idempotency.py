"""Idempotency keys: kept in the same transaction as the work they accepted, never apart."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.errors import IdempotencyKeyReused
from shared.store.models import IdempotencyKey, utcnow


@dataclass(frozen=True)
class Claim:
    """A request's key and the fingerprint of what it asked for (method, path, body)."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class StoredResponse:
    status: int
    data: dict
    headers: dict[str, str]


def find_claims(
    session: Session, keys: Collection[str], now: datetime | None = None
) -> dict[str, IdempotencyKey]:
    """The unexpired stored keys among `keys`."""
    if not keys:
        return {}
    rows = session.scalars(
        select(IdempotencyKey).where(
            IdempotencyKey.key.in_(sorted(keys)), IdempotencyKey.expires_at > (now or utcnow())
        )
    )
    return {row.key: row for row in rows}


def ensure_same_request(fingerprint: str, claim: Claim) -> None:
    """Raise IdempotencyKeyReused unless `claim` is the request that `fingerprint` recorded."""
    if fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request; use a new key"
        )


def store_claim(
    session: Session,
    claim: Claim,
    ttl_seconds: float,
    *,
    job_id: str | None = None,
    response: StoredResponse | None = None,
) -> None:
    """Keep the key with what it accepted: a job (answered from the job) or a response."""
    now = utcnow()
    session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.key == claim.key, IdempotencyKey.expires_at <= now
        )
    )
    session.add(
        IdempotencyKey(
            key=claim.key,
            fingerprint=claim.fingerprint,
            job_id=job_id,
            response_status=response.status if response else None,
            response_body=json.dumps({"data": response.data, "headers": response.headers})
            if response
            else None,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    session.flush()


def stored_response(stored: IdempotencyKey) -> StoredResponse:
    body = json.loads(stored.response_body or "{}")
    return StoredResponse(stored.response_status or 200, body["data"], body["headers"])


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Delete keys past their retention; returns how many."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at <= (now or utcnow()))
    )
    return result.rowcount or 0
