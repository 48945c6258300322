"""Accepting operations: validate, record durably as queued jobs, and read them back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import uuid_utils
from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import operation_job, recent_failed_operations
from shared.errors import AccountNotFound, JobNotFound
from shared.partitioning import partition_of
from shared.store.bulk import BulkStatement, KeyedRead
from shared.store.models import BATCH_PART, IS_FAILED, IS_QUEUED, QUEUED, Account, Job, utcnow
from shared.timestamps import as_utc

# How many of the newest batch outcome rows a look at recent failures reads (each holds up
# to a chunk's operations).
RECENT_OUTCOME_RUNS = 20
LOOKUP_CHUNK = 900  # well under every SQLite build's limit on bound parameters
# Built once: constructing statements per request costs more than running them. Both go
# straight to the driver: SQLAlchemy's execution of a statement costs more than its SQL.
_EXISTING_ACCOUNTS = KeyedRead(Account.__table__, "account_number", ("account_number",))
_INSERT_JOBS = BulkStatement(
    insert(Job.__table__),
    columns=(
        "job_id",
        "partition",
        "type",
        "account_number",
        "amount",
        "batch_id",
        "batch_index",
        "reference",
        "metadata",
        "request_id",
        "to_account",
        "target_id",
        "details",
        "submitted_by",
    ),
)


def new_id() -> str:
    """A time-ordered UUID (version 7) for a job or batch.

    Random (version 4) ids land anywhere in the unique indexes of jobs and the ledger, so
    every insert dirties a different page that the commit must write out; ids that grow
    with time append to the same few pages.
    """
    return str(uuid_utils.uuid7())


@dataclass(frozen=True)
class Operation:
    """An operation as accepted from a client, before it is recorded as a job."""

    job_id: str
    account_number: str
    type: str
    amount: int
    batch_id: str | None = None
    batch_index: int | None = None
    reference: str | None = None
    metadata: str | None = None  # compact JSON text
    request_id: str | None = None
    to_account: str | None = None  # a transfer's destination; a reversal's other account
    target_id: str | None = None  # the hold (hold, capture, void) or reversed job
    details: str | None = None  # compact JSON: a hold's expires_in, a PATCH's fields
    submitted_by: str | None = None  # the API key's id


def record_operations(
    session: Session,
    operations: Sequence[Operation],
    partitions: int,
    *,
    refuse_unknown_accounts: bool = True,
) -> set[str]:
    """Record operations as queued jobs, in the order given (which is their apply order).

    Returns the job ids refused because their account does not exist; with
    `refuse_unknown_accounts=False` (batches) those are recorded too and fail when applied,
    each on its own. The caller commits before answering 2xx: from then on the job row is
    the durable truth, and a queue message is only a wake-up for the partition's worker.
    Many operations share one insert, so concurrent requests can share one transaction.
    """
    refused: set[str] = set()
    if refuse_unknown_accounts:
        numbers = {op.account_number for op in operations}
        numbers.update(op.to_account for op in operations if op.to_account is not None)
        existing = _existing_accounts(session, numbers)
        refused = {
            op.job_id
            for op in operations
            if op.account_number not in existing
            or (op.to_account is not None and op.to_account not in existing)
        }
    rows = [
        (
            op.job_id,
            partition_of(op.account_number, partitions),
            op.type,
            op.account_number,
            op.amount,
            op.batch_id,
            op.batch_index,
            op.reference,
            op.metadata,
            op.request_id,
            op.to_account,
            op.target_id,
            op.details,
            op.submitted_by,
        )
        for op in operations
        if op.job_id not in refused
    ]
    _INSERT_JOBS.executemany(session, rows, {"status": QUEUED, "created_at": utcnow()})
    return refused


def _existing_accounts(session: Session, numbers: set[str]) -> set[str]:
    wanted = sorted(numbers)
    existing: set[str] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        existing.update(number for (number,) in _EXISTING_ACCOUNTS.rows(session, chunk))
    return existing


def record_operation(session: Session, operation: Operation, partitions: int) -> None:
    """Record one operation, or raise AccountNotFound."""
    if record_operations(session, [operation], partitions):
        raise AccountNotFound(f"account {unknown_account(session, operation)} not found")


def unknown_account(session: Session, operation: Operation) -> str:
    """Which of the operation's accounts does not exist (for the refusal's message)."""
    numbers = {operation.account_number, operation.to_account} - {None}
    existing = _existing_accounts(session, numbers)  # type: ignore[arg-type]
    if operation.account_number not in existing:
        return operation.account_number
    return operation.to_account or operation.account_number


def get_job(session: Session, job_id: str) -> Job:
    """A job by id: its row, or, for a batch operation without one, an unsaved Job built
    from its part and outcome."""
    job = _job_row(session, job_id) or operation_job(session, job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    return job


def _job_row(session: Session, job_id: str) -> Job | None:
    return session.scalar(select(Job).where(Job.job_id == job_id, Job.type != BATCH_PART))


def recent_failures(session: Session, limit: int) -> list[Job]:
    """The most recently accepted failed jobs, newest first: those with rows through their
    own index, and the batch operations among the newest outcome rows
    (shared.accepting.batch_operations)."""
    rows = session.scalars(select(Job).where(IS_FAILED).order_by(Job.id.desc()).limit(limit))
    failed = [*rows, *recent_failed_operations(session, limit, RECENT_OUTCOME_RUNS)]
    failed.sort(key=lambda job: (as_utc(job.created_at), job.batch_index or 0), reverse=True)
    return failed[:limit]


# A batch part waits for the operations it has not applied yet; any other queued row, one.
WAITING_OPERATIONS = func.sum(
    case((Job.type == BATCH_PART, Job.amount - func.coalesce(Job.batch_index, 0)), else_=1)
)


def queued_by_partition(session: Session) -> dict[int, int]:
    """How many accepted operations wait in each partition that has any (through the queue
    index)."""
    query = select(Job.partition, WAITING_OPERATIONS).where(IS_QUEUED).group_by(Job.partition)
    return {partition: int(count) for partition, count in session.execute(query)}


def queued_backlog(session: Session, partitions: int) -> int:
    """How many accepted operations wait to be applied (through the partition index)."""
    query = select(WAITING_OPERATIONS).where(Job.partition.in_(range(partitions)), IS_QUEUED)
    return int(session.scalar(query) or 0)
