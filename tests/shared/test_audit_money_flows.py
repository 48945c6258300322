"""The audit on holds, transfers, reversals and limits: clean when the applier made the
state, and each kind of broken state made by hand is reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from shared.accepting.operations import Operation, new_id, record_operations
from shared.config.settings import load_settings
from shared.ledger.applying import apply_pending
from shared.ledger.audit import run_audit
from shared.store.db import Database, init_database
from shared.store.models import Account, Hold, Job, LedgerEntry, utcnow


@pytest.fixture
def flows(tmp_path: Path) -> tuple[Database, dict[str, str]]:
    """Sample accounts after a transfer, a hold, a limited withdrawal and its reversal."""
    db = Database(
        load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}", "ATM_PARTITIONS": "1"})
    )
    init_database(db)
    ids = {name: new_id() for name in ("transfer", "hold", "withdraw", "reversal", "limit")}
    first = [
        Operation(
            ids["limit"],
            "10001",
            "update_account",
            0,
            details=json.dumps({"daily_withdrawal_limit": 100_000}),
        ),
        Operation(ids["transfer"], "10001", "transfer", 10_000, to_account="10002"),
        Operation(
            ids["hold"],
            "10003",
            "hold",
            5_000,
            target_id=new_id(),
            details=json.dumps({"expires_in": 600}),
        ),
        Operation(ids["withdraw"], "10001", "withdraw", 1_000),
    ]
    apply(db, first)
    apply(db, [Operation(ids["reversal"], "10001", "reversal", 1_000, target_id=ids["withdraw"])])
    return db, ids


def apply(db: Database, operations: list[Operation]) -> None:
    with db.writing() as session:
        record_operations(session, operations, 1)
    with db.writing() as session:
        outcomes = apply_pending(session, [0], 100, "test").outcomes
    assert all(o.status == "succeeded" for o in outcomes), outcomes


def findings_after(db: Database, damage: Callable[[Session], object]) -> list[str]:
    with db.writing() as session:
        damage(session)
    with db.read.begin() as session:
        return run_audit(session, 60).findings


def test_the_applier_leaves_a_clean_audit(flows) -> None:
    db, _ = flows
    with db.read.begin() as session:
        report = run_audit(session, 60)
    assert report.clean, report.findings
    assert report.holds == 1 and report.ledger_entries == 3 + 2 + 1 + 1


def test_a_held_sum_that_disagrees_with_the_active_holds_is_found(flows) -> None:
    db, _ = flows
    findings = findings_after(
        db,
        lambda s: s.execute(
            update(Account).where(Account.account_number == "10003").values(held=0)
        ),
    )
    assert any("held but its active holds add up to 50.00" in f for f in findings), findings


def test_an_active_hold_long_past_its_expiry_is_found(flows) -> None:
    db, _ = flows
    past = utcnow() - timedelta(hours=1)
    findings = findings_after(db, lambda s: s.execute(update(Hold).values(expires_at=past)))
    assert any("still active past its expiry" in f for f in findings), findings


def test_a_transfer_with_one_leg_is_found(flows) -> None:
    db, ids = flows

    def drop_the_in_leg(session: Session) -> None:
        session.execute(
            delete(LedgerEntry).where(
                LedgerEntry.job_id == ids["transfer"], LedgerEntry.type == "transfer_in"
            )
        )
        session.execute(
            update(Account).where(Account.account_number == "10002").values(balance=300_000)
        )

    findings = findings_after(db, drop_the_in_leg)
    assert any(f"job {ids['transfer']} (transfer) moved money 1 times" in f for f in findings)
    assert any("transfers out total 100.00 but transfers in 0.00" in f for f in findings)


def test_transfer_legs_of_unequal_amounts_are_found(flows) -> None:
    db, ids = flows
    findings = findings_after(
        db,
        lambda s: s.execute(
            update(LedgerEntry)
            .where(LedgerEntry.job_id == ids["transfer"], LedgerEntry.type == "transfer_in")
            .values(amount=9_999)
        ),
    )
    assert any("legs of unequal amounts" in f for f in findings), findings


def test_a_reversal_the_reversed_job_does_not_name_is_found(flows) -> None:
    db, ids = flows
    findings = findings_after(
        db,
        lambda s: s.execute(
            update(Job).where(Job.job_id == ids["withdraw"]).values(reversed_by=None)
        ),
    )
    assert any(f"reversal {ids['reversal']} succeeded but job" in f for f in findings), findings


def test_a_reversal_in_the_wrong_direction_is_found(flows) -> None:
    db, ids = flows
    findings = findings_after(
        db,
        lambda s: s.execute(
            update(LedgerEntry)
            .where(LedgerEntry.job_id == ids["reversal"])
            .values(direction="debit")
        ),
    )
    assert any("moved money the wrong way" in f for f in findings), findings


def test_a_limit_count_that_disagrees_with_the_day_is_found(flows) -> None:
    db, _ = flows
    findings = findings_after(
        db,
        lambda s: s.execute(
            update(Account)
            .where(Account.account_number == "10001")
            .values(withdrawn_on_limit_day=0)
        ),
    )
    assert any("counted against its limit" in f and "add up to 110.00" in f for f in findings)


def test_overdrafts_the_applier_allowed_are_clean_and_one_beyond_the_limit_is_found(
    flows,
) -> None:
    """Debits into an overdraft, a hold into it, then the limit lowered below what is
    overdrawn: clean (each debit and hold is checked against the limit of its moment). A
    debit entry deeper than the limit it recorded, or an available balance below any
    limit the account had, is found."""
    db, _ = flows
    hold = new_id()
    apply(
        db,
        [
            Operation(new_id(), "10003", "update_account", 0, details='{"overdraft_limit": 50000}'),
            Operation(new_id(), "10003", "withdraw", 120_000),  # 1,000.00 - 50.00 held - 1,200
            Operation(
                new_id(), "10003", "hold", 20_000, target_id=hold, details='{"expires_in": 600}'
            ),
            Operation(new_id(), "10003", "update_account", 0, details='{"overdraft_limit": 1000}'),
        ],
    )
    with db.read.begin() as session:
        account = session.get(Account, "10003")
        assert (account.balance, account.held, account.overdraft_limit) == (-20_000, 25_000, 1000)
        report = run_audit(session, 60)
    assert report.clean, report.findings

    def deeper_than_recorded(session: Session) -> None:
        session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.account_number == "10003", LedgerEntry.type == "withdraw")
            .values(overdraft_limit=10_000)
        )

    findings = findings_after(db, deeper_than_recorded)
    assert any("below its overdraft limit of 100.00 at the time" in f for f in findings), findings

    def no_limit_recorded(session: Session) -> None:
        session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.account_number == "10003")
            .values(overdraft_limit=None)
        )
        session.execute(update(Hold).where(Hold.hold_id == hold).values(overdraft_limit=None))

    findings = findings_after(db, no_limit_recorded)
    assert any("below its overdraft limit of 0.00 at the time" in f for f in findings), findings
    assert any("available balance -450.00 is below any overdraft limit" in f for f in findings)
