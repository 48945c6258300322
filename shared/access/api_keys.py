"""API keys: random secrets stored as SHA-256, scopes, optional account lists, revocation.

A secret is 32 random bytes (256 bits), so a fast hash is the right storage: no list of
likely secrets exists to try against it, unlike passwords. The lookup is by that hash
(one indexed read); comparing the stored hash with the computed one in constant time
keeps even that step from leaking how much of a guess matched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.accepting.operations import new_id
from shared.errors import ApiKeyNotFound, InvalidParameter
from shared.ledger.accounts import validate_account_number
from shared.store.models import ApiKey, utcnow
from shared.timestamps import iso

READ, OPERATE, ADMIN = "read", "operate", "admin"
SCOPES = (READ, OPERATE, ADMIN)
# What each scope allows beyond the one before it: admin ⊇ operate ⊇ read.
IMPLIED = {READ: {READ}, OPERATE: {READ, OPERATE}, ADMIN: {READ, OPERATE, ADMIN}}
SECRET_PREFIX = "atm_"
PREFIX_LENGTH = 12  # "atm_" and 8 characters of the secret: enough to tell keys apart
MAX_ACCOUNTS = 1000


@dataclass(frozen=True)
class KeyIdentity:
    """Who is calling: what a request's key allows."""

    key_id: str
    name: str
    scopes: frozenset[str]  # with what they imply
    accounts: frozenset[str] | None  # None: every account

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def may_use(self, account_number: str) -> bool:
        return self.accounts is None or account_number in self.accounts


@dataclass(frozen=True)
class CreatedKey:
    record: ApiKey
    secret: str  # shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(value: object) -> list[str]:
    if not isinstance(value, list) or not value or any(scope not in SCOPES for scope in value):
        raise InvalidParameter(f"scopes must be a non-empty list of {', '.join(SCOPES)}")
    return sorted(set(value), key=SCOPES.index)


def parse_accounts(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ACCOUNTS:
        raise InvalidParameter(f"accounts must be a list of 1 to {MAX_ACCOUNTS} account numbers")
    return sorted({validate_account_number(number) for number in value})


def parse_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
        raise InvalidParameter("name must be 1 to 128 printable characters")
    return value


def create_key(
    session: Session,
    name: str,
    scopes: Sequence[str],
    accounts: Sequence[str] | None = None,
    secret: str | None = None,
) -> CreatedKey:
    """A new key with a new random secret (or the given one, for the bootstrap key)."""
    secret = secret or new_secret()
    record = ApiKey(
        key_id=new_id(),
        name=name,
        secret_hash=hash_secret(secret),
        prefix=secret[:PREFIX_LENGTH],
        scopes=" ".join(scopes),
        accounts=None if accounts is None else json.dumps(list(accounts)),
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return CreatedKey(record, secret)


def ensure_key(session: Session, name: str, secret: str, scopes: Sequence[str]) -> bool:
    """Make sure a live key with this secret exists; True if one was created."""
    existing = session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if existing is not None:
        if existing.revoked_at is not None:
            raise ValueError(f"the bootstrap admin key ({existing.prefix}…) has been revoked")
        return False
    create_key(session, name, scopes, secret=secret)
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.key_id)))


def revoke_key(session: Session, key_id: str, now: datetime | None = None) -> ApiKey:
    key = session.get(ApiKey, key_id) if len(key_id) <= 36 else None
    if key is None:
        raise ApiKeyNotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        session.execute(
            update(ApiKey).where(ApiKey.key_id == key_id).values(revoked_at=now or utcnow())
        )
    return key


def identify(session: Session, secret: str) -> KeyIdentity | None:
    """The live key whose secret this is, or None."""
    digest = hash_secret(secret)
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == digest))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, digest):
        return None  # pragma: no cover - the index found it by this very value
    return KeyIdentity(key.key_id, key.name, implied(key.scopes.split()), _accounts(key))


def implied(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(granted for scope in scopes for granted in IMPLIED.get(scope, ()))


def _accounts(key: ApiKey) -> frozenset[str] | None:
    return None if key.accounts is None else frozenset(json.loads(key.accounts))


def key_view(key: ApiKey) -> dict[str, object]:
    """A key as listed: never its secret or hash."""
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": key.scopes.split(),
        "accounts": None if key.accounts is None else json.loads(key.accounts),
        "prefix": key.prefix,
        "created_at": iso(key.created_at),
        "revoked": key.revoked_at is not None,
        "revoked_at": iso(key.revoked_at),
    }
