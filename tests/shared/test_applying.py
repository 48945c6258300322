"""The apply rules on SQLite and PostgreSQL, without a broker: order, exactly once, no overdraft."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select, update

from shared.accepting.operations import Operation, new_id, record_operation, record_operations
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending, busy_partitions, has_pending
from shared.partitioning import partition_of
from shared.store.db import Database, init_database
from shared.store.models import Account, Hold, Job, LedgerEntry, Partition, utcnow
from shared.store.prepared import padded


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
        outcomes = apply_pending(session, [0], 1000, "test").outcomes
    assert [(o.status, o.new_balance, o.error_type) for o in outcomes] == [
        ("failed", None, "insufficient_funds"),
        ("succeeded", 700, None),
        ("succeeded", 100, None),
        ("failed", None, "insufficient_funds"),
    ]
    with database.writing() as session:
        assert apply_pending(session, [0], 1000, "test").outcomes == []
        assert session.get(Account, "42").balance == 100


def test_unknown_account_fails_that_job_only(database: Database) -> None:
    with database.writing() as session:
        session.add(Job(job_id="x-1", partition=0, type="deposit", account_number="404", amount=1))
        record_operation(session, Operation(new_id(), "10002", "deposit", 5), 1)
    with database.writing() as session:
        outcomes = apply_pending(session, [0], 1000, "test").outcomes
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
                outcomes = apply_pending(session, [0], 7, threading.current_thread().name).outcomes
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


def test_a_chunk_shares_out_among_partitions_and_fills_up(database: Database) -> None:
    """A partition with a long queue does not hold back another's jobs, and each keeps its
    order; the share a quiet partition leaves goes to the busy one."""
    busy, quiet = "20001", "20004"
    assert {partition_of(busy, 2), partition_of(quiet, 2)} == {0, 1}
    with database.writing() as session:
        open_account(session, busy, 0)
        open_account(session, quiet, 0)
        busy_jobs = [Operation(new_id(), busy, "deposit", 1) for _ in range(50)]
        quiet_jobs = [Operation(new_id(), quiet, "deposit", 1) for _ in range(2)]
        assert record_operations(session, busy_jobs + quiet_jobs, 2) == set()
    with database.writing() as session:
        first = apply_pending(session, [0, 1], 10, "test").outcomes
    assert len(first) == 10
    assert {o.job_id for o in first} >= {op.job_id for op in quiet_jobs}
    assert [o.job_id for o in first if o.account_number == busy] == [
        op.job_id for op in busy_jobs[:8]
    ]
    with database.writing() as session:
        rest = apply_pending(session, [0, 1], 1000, "test").outcomes
    assert [o.job_id for o in rest] == [op.job_id for op in busy_jobs[8:]]
    assert [o.new_balance for o in rest] == list(range(9, 51))


def test_each_success_names_its_own_ledger_entry(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "31", 100)
        operations = [
            Operation(new_id(), "31", op_type, cents)
            for op_type, cents in [("deposit", 5), ("withdraw", 500), ("withdraw", 50)]
        ]
        record_operations(session, operations, 1)
    with database.writing() as session:
        outcomes = apply_pending(session, [0], 1000, "test").outcomes
    with database.read.begin() as session:
        entries = {
            entry.id: entry
            for entry in session.scalars(
                select(LedgerEntry).where(LedgerEntry.account_number == "31")
            )
        }
    succeeded = [o for o in outcomes if o.status == "succeeded"]
    assert [o.transaction_id for o in outcomes if o.status == "failed"] == [None]
    assert succeeded[0].transaction_id < succeeded[1].transaction_id
    for outcome in succeeded:
        entry = entries[outcome.transaction_id]
        assert (entry.job_id, entry.balance_after) == (outcome.job_id, outcome.new_balance)
    assert len(entries) == 3  # the opening entry and the two successes


def test_an_apply_locks_and_reads_only_the_partitions_with_work(database: Database) -> None:
    """An owner of 64 partitions with a job queued in one and a hold due in another locks
    those two rows, and applies both; the partitions with nothing to do are not touched."""
    now = utcnow()
    with database.writing() as session:
        session.add_all(Partition(id=p) for p in range(1, 64))
        open_account(session, "51", 1_000)
        open_account(session, "52", 1_000)
        session.flush()
        session.execute(update(Account).where(Account.account_number == "52").values(held=300))
        session.add(Job(job_id="j-5", partition=5, type="deposit", account_number="51", amount=7))
        session.add(
            Hold(
                hold_id="h-9",
                job_id="held-9",
                account_number="52",
                partition=9,
                amount=300,
                status="active",
                limit_day=now.date(),
                expires_at=now - timedelta(seconds=1),
            )
        )
    with database.read.begin() as session:
        assert busy_partitions(session, range(64)) == [5, 9]
        assert busy_partitions(session, [0, 9, 10]) == [9]  # only those asked about
        assert busy_partitions(session, [6, 7, 8]) == []  # the walk stays in their range
        assert has_pending(session, range(64)) and not has_pending(session, [1, 2, 3])
    with database.writing() as session:
        assert apply_pending(session, range(64), 100, "owner").count == 1
    with database.read.begin() as session:
        locked = session.scalars(select(Partition.id).where(Partition.applied_by == "owner"))
        assert sorted(locked) == [5, 9]
        assert session.get_one(Hold, "h-9").status == "expired"
        assert session.get_one(Account, "52").held == 0
        assert session.get_one(Account, "51").balance == 1_007
        assert busy_partitions(session, range(64)) == []


def test_in_lists_are_padded_to_a_power_of_two() -> None:
    assert padded([]) == []
    assert padded([4]) == [4]
    assert padded([1, 2, 3]) == [1, 2, 3, 3]
    assert padded(list(range(9))) == [*range(9), *[8] * 7]
    assert padded([5, 6, 7], -1) == [5, 6, 7, -1]
