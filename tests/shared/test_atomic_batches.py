"""Atomic batches on SQLite and PostgreSQL: all of a batch applied in one transaction or
none, in array order, after everything accepted earlier on each of its accounts and before
everything accepted later, whichever partitions they belong to."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from shared.accepting.batch_queue import BatchOperation, new_batch_id, operation_job_id
from shared.accepting.batches import batch_progress, batch_results, record_batch
from shared.accepting.operations import Operation, new_id, record_operation
from shared.events.feed import sequence
from shared.events.feed_pages import EventFilter, read_feed
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.ledger.atomic import apply_atomic
from shared.ledger.audit import run_audit
from shared.partitioning import partition_of
from shared.store.db import Database
from shared.store.models import Account, Hold, Job, LedgerEntry
from tests.shared.partition_accounts import one_account_per_partition

PARTITIONS = 4


A, B, C, D = one_account_per_partition(PARTITIONS)


def _open(database: Database, balances: dict[str, int]) -> None:
    with database.writing() as session:
        for number, cents in balances.items():
            open_account(session, number, cents)


def _batch(database: Database, *operations: tuple) -> str:
    """Record an atomic batch of (type, account, amount[, to_account])."""
    batch_id = new_batch_id()
    rows = [
        BatchOperation(i, kind, number, amount, rest[0] if rest else None, None, None)
        for i, (kind, number, amount, *rest) in enumerate(operations)
    ]
    with database.writing() as session:
        record_batch(session, batch_id, rows, PARTITIONS, atomic=True)
    return batch_id


def _single(database: Database, number: str, kind: str, cents: int) -> str:
    job_id = new_id()
    with database.writing() as session:
        record_operation(session, Operation(job_id, number, kind, cents), PARTITIONS)
    return job_id


def _drain(database: Database, partition: int) -> tuple[int, list[str]]:
    """One apply of a partition's queue, then a try of each atomic batch it waits for:
    how many operations that applied, and the batches it waits for."""
    with database.writing() as session:
        applied = apply_pending(session, [partition], 100, "test")
    count = applied.count
    for batch_id in applied.barriers:
        with database.writing() as session:
            tried = apply_atomic(session, batch_id, "test")
        count += 0 if tried is None else tried.count
    return count, applied.barriers


def _balances(database: Database) -> dict[str, int]:
    """The balances of this test's accounts (the database has sample accounts too)."""
    with database.read.begin() as session:
        rows = session.execute(select(Account.account_number, Account.balance)).all()
    return {number: balance for number, balance in rows if len(number) == 3}


def _results(database: Database, batch_id: str) -> list[tuple]:
    with database.read.begin() as session:
        _, jobs = batch_results(session, batch_id, 0, 100)
        return [(job.status, job.error_type, job.new_balance) for job in jobs]


def _clean_audit(database: Database) -> None:
    with database.read.begin() as session:
        report = run_audit(session, stale_after_seconds=3600)
    assert report.findings == []


def test_operations_apply_in_array_order_across_partitions(database: Database) -> None:
    """Each operation sees what the ones before it left, whichever partition it is in:
    B can pay out only what A's transfer brought it."""
    _open(database, {A: 10_000, B: 0, C: 0})
    batch_id = _batch(
        database,
        ("transfer", A, 6_000, B),
        ("withdraw", B, 5_000),
        ("deposit", C, 100),
        ("transfer", B, 1_000, C),
    )
    assert _drain(database, partition_of(A, PARTITIONS))[0] == 4  # every part is a head
    assert _balances(database) == {A: 4_000, B: 0, C: 1_100}
    assert _results(database, batch_id) == [
        ("succeeded", None, 4_000),
        ("succeeded", None, 1_000),
        ("succeeded", None, 100),
        ("succeeded", None, 0),
    ]
    with database.read.begin() as session:
        progress = batch_progress(session, batch_id)
        assert progress.completed and progress.atomic
        assert progress.counts["succeeded"] == 4
    _clean_audit(database)


def test_one_failure_applies_nothing_and_names_the_first(database: Database) -> None:
    _open(database, {A: 10_000, B: 500, C: 0})
    batch_id = _batch(
        database,
        ("deposit", C, 700),
        ("transfer", A, 3_000, C),
        ("withdraw", B, 600),  # fails: 5.00 available
        ("withdraw", "999", 1),  # would fail too, but after the first failure
        ("deposit", A, 1),
    )
    _drain(database, partition_of(B, PARTITIONS))
    assert _balances(database) == {A: 10_000, B: 500, C: 0}
    results = _results(database, batch_id)
    assert [r[1] for r in results] == [
        "batch_aborted",
        "batch_aborted",
        "insufficient_funds",
        "batch_aborted",
        "batch_aborted",
    ]
    assert {r[0] for r in results} == {"failed"}
    with database.read.begin() as session:
        entries = select(func.count()).where(LedgerEntry.account_number.in_([A, B, C]))
        assert session.scalar(entries) == 2  # the openings of A and B, nothing since
        progress = batch_progress(session, batch_id)
        assert progress.completed and progress.counts["failed"] == 5
    with database.writing() as session:
        sequence(session)
        events, _ = read_feed(session, None, 100, EventFilter())
    kinds = [(e["type"], e["data"].get("error", {}).get("type")) for e in events]
    assert kinds.count(("job.failed", "batch_aborted")) == 4
    assert kinds.count(("job.failed", "insufficient_funds")) == 1
    assert ("batch.completed", None) in kinds
    _clean_audit(database)


def test_an_unknown_account_fails_its_operation_and_aborts_the_rest(database: Database) -> None:
    _open(database, {A: 1_000})
    batch_id = _batch(database, ("withdraw", A, 100), ("deposit", "998", 100))
    _drain(database, partition_of(A, PARTITIONS))
    _drain(database, partition_of("998", PARTITIONS))
    assert [r[1] for r in _results(database, batch_id)] == ["batch_aborted", "account_not_found"]
    assert _balances(database) == {A: 1_000}


def test_the_batch_waits_for_earlier_work_on_every_account_and_holds_later_work(
    database: Database,
) -> None:
    """A deposit to the destination accepted before the batch is applied before its
    transfer (the destination's partition has a part of its own); a withdrawal accepted
    after the batch on the source waits for it."""
    _open(database, {A: 1_000, D: 0})
    earlier = _single(database, D, "deposit", 2_000)
    batch_id = _batch(database, ("transfer", A, 1_000, D), ("withdraw", D, 2_500))
    later = _single(database, A, "withdraw", 1)  # would succeed before the batch only
    count, barriers = _drain(database, partition_of(A, PARTITIONS))
    assert (count, barriers) == (0, [batch_id])  # D's queue has not reached the batch
    assert _balances(database) == {A: 1_000, D: 0}
    count, barriers = _drain(database, partition_of(D, PARTITIONS))
    assert (count, barriers) == (1 + 2, [batch_id])  # the deposit, then the whole batch
    assert _balances(database) == {A: 0, D: 500}
    assert _drain(database, partition_of(A, PARTITIONS)) == (1, [])
    with database.read.begin() as session:
        statuses = {
            job.job_id: (job.status, job.error_type)
            for job in session.scalars(select(Job).where(Job.job_id.in_([earlier, later])))
        }
    assert statuses == {earlier: ("succeeded", None), later: ("failed", "insufficient_funds")}
    assert [r[0] for r in _results(database, batch_id)] == ["succeeded", "succeeded"]
    _clean_audit(database)


def test_a_queue_takes_nothing_past_an_atomic_part(database: Database) -> None:
    _open(database, {A: 0, B: 0})
    _single(database, B, "deposit", 1)
    _batch(database, ("deposit", A, 5), ("deposit", B, 5))
    _single(database, A, "deposit", 7)
    partition = partition_of(A, PARTITIONS)
    for _ in range(3):
        assert _drain(database, partition)[0] == 0
    assert _balances(database) == {A: 0, B: 0}


def test_two_tries_at_once_apply_the_batch_once(database: Database) -> None:
    _open(database, {A: 0, B: 0})
    batch_id = _batch(database, ("deposit", A, 5), ("deposit", B, 7))
    results: list[int] = []
    start = threading.Barrier(4)

    def attempt() -> None:
        start.wait()
        with database.writing() as session:
            applied = apply_atomic(session, batch_id, "test")
        results.append(0 if applied is None else applied.count)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 0, 0, 2]
    assert _balances(database) == {A: 5, B: 7}
    assert _results(database, batch_id)[1] == ("succeeded", None, 7)
    _clean_audit(database)


def test_an_operation_of_an_applied_atomic_batch_is_found_by_its_job_id(
    database: Database,
) -> None:
    _open(database, {A: 50})
    batch_id = _batch(database, ("withdraw", A, 20))
    _drain(database, partition_of(A, PARTITIONS))
    with database.read.begin() as session:
        _, jobs = batch_results(session, batch_id, 0, 1)
    assert jobs[0].job_id == operation_job_id(batch_id, 0)
    assert (jobs[0].status, jobs[0].new_balance) == ("succeeded", 30)


def test_the_audit_finds_an_atomic_batch_applied_in_part(database: Database) -> None:
    """One part applied as a plain one (its mark removed) while the other still waits."""
    _open(database, {A: 0, B: 0})
    batch_id = _batch(database, ("deposit", A, 5), ("deposit", B, 7))
    with database.writing() as session:
        part = session.scalars(
            select(Job).where(Job.batch_id == batch_id, Job.partition == partition_of(A, 4))
        ).one()
        part.target_id = None
    assert _drain(database, partition_of(A, PARTITIONS)) == (1, [])
    with database.read.begin() as session:
        findings = run_audit(session, stale_after_seconds=3600).findings
    assert findings == [
        f"atomic batch {batch_id} is partly applied: 1 of 2 operations applied, 0 of them failed"
    ]


def _place_hold(database: Database, number: str, cents: int, seconds: int) -> None:
    with database.writing() as session:
        record_operation(
            session,
            Operation(new_id(), number, "hold", cents, details=f'{{"expires_in": {seconds}}}'),
            PARTITIONS,
        )
    _drain(database, partition_of(number, PARTITIONS))


def test_a_due_hold_is_expired_before_the_batch_and_stays_expired_if_it_fails(
    database: Database,
) -> None:
    """A hold past its expiry holds no money for the batch, as for any operation; a batch
    that fails for another reason leaves it expired and its money available."""
    _open(database, {A: 0, B: 5_000, C: 0})
    _place_hold(database, B, 5_000, 1)
    time.sleep(1.2)  # due now, not yet swept
    failing = _batch(database, ("withdraw", B, 5_000), ("withdraw", C, 1))
    _drain(database, partition_of(C, PARTITIONS))  # C's queue reaches it last
    assert [r[1] for r in _results(database, failing)] == ["batch_aborted", "insufficient_funds"]
    with database.read.begin() as session:
        assert session.scalars(select(Hold.status)).all() == ["expired"]
        assert session.get_one(Account, B).held == 0
    _clean_audit(database)
    applied = _batch(database, ("withdraw", B, 5_000), ("deposit", C, 1))
    _drain(database, partition_of(C, PARTITIONS))
    assert [r[0] for r in _results(database, applied)] == ["succeeded", "succeeded"]
    _clean_audit(database)
