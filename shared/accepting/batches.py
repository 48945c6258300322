"""Batches: their validated operations, recording all of them at once, progress and results."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session
from typing_extensions import Unpack

from shared.accepting.batch_operations import operation_jobs
from shared.accepting.batch_queue import (
    BatchOperation,
    encode_part,
    operation_job_id,
    part_job_id,
)
from shared.accepting.references import parse_metadata, parse_reference
from shared.errors import BatchNotFound, DomainError, InvalidBatch, InvalidParameter
from shared.ledger.accounts import validate_account_number
from shared.ledger.money import parse_amount
from shared.partitioning import partition_of
from shared.shapes.checking import Limits, StaticLimits
from shared.shapes.requests import BatchBody, BatchItem
from shared.shapes.validating import validated
from shared.store.bulk import BulkStatement
from shared.store.models import (
    BATCH_PART,
    BATCH_TYPES,
    FAILED,
    IN_BATCH_INDEX,
    PROCESSING,
    QUEUED,
    SUCCEEDED,
    TRANSFER,
    Batch,
    Job,
    utcnow,
)
from shared.store.paging import first_page


def batch_operations(items: Sequence[BatchItem]) -> list[BatchOperation]:
    """A validated batch body's operations, each with its index in the batch."""
    return [
        BatchOperation(
            index,
            item.type,
            item.account_number,
            item.amount,
            item.to_account,
            item.reference,
            item.metadata,
        )
        for index, item in enumerate(items)
    ]


def checked_batch(
    body: object, limits: Limits, max_atomic: int
) -> tuple[list[BatchOperation], bool]:
    """A batch body's operations, validated, and whether it is atomic: each item by the
    same checks as BatchItem's fields, called directly; at the first item they refuse (or
    anything unusual about the body), the whole body goes through BatchBody, which reports
    the error in the envelope's terms. An atomic batch holds at most `max_atomic`.

    Pydantic's machinery around each of 10,000 items (the model, a call per field through
    its validators) cost several times the checks themselves.
    """
    atomic = body.get("atomic", False) if type(body) is dict else None
    operations = _directly_checked(body, limits) if type(atomic) is bool else None
    if operations is None:
        checked = validated(BatchBody, body, limits)
        operations, atomic = batch_operations(checked.operations), checked.atomic
    if atomic and len(operations) > max_atomic:
        raise InvalidBatch(f"an atomic batch holds 1 to {max_atomic} operations")
    return operations, bool(atomic)


def _directly_checked(body: object, limits: Limits) -> list[BatchOperation] | None:
    items = body.get("operations") if type(body) is dict else None
    if type(items) is not list or not 1 <= len(items) <= limits.max_batch:
        return None
    max_cents = limits.max_amount_cents
    operations = []
    try:
        for index, item in enumerate(items):
            if type(item) is not dict:
                return None
            kind, number = item.get("type"), validate_account_number(item.get("account_number"))
            if type(kind) is not str or kind not in BATCH_TYPES:
                return None
            to_account = None
            if kind == TRANSFER:
                to_account = validate_account_number(item.get("to_account"))
                if to_account == number:
                    return None
            operations.append(
                BatchOperation(
                    index,
                    kind,
                    number,
                    parse_amount(item.get("amount"), max_cents=max_cents),
                    to_account,
                    parse_reference(item.get("reference")),
                    parse_metadata(item.get("metadata")),
                )
            )
    except DomainError:
        return None
    return operations


def parse_operation(item: object, *, max_cents: int) -> BatchItem:
    """One operation of a batch file (an operation of a batch body, on its own), or the
    DomainError of its first bad field."""
    return validated(BatchItem, item, StaticLimits(max_cents))


@dataclass(frozen=True)
class BatchRows:
    """A batch's rows, worked out before its write transaction (prepare_batch)."""

    batch: dict[str, object]  # the batches row, but for its acceptance time
    parts: list[tuple]  # one queued part per partition, in _INSERT_PARTS' column order
    partitions: set[int]  # the partitions to wake
    atomic: bool


def prepare_batch(
    batch_id: str,
    operations: Sequence[BatchOperation],
    partitions: int,
    *,
    atomic: bool = False,
    request_id: str | None = None,
    submitted_by: str | None = None,
) -> BatchRows:
    """The rows that record a batch: its own, and one queued part per partition its
    operations touch (shared.accepting.batch_queue).

    Kept out of the write transaction: grouping 10,000 operations by partition and encoding
    their parts takes about 7 ms, which on SQLite would hold the database's one write lock
    while a worker waits to apply. Operations on unknown accounts are recorded too: they
    fail with account_not_found when applied, each on its own (in an atomic batch, failing
    the batch).

    An atomic batch's parts name it in `target_id`, and it has a part, perhaps of no
    operations, in every partition of an account it touches, a transfer's destination
    included: each part holds its partition's queue until the whole batch is applied at
    once (shared.ledger.atomic).
    """
    by_partition: dict[int, list[BatchOperation]] = defaultdict(list)
    for operation in operations:
        by_partition[partition_of(operation.account_number, partitions)].append(operation)
    first_accounts = {partition: part[0].account_number for partition, part in by_partition.items()}
    if atomic:
        for operation in operations:
            if operation.to_account is not None:
                partition = partition_of(operation.to_account, partitions)
                by_partition.setdefault(partition, [])
                first_accounts.setdefault(partition, operation.to_account)
    batch: dict[str, object] = {
        "batch_id": batch_id,
        "total": len(operations),
        "submitted_by": submitted_by,
    }
    if atomic:  # else the column's default: a plain batch's row is as it was before 0012
        batch["atomic"] = True
    parts = [
        (
            part_job_id(batch_id, partition),
            partition,
            BATCH_PART,
            first_accounts[partition],
            len(part),
            batch_id,
            0,
            encode_part(part),
            request_id,
            submitted_by,
            batch_id if atomic else None,
        )
        for partition, part in sorted(by_partition.items())
    ]
    return BatchRows(batch, parts, set(by_partition), atomic)


def write_batch(session: Session, rows: BatchRows) -> set[int]:
    """Record a prepared batch in the caller's transaction, accepted now; returns the
    partitions to wake.

    On PostgreSQL atomic batches are recorded one at a time (a transaction-scoped advisory
    lock), so that of two of them, one has all its parts before all of the other's in every
    partition's queue: a partition never waits for a batch queued behind one that waits
    for it.
    """
    if rows.atomic and session.get_bind().dialect.name == "postgresql":
        session.execute(_ONE_ATOMIC_INTAKE_AT_A_TIME)
    now = utcnow()
    session.execute(insert(Batch.__table__).values(**rows.batch, created_at=now))
    _INSERT_PARTS.executemany(session, rows.parts, {"status": QUEUED, "created_at": now})
    return rows.partitions


class BatchOptions(TypedDict, total=False):
    """prepare_batch's keyword arguments."""

    atomic: bool
    request_id: str | None
    submitted_by: str | None


def record_batch(
    session: Session,
    batch_id: str,
    operations: Sequence[BatchOperation],
    partitions: int,
    **options: Unpack[BatchOptions],
) -> set[int]:
    """prepare_batch and write_batch at once, in the caller's transaction (for tools and
    tests; the web prepares first, outside the transaction)."""
    return write_batch(session, prepare_batch(batch_id, operations, partitions, **options))


@dataclass(frozen=True)
class BatchProgress:
    batch_id: str
    total: int
    counts: dict[str, int]
    created_at: datetime
    completed_at: datetime | None
    atomic: bool = False

    @property
    def completed(self) -> bool:
        return self.counts.get(QUEUED, 0) + self.counts.get(PROCESSING, 0) == 0


def batch_progress(session: Session, batch_id: str) -> BatchProgress:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(f"batch {batch_id} not found")
    return progress_of(session, batch)


# Whose batches a list shows: every batch, or those one API key submitted.
EVERYONE = None


def list_batches(
    session: Session, limit: int, before: str | None, submitted_by: str | None = EVERYONE
) -> tuple[list[BatchProgress], str | None]:
    """A page of batches, newest first (ids are time-ordered), only those `submitted_by`
    sent when it is given, and the cursor for the next page (None: nothing follows).
    A `before` that names no batch the caller could list is refused: a cursor is only
    ever one this list gave."""
    query = select(Batch)
    if submitted_by is not EVERYONE:
        query = query.where(Batch.submitted_by == submitted_by)
    if before is not None:
        cursor = session.get(Batch, before)
        if cursor is None or (submitted_by is not EVERYONE and cursor.submitted_by != submitted_by):
            raise InvalidParameter(f"before: no batch {before} to page from")
        query = query.where(Batch.batch_id < before)
    page, last = first_page(session, query.order_by(Batch.batch_id.desc()), limit)
    following = None if last is None else last.batch_id
    return [progress_of(session, batch) for batch in page], following


def progress_of(session: Session, batch: Batch) -> BatchProgress:
    """The batch's counts: from its counters, or, for a batch of before they were kept,
    from its jobs."""
    if batch.failed is None:
        return _counted_progress(session, batch)
    applied, failed = batch.applied or 0, batch.failed
    counts = {
        QUEUED: batch.total - applied,
        PROCESSING: 0,
        SUCCEEDED: applied - failed,
        FAILED: failed,
    }
    return BatchProgress(
        batch.batch_id, batch.total, counts, batch.created_at, batch.completed_at, batch.atomic
    )


def _counted_progress(session: Session, batch: Batch) -> BatchProgress:
    """The progress of a batch accepted before batches kept counters, from its jobs."""
    rows = session.execute(
        select(Job.status, func.count(), func.max(Job.completed_at))
        .where(Job.batch_id == batch.batch_id, IN_BATCH_INDEX, Job.type != BATCH_PART)
        .group_by(Job.status)
    ).all()
    counts = {status: 0 for status in (QUEUED, PROCESSING, SUCCEEDED, FAILED)}
    last_completed: datetime | None = None
    for status, count, completed_at in rows:
        counts[status] = count
        if completed_at is not None and (last_completed is None or completed_at > last_completed):
            last_completed = completed_at
    progress = BatchProgress(batch.batch_id, batch.total, counts, batch.created_at, None)
    if progress.completed:
        progress = BatchProgress(
            batch.batch_id, batch.total, counts, batch.created_at, last_completed
        )
    return progress


def batch_results(
    session: Session, batch_id: str, offset: int, limit: int
) -> tuple[int, list[Job]]:
    """The batch's total and its jobs with index in [offset, offset + limit), in order:
    those with rows as stored, the others built from the batch's parts and their outcomes
    (shared.accepting.batch_operations)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(f"batch {batch_id} not found")
    if offset >= batch.total:
        return batch.total, []  # past the end: an empty page (and no 64-bit overflow below)
    wanted = range(offset, min(offset + limit, batch.total))
    found = _applied_jobs(session, batch, wanted.start, wanted.stop)
    missing = [index for index in wanted if index not in found]
    if missing:
        found.update(operation_jobs(session, batch_id, missing))
    return batch.total, [found[index] for index in wanted if index in found]


def _applied_jobs(session: Session, batch: Batch, start: int, stop: int) -> dict[int, Job]:
    """The job rows of the batch's operations in [start, stop).

    An operation's job id is its batch's id with its index in the low bits, so a batch
    written once reads its few rows (operations applied before outcomes were kept with
    their parts, or reversed since) as a range of the index of job ids; a batch accepted
    before counters (`failed` is null) has random ids, read by batch and index.
    """
    if batch.failed is None:
        where = (
            Job.batch_id == batch.batch_id,
            IN_BATCH_INDEX,
            Job.batch_index >= start,
            Job.batch_index < stop,
            Job.type != BATCH_PART,
        )
    else:
        first, last = (operation_job_id(batch.batch_id, i) for i in (start, stop - 1))
        where = (Job.job_id >= first, Job.job_id <= last)
    jobs = session.scalars(select(Job).where(*where))
    return {job.batch_index: job for job in jobs if job.batch_index is not None}


_INSERT_PARTS = BulkStatement(
    insert(Job.__table__),
    columns=(
        "job_id",
        "partition",
        "type",
        "account_number",
        "amount",
        "batch_id",
        "batch_index",
        "details",
        "request_id",
        "submitted_by",
        "target_id",
    ),
)
_ATOMIC_INTAKE_LOCK = 0x41544D4154  # "ATMAT": records atomic batches one at a time (record_batch)
_ONE_ATOMIC_INTAKE_AT_A_TIME = text(f"SELECT pg_advisory_xact_lock({_ATOMIC_INTAKE_LOCK})")
