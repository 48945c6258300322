"""The audit finds what it is for: ledger and balance disagreeing, double moves, stuck jobs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from shared.accepting.operations import Operation, new_id, record_operations
from shared.config.settings import load_settings
from shared.ledger.applying import apply_pending
from shared.ledger.audit import run_audit
from shared.store.db import Database, init_database
from shared.store.models import Account, Job, LedgerEntry, utcnow


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(
        load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}", "ATM_PARTITIONS": "1"})
    )
    init_database(db)
    with db.writing() as session:
        operations = [
            Operation(new_id(), "10001", kind, cents)
            for kind, cents in [("withdraw", 100), ("deposit", 250), ("withdraw", 10**9)]
        ]
        record_operations(session, operations, 1)
    with db.writing() as session:
        apply_pending(session, [0], 100, "test")
    return db


def test_a_consistent_database_is_clean(database: Database) -> None:
    with database.read.begin() as session:
        report = run_audit(session, 60)
    assert report.clean, report.findings
    assert report.accounts == 3 and report.ledger_entries == 5 and report.jobs == 3


def test_a_balance_that_disagrees_with_its_ledger_is_found(database: Database) -> None:
    with database.writing() as session:
        session.execute(update(Account).where(Account.account_number == "10002").values(balance=1))
    with database.read.begin() as session:
        findings = run_audit(session, 60).findings
    assert any(
        "account 10002: balance 0.01 but its ledger adds up to 3000.00" in f for f in findings
    )


def test_money_moved_twice_is_found(database: Database) -> None:
    with database.writing() as session:
        entry = session.query(LedgerEntry).filter(LedgerEntry.type == "deposit").one()
        session.add(
            LedgerEntry(
                account_number=entry.account_number,
                job_id=None,
                type="deposit",
                amount=entry.amount,
                balance_after=entry.balance_after + entry.amount,
                seq=entry.seq + 1,
            )
        )
        session.execute(update(Job).where(Job.job_id == entry.job_id).values(status="failed"))
    with database.read.begin() as session:
        findings = run_audit(session, 60).findings
    assert any("is failed but has ledger entry" in f for f in findings)
    assert any("but its ledger adds up to" in f for f in findings)


def test_a_broken_chain_of_entries_is_found(database: Database) -> None:
    """History reads walk each account's entries through prev_id and seq: an entry linked
    to the wrong one, or an account naming the wrong last entry, is a finding."""
    with database.read.begin() as session:
        assert run_audit(session, 60).clean
    with database.writing() as session:
        entry = session.query(LedgerEntry).filter(LedgerEntry.type == "deposit").one()
        session.execute(update(LedgerEntry).where(LedgerEntry.id == entry.id).values(seq=7))
        session.execute(
            update(Account)
            .where(Account.account_number == entry.account_number)
            .values(entry_count=5)
        )
    with database.read.begin() as session:
        findings = run_audit(session, 60).findings
    assert any(f"transaction {entry.id} is linked to" in f and "as number 7" in f for f in findings)
    assert any(f"account {entry.account_number}: names transaction" in f for f in findings)


def test_an_entry_for_an_account_that_does_not_exist_is_found(database: Database) -> None:
    """The ledger names its account without a foreign key (revision 0013)."""
    with database.writing() as session:
        session.add(
            LedgerEntry(account_number="99999", type="deposit", amount=5, balance_after=5, seq=1)
        )
    with database.read.begin() as session:
        findings = run_audit(session, 60).findings
    assert "account 99999: has ledger entries but does not exist" in findings


def test_a_job_stuck_past_the_threshold_is_found(database: Database) -> None:
    with database.writing() as session:
        record_operations(session, [Operation(new_id(), "10003", "deposit", 1)], 1)
    with database.read.begin() as session:
        assert run_audit(session, 60).clean
        later = utcnow() + timedelta(seconds=120)
        findings = run_audit(session, 60, now=later).findings
    assert any("still queued past the recovery threshold" in f for f in findings)
