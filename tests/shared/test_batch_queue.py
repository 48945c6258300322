"""Batches written once: the ids, the parts in the acceptance order, and the readers that see
an operation before and after it is applied (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shared.accepting.batch_queue import (
    MAX_OPERATIONS,
    BatchOperation,
    batch_and_index,
    encode_part,
    find_operation,
    new_batch_id,
    operation_job_id,
    part_job_id,
)
from shared.accepting.batches import batch_progress, batch_results, record_batch
from shared.accepting.operations import (
    Operation,
    get_job,
    new_id,
    queued_backlog,
    queued_by_partition,
    recent_failures,
    record_operation,
    record_operations,
)
from shared.accepting.reversals import plan_reversal
from shared.access.reach import find_owners
from shared.errors import AlreadyReversed, JobNotFound
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending, busy_queues
from shared.ledger.audit import run_audit
from shared.ledger.queue_reading import queued_work
from shared.store.db import Database
from shared.store.models import (
    BATCH_PART,
    Account,
    Batch,
    BatchOutcomes,
    Job,
    LedgerEntry,
    Partition,
)
from tests.shared.partition_accounts import one_account_per_partition


def deposits(number: str, count: int, cents: int = 1) -> list[BatchOperation]:
    return [BatchOperation(i, "deposit", number, cents, None, None, None) for i in range(count)]


def test_operation_ids_name_their_batch_and_index_and_nothing_else() -> None:
    batch_id = new_batch_id()
    assert uuid.UUID(batch_id).version == 7 and uuid.UUID(batch_id).int & 0xFFFF == 0
    ids = {operation_job_id(batch_id, index) for index in (0, 1, MAX_OPERATIONS - 1)}
    assert len(ids) == 3
    for index in (0, 1, MAX_OPERATIONS - 1):
        job_id = operation_job_id(batch_id, index)
        assert uuid.UUID(job_id).version == 8
        assert batch_and_index(job_id) == (batch_id, index)
    # A single job's id (UUIDv7), the batch's own, a part's, garbage, and an operation's id
    # not as stored (uppercase: found while queued, it would be unknown once applied).
    others = (new_id(), batch_id, part_job_id(batch_id, 3), "not-a-uuid", "1" * 36)
    for other in (*others, operation_job_id(batch_id, 5).upper()):
        assert batch_and_index(other) is None


def test_one_operation_is_found_in_its_part_whatever_its_strings_hold() -> None:
    """Looking up one operation decodes only it; a reference or metadata that reads like
    the start of an operation does not fool it."""
    tricky = [
        BatchOperation(0, "deposit", "1", 5, None, '[2,"deposit"', '{"k":"[2,\\"x"}'),
        BatchOperation(1, "withdraw", "2", 6, None, None, '["[2,\\"",2]'),
        BatchOperation(2, "transfer", "3", 7, "4", None, None),
        BatchOperation(12, "deposit", "5", 8, None, None, None),
    ]
    details = encode_part(tricky)
    for operation in tricky:
        assert find_operation(details, operation.index) == operation
    assert find_operation(details, 3) is None and find_operation(details, 22) is None


def test_a_batch_is_one_row_per_partition_and_one_per_part_and_apply(database: Database) -> None:
    """No job row per operation at any point: the part holds the operations, and each
    apply transaction one outcome row for the run it took from it."""
    batch_id = new_batch_id()
    with database.writing() as session:
        open_account(session, "60", 1000)
        record_batch(session, batch_id, deposits("60", 250), 1, submitted_by=None)
    with database.read.begin() as session:
        rows = session.execute(select(Job.type, Job.amount, Job.batch_index)).all()
        assert rows == [(BATCH_PART, 250, 0)]
        assert queued_backlog(session, 1) == 250
        assert queued_by_partition(session) == {0: 250}
    with database.writing() as session:
        assert apply_pending(session, [0], 100, "test").count == 100
    with database.read.begin() as session:
        assert queued_backlog(session, 1) == 150
        count = select(func.count()).select_from(Job).where(Job.type != BATCH_PART)
        assert session.scalar(count) == 0
        runs = session.execute(select(BatchOutcomes.part_id, BatchOutcomes.first_index)).all()
        assert [first for _, first in runs] == [0]
        assert session.scalar(select(Job.batch_index).where(Job.type == BATCH_PART)) == 100
    with database.writing() as session:
        assert apply_pending(session, [0], 1000, "test").count == 150
    with database.read.begin() as session:
        # The finished part is kept (it holds the operations), out of the queue.
        parts = session.execute(select(Job.status, Job.batch_index).where(Job.type == BATCH_PART))
        assert parts.all() == [("succeeded", 250)]
        assert queued_backlog(session, 1) == 0 and queued_by_partition(session) == {}
        firsts = session.scalars(select(BatchOutcomes.first_index).order_by("first_index"))
        assert firsts.all() == [0, 100]
        assert (
            session.scalar(select(func.count()).select_from(Job).where(Job.type != BATCH_PART)) == 0
        )
        assert get_job(session, operation_job_id(batch_id, 249)).status == "succeeded"
        assert session.get(Account, "60").balance == 1250
        entries = select(func.count()).where(LedgerEntry.account_number == "60")
        assert session.scalar(entries) == 250 + 1  # and the opening


def test_an_operation_reads_the_same_before_and_after_it_is_applied(database: Database) -> None:
    batch_id = new_batch_id()
    operations = [
        BatchOperation(0, "withdraw", "61", 500, None, "ref-0", '{"k":"v"}'),
        BatchOperation(1, "transfer", "61", 100, "62", None, None),
        BatchOperation(2, "withdraw", "61", 10_000, None, None, None),
    ]
    with database.writing() as session:
        open_account(session, "61", 1000)
        open_account(session, "62", 0)
        record_batch(session, batch_id, operations, 1, request_id="req-1", submitted_by=None)
    job_ids = [operation_job_id(batch_id, index) for index in range(3)]
    shape = ("job_id", "type", "account_number", "amount", "reference", "metadata_json")
    with database.read.begin() as session:
        before = [get_job(session, job_id) for job_id in job_ids]
        assert [job.status for job in before] == ["queued"] * 3
        assert before[1].to_account == "62"
        owners = find_owners(session, "job_id", job_ids[1])
        assert owners.accounts == ("61", "62")
        total, results = batch_results(session, batch_id, 1, 10)
        assert (total, [job.batch_index for job in results]) == (3, [1, 2])
        progress = batch_progress(session, batch_id)
        assert progress.counts["queued"] == 3 and not progress.completed
        # A part's own id is never a job.
        with pytest.raises(JobNotFound):
            get_job(session, part_job_id(batch_id, 0))
    with database.writing() as session:
        apply_pending(session, [0], 1000, "test")
    with database.read.begin() as session:
        after = [get_job(session, job_id) for job_id in job_ids]
        assert [job.status for job in after] == ["succeeded", "succeeded", "failed"]
        for old, new in zip(before, after, strict=True):
            assert [getattr(old, name) for name in shape] == [getattr(new, name) for name in shape]
            assert new.created_at == old.created_at  # accepted, not applied, at
        assert after[0].request_id == "req-1" and after[1].to_balance == 100
        progress = batch_progress(session, batch_id)
        assert (progress.counts["succeeded"], progress.counts["failed"]) == (2, 1)
        assert progress.completed and progress.completed_at is not None
        batch = session.get(Batch, batch_id)
        assert (batch.applied, batch.failed) == (3, 1)


def test_parts_keep_their_place_among_single_jobs(database: Database) -> None:
    """Singles accepted before a batch apply before its operations on the account, and
    singles after it after them, however the chunks cut the part."""
    with database.writing() as session:
        open_account(session, "63", 0)
    expected: list[str] = []

    def single(cents: int) -> None:
        with database.writing() as session:
            operation = Operation(new_id(), "63", "deposit", cents)
            record_operation(session, operation, 1)
            expected.append(operation.job_id)

    single(1)
    single(2)
    batch_id = new_batch_id()
    with database.writing() as session:
        record_batch(session, batch_id, deposits("63", 7, 10), 1)
    expected.extend(operation_job_id(batch_id, index) for index in range(7))
    single(3)
    second = new_batch_id()
    with database.writing() as session:
        record_batch(session, second, deposits("63", 2, 100), 1)
    expected.extend(operation_job_id(second, index) for index in range(2))
    single(4)
    applied: list[str] = []
    for _ in range(20):
        with database.writing() as session:
            applied.extend(apply_pending(session, [0], 3, "test").job_ids())
    assert applied == expected
    with database.read.begin() as session:
        balances = session.scalars(
            select(LedgerEntry.balance_after)
            .where(LedgerEntry.account_number == "63")
            .order_by(LedgerEntry.id)
        ).all()
    assert balances[-1] == 1 + 2 + 70 + 3 + 200 + 4
    assert balances == sorted(balances)


def test_the_audit_checks_a_batch_against_its_counters_and_parts(database: Database) -> None:
    batch_id = new_batch_id()
    with database.writing() as session:
        open_account(session, "64", 100)
        record_batch(session, batch_id, deposits("64", 30) + withdrawals("64", 30, 1000), 1)
    with database.writing() as session:
        apply_pending(session, [0], 40, "test")  # part applied, part waiting

    def findings() -> list[str]:
        with database.read.begin() as session:
            return run_audit(session, 3600).findings

    assert findings() == []
    # Operations lost: the cursor moved on without their outcomes.
    with database.writing() as session:
        session.execute(
            update(Job).where(Job.type == BATCH_PART).values(batch_index=Job.batch_index + 5)
        )
    lost = f"batch {batch_id}: 40 operations applied and 15 waiting in its parts, of 60"
    assert findings() == [lost]
    with database.writing() as session:
        session.execute(
            update(Job).where(Job.type == BATCH_PART).values(batch_index=Job.batch_index - 5)
        )
        session.execute(update(Batch).values(failed=Batch.failed + 1))
    assert findings() == [
        f"batch {batch_id} counts 40 applied (11 failed) but has 40 operation outcomes (10 failed)"
    ]
    with database.writing() as session:
        session.execute(update(Batch).values(failed=Batch.failed - 1))
        # An outcome run lost: its operations' money moved with no job to say why.
        session.execute(delete(BatchOutcomes))
    assert (
        f"batch {batch_id}: 0 operations applied and 20 waiting in its parts, of 60" in findings()
    )
    with database.writing() as session:
        apply_pending(session, [0], 100, "test")
    # A worker of the release before outcome rows would delete the part it finishes:
    # refused, as the part holds what its outcome rows describe.
    refused = pytest.raises(DBAPIError, match="stop the previous release's workers")
    with refused, database.writing() as session:
        session.execute(delete(Job).where(Job.type == BATCH_PART))
    with database.writing() as session:  # a part that lost its operations all the same
        session.execute(update(Job).where(Job.type == BATCH_PART).values(details="[]"))
    assert any("which its part does not hold" in finding for finding in findings())


def withdrawals(number: str, count: int, cents: int) -> list[BatchOperation]:
    """Withdrawals with indexes after `count` deposits (see deposits)."""
    return [
        BatchOperation(count + i, "withdraw", number, cents, None, None, None) for i in range(count)
    ]


def test_a_reversed_batch_operation_gets_a_row_of_its_own(database: Database) -> None:
    """Its part and outcome describe it until a reversal marks it; the reversal's
    transaction then saves it as a row with `reversed_by`, which every reader prefers."""
    batch_id = new_batch_id()
    with database.writing() as session:
        open_account(session, "65", 1000)
        record_batch(session, batch_id, deposits("65", 3, 100), 1, request_id="req-65")
    with database.writing() as session:
        apply_pending(session, [0], 100, "test")
    target = operation_job_id(batch_id, 1)
    with database.read.begin() as session:
        before = get_job(session, target)
        plan = plan_reversal(session, target)
    reversal = Operation(new_id(), plan.account_number, "reversal", plan.amount, target_id=target)
    with database.writing() as session:
        record_operation(session, reversal, 1)
    with database.writing() as session:
        [outcome] = apply_pending(session, [0], 100, "test").outcomes
    assert outcome.status == "succeeded", outcome
    with database.read.begin() as session:
        row = session.scalar(select(Job).where(Job.job_id == target))
        assert row is not None and row.reversed_by == reversal.job_id
        after = get_job(session, target)
        shape = ("status", "new_balance", "transaction_id", "request_id", "created_at")
        assert [getattr(after, n) for n in shape] == [getattr(before, n) for n in shape]
        _, results = batch_results(session, batch_id, 0, 3)
        assert [job.reversed_by for job in results] == [None, reversal.job_id, None]
        assert session.get(Account, "65").balance == 1000 + 300 - 100
        assert run_audit(session, 3600).findings == []
        with pytest.raises(AlreadyReversed):
            plan_reversal(session, target)
    # A second reversal that got past the early check is refused when applied.
    again = Operation(new_id(), plan.account_number, "reversal", plan.amount, target_id=target)
    with database.writing() as session:
        record_operation(session, again, 1)
    with database.writing() as session:
        [outcome] = apply_pending(session, [0], 100, "test").outcomes
    assert (outcome.status, outcome.error_type) == ("failed", "already_reversed")


def test_recent_failures_include_batch_operations(database: Database) -> None:
    """The console's look at recent failures reads the newest outcome rows too."""
    with database.writing() as session:
        open_account(session, "66", 100)
    single = Operation(new_id(), "66", "withdraw", 1_000)
    with database.writing() as session:
        record_operation(session, single, 1)
    batch_id = new_batch_id()
    with database.writing() as session:
        record_batch(session, batch_id, deposits("66", 2) + withdrawals("66", 2, 10_000), 1)
    with database.writing() as session:
        apply_pending(session, [0], 100, "test")
    with database.read.begin() as session:
        failures = recent_failures(session, 10)
        assert [job.job_id for job in failures] == [
            operation_job_id(batch_id, 3),
            operation_job_id(batch_id, 2),
            single.job_id,
        ]
        assert {job.error_type for job in failures} == {"insufficient_funds"}
        assert [job.job_id for job in recent_failures(session, 1)] == [
            operation_job_id(batch_id, 3)
        ]


def test_a_batch_operation_is_decided_as_the_same_operation_alone(database: Database) -> None:
    """The applier takes a batch's operations from their part without a job of their own
    (shared.ledger.rules.decide_run): the same 400 random withdrawals, deposits and
    transfers, as one batch on one set of accounts and as single jobs on a twin set, end
    in the same outcomes, ledger entries and balances, every refusal included."""
    rng = random.Random(18)
    # Twins: "81…" takes the batch, "82…" the single jobs. 8 is missing, 5 frozen, 6
    # closed, 3 has a daily limit, 1 and 2 little money.
    suffixes = [str(n) for n in range(1, 9)]
    with database.writing() as session:
        for twin in ("81", "82"):
            for suffix in suffixes[:-1]:
                opening = {"1": 5_000, "2": 5_000, "6": 0}.get(suffix, 200_000)
                open_account(session, twin + suffix, opening)
            session.execute(
                update(Account).where(Account.account_number == twin + "5").values(status="frozen")
            )
            session.execute(
                update(Account).where(Account.account_number == twin + "6").values(status="closed")
            )
            session.execute(
                update(Account)
                .where(Account.account_number == twin + "3")
                .values(daily_withdrawal_limit=30_000)
            )
    plan = []
    for _ in range(400):
        kind = rng.choice(["withdraw", "deposit", "transfer"])
        source, destination = rng.sample(suffixes, 2)  # a transfer names two accounts
        plan.append(
            (kind, source, rng.randint(1, 4_000), destination if kind == "transfer" else None)
        )
    batch_id = new_batch_id()
    batch = [
        BatchOperation(i, kind, "81" + s, cents, d and "81" + d, f"ref-{i}", f'{{"i":{i}}}')
        for i, (kind, s, cents, d) in enumerate(plan)
    ]
    singles = [
        Operation(
            new_id(),
            "82" + s,
            kind,
            cents,
            reference=f"ref-{i}",
            metadata=f'{{"i":{i}}}',
            to_account=d and "82" + d,
        )
        for i, (kind, s, cents, d) in enumerate(plan)
    ]
    with database.writing() as session:
        record_batch(session, batch_id, batch, 1)
        record_operations(session, singles, 1, refuse_unknown_accounts=False)
    for _ in range(10):  # chunks of 97: runs cut inside the part, and single jobs between
        with database.writing() as session:
            apply_pending(session, [0], 97, "test")

    def outcome(job: Job) -> tuple:
        message = (job.error_message or "").replace("82", "81")
        return (job.status, job.new_balance, job.to_balance, job.error_type, message)

    def entries(session: Session, job_id: str) -> list[tuple]:
        rows = session.execute(
            select(
                LedgerEntry.account_number,
                LedgerEntry.type,
                LedgerEntry.amount,
                LedgerEntry.balance_after,
                LedgerEntry.reference,
                LedgerEntry.metadata_json,
            )
            .where(LedgerEntry.job_id == job_id)
            .order_by(LedgerEntry.id)
        )
        return [(number[2:], *rest) for number, *rest in rows]

    with database.read.begin() as session:
        _, batch_jobs = batch_results(session, batch_id, 0, len(plan))
        failures = 0
        for batch_job, single in zip(batch_jobs, singles, strict=True):
            alone = get_job(session, single.job_id)
            assert outcome(batch_job) == outcome(alone)
            assert entries(session, batch_job.job_id) == entries(session, alone.job_id)
            failures += batch_job.status == "failed"
            if batch_job.status == "succeeded":
                [first] = session.scalars(
                    select(LedgerEntry.id)
                    .where(LedgerEntry.job_id == batch_job.job_id)
                    .order_by(LedgerEntry.id)
                    .limit(1)
                )
                assert batch_job.transaction_id == first
        accounts = {
            row.account_number: (row.balance, row.status, row.withdrawn_on_limit_day)
            for row in session.scalars(select(Account))
        }
        assert all(accounts["81" + s] == accounts["82" + s] for s in suffixes[:-1])
        error_types = {job.error_type for job in batch_jobs}
        assert {"account_not_found", "account_frozen", "account_closed"} <= error_types
        assert {"insufficient_funds", "limit_exceeded"} <= error_types
        assert 0 < failures < len(plan) and session.get(Batch, batch_id).failed == failures
        assert run_audit(session, 3600).findings == []


def test_many_partitions_read_their_first_rows_together_and_keep_order(
    database: Database,
) -> None:
    """Over 48 partitions (more than one statement of first shares covers), each queue's
    first two rows are read with the others' in one statement, not a read per partition,
    and every account still gets its singles and batch operations in acceptance order
    however small the shares cut the parts."""
    count = 48
    numbers = one_account_per_partition(count, first=70_000)
    expected: dict[str, list[str]] = {number: [] for number in numbers}
    with database.writing() as session:
        session.add_all(Partition(id=p) for p in range(1, count))
        for number in numbers:
            open_account(session, number, 0)

    def singles(chosen: list[str]) -> None:
        with database.writing() as session:
            operations = [Operation(new_id(), number, "deposit", 1) for number in chosen]
            assert record_operations(session, operations, count) == set()
        for operation in operations:
            expected[operation.account_number].append(operation.job_id)

    def batch(per_account: int) -> None:
        rng = random.Random(per_account)
        wanted = [n for i, number in enumerate(numbers) for n in [number] * (i % per_account + 1)]
        rng.shuffle(wanted)
        batch_id = new_batch_id()
        operations = [
            BatchOperation(index, "deposit", number, 10, None, None, None)
            for index, number in enumerate(wanted)
        ]
        with database.writing() as session:
            record_batch(session, batch_id, operations, count)
        for operation in operations:
            expected[operation.account_number].append(operation_job_id(batch_id, operation.index))

    singles(numbers[::3])
    batch(5)
    singles(numbers[::2])
    batch(2)
    per_partition_reads: list[str] = []
    applied: dict[str, list[str]] = {number: [] for number in numbers}
    by_job = {job_id: number for number, job_ids in expected.items() for job_id in job_ids}
    for round_number in range(100):
        with database.writing() as session:
            if round_number == 0 and database.engine.dialect.name == "sqlite":
                driver = session.connection().connection.driver_connection
                driver.set_trace_callback(
                    lambda sql: (
                        per_partition_reads.append(sql)
                        if sql.startswith("SELECT") and "jobs.id > " in sql
                        else None
                    )
                )
            done = apply_pending(session, range(count), 2 * count, "test").job_ids()
            if round_number == 0 and database.engine.dialect.name == "sqlite":
                driver.set_trace_callback(None)
        for job_id in done:
            applied[by_job[job_id]].append(job_id)
        if not done:
            break
    assert applied == expected
    assert per_partition_reads == []  # the first rows of all 48 were their shares


def test_a_first_row_applied_since_it_was_found_is_not_taken(database: Database) -> None:
    """A queue's first row applied between the look that found it and the read (by a
    process applying without a fence) is not taken again: the rows are read as queued."""
    count = 40
    numbers = one_account_per_partition(count, first=70_000)
    with database.writing() as session:
        session.add_all(Partition(id=p) for p in range(1, count))
        for number in numbers:
            open_account(session, number, 0)
        operations = [Operation(new_id(), n, "deposit", 1) for n in numbers for _ in range(3)]
        assert record_operations(session, operations, count) == set()
    with database.writing() as session:
        heads = busy_queues(session, range(count))
        assert all(len(first) == 2 for first in heads.values())
        session.execute(update(Job).where(Job.id == heads[0][0]).values(status="succeeded"))
        work = queued_work(session, list(heads), 2 * count, heads).work
    taken = [job.job_id for job in work if job.partition == 0]
    mine = [operation.job_id for operation in operations if operation.account_number == numbers[0]]
    assert taken == mine[1:]
    assert len(work) == 2 * count
