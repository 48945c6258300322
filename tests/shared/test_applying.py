"""The apply rules on a real SQLite file, without a broker: order, exactly once, no overdraft."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.accounts import open_account
from shared.applying import apply_pending
from shared.db import Database, init_database
from shared.models import Account, Job, LedgerEntry
from shared.operations import Operation, new_id, record_operation, record_operations
from shared.settings import load_settings
from tests.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same rules on a SQLite file and, where one answers, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'atm.db'}"
        yield _database(url)
        return
    with fresh_postgres_database("atm_test") as url:
        db = _database(url)
        try:
            yield db
        finally:
            db.engine.dispose()


def _database(url: str) -> Database:
    db = Database(load_settings({"DATABASE_URL": url, "ATM_PARTITIONS": "1"}))
    init_database(db)
    return db


def test_sample_accounts_are_created_once(database: Database) -> None:
    init_database(database)
    with database.read.begin() as session:
        assert session.scalar(select(func.count()).select_from(Account)) == 3
        assert session.get(Account, "10001").balance == 500_000


def test_jobs_apply_in_order_each_on_its_own(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "42", 500)
        for op_type, cents in [
            ("withdraw", 600),
            ("deposit", 200),
            ("withdraw", 600),
            ("withdraw", 200),
        ]:
            record_operation(session, Operation(new_id(), "42", op_type, cents), 1)
    with database.writing() as session:
        outcomes = apply_pending(session, [0], 1000, "test")
    assert [(o.status, o.new_balance, o.error_type) for o in outcomes] == [
        ("failed", None, "insufficient_funds"),
        ("succeeded", 700, None),
        ("succeeded", 100, None),
        ("failed", None, "insufficient_funds"),
    ]
    with database.writing() as session:
        assert apply_pending(session, [0], 1000, "test") == []
        assert session.get(Account, "42").balance == 100


def test_unknown_account_fails_that_job_only(database: Database) -> None:
    with database.writing() as session:
        session.add(Job(job_id="x-1", partition=0, type="deposit", account_number="404", amount=1))
        record_operation(session, Operation(new_id(), "10002", "deposit", 5), 1)
    with database.writing() as session:
        outcomes = apply_pending(session, [0], 1000, "test")
    assert [o.error_type for o in outcomes] == ["account_not_found", None]


def test_concurrent_appliers_apply_each_job_once(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "7", 0)
        operations = [Operation(new_id(), "7", "deposit", 1) for _ in range(400)]
        assert record_operations(session, operations, 1) == set()
    applied: list[str] = []
    lock = threading.Lock()

    def applier() -> None:
        while True:
            with database.writing() as session:
                outcomes = apply_pending(session, [0], 7, threading.current_thread().name)
            with lock:
                applied.extend(o.job_id for o in outcomes)
            if not outcomes:
                return

    threads = [threading.Thread(target=applier) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(applied) == len(set(applied)) == 400
    with database.read.begin() as session:
        assert session.get(Account, "7").balance == 400
        entries = session.scalars(
            select(LedgerEntry.balance_after)
            .where(LedgerEntry.account_number == "7")
            .order_by(LedgerEntry.id)
        ).all()
    assert entries == list(range(1, 401))


def test_recording_refuses_unknown_accounts_only(database: Database) -> None:
    known = Operation(new_id(), "10003", "deposit", 1)
    unknown = Operation(new_id(), "555", "deposit", 1)
    with database.writing() as session:
        assert record_operations(session, [known, unknown], 1) == {unknown.job_id}
    with database.read.begin() as session:
        assert session.scalars(select(Job.job_id)).all() == [known.job_id]
