"""Idempotency keys expire after their retention and can then be used afresh."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.accepting.idempotency import (
    Claim,
    ensure_same_request,
    find_claims,
    purge_expired,
    store_claim,
)
from shared.config.settings import load_settings
from shared.errors import IdempotencyKeyReused
from shared.store.db import Database, init_database
from shared.store.models import utcnow


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"}))
    init_database(db)
    return db


def test_keys_are_found_until_they_expire(database: Database) -> None:
    claim = Claim("k-1", "a" * 64)
    with database.writing() as session:
        store_claim(session, claim, 60, job_id="job-1")
    with database.read.begin() as session:
        assert find_claims(session, ["k-1"])["k-1"].job_id == "job-1"
        assert find_claims(session, ["k-1"], now=utcnow() + timedelta(seconds=61)) == {}


def test_an_expired_key_can_be_stored_again_and_is_purged(database: Database) -> None:
    with database.writing() as session:
        store_claim(session, Claim("k-2", "a" * 64), 0.001, job_id="job-1")
    with database.writing() as session:
        store_claim(session, Claim("k-2", "b" * 64), 60, job_id="job-2")
    with database.read.begin() as session:
        assert find_claims(session, ["k-2"])["k-2"].job_id == "job-2"
    with database.writing() as session:
        assert purge_expired(session, now=utcnow() + timedelta(seconds=61)) == 1


def test_a_different_request_under_the_same_key_is_refused() -> None:
    ensure_same_request("a" * 64, Claim("k", "a" * 64))
    with pytest.raises(IdempotencyKeyReused):
        ensure_same_request("a" * 64, Claim("k", "b" * 64))
