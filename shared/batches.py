"""Batches: whole-body validation, recording all operations at once, progress and results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.accounts import validate_account_number
from shared.errors import (
    BatchNotFound,
    DomainError,
    InvalidBatch,
    InvalidOperation,
    InvalidTransfer,
)
from shared.models import BATCH_TYPES, FAILED, PROCESSING, QUEUED, SUCCEEDED, TRANSFER, Batch, Job
from shared.money import parse_amount
from shared.operations import Operation, new_id, record_operations
from shared.partitioning import partition_of
from shared.references import parse_metadata, parse_reference

MAX_DETAILS = 100  # enough to fix a file by; a body with more bad rows says how many


def parse_operations(
    raw: object,
    *,
    batch_id: str,
    max_batch: int,
    max_cents: int,
    request_id: str | None = None,
    submitted_by: str | None = None,
) -> list[Operation]:
    """Validate every operation of a batch body; raise InvalidBatch listing each bad one.

    Nothing is recorded unless all of them are valid.
    """
    if not isinstance(raw, list):
        raise InvalidBatch("operations must be a list", details=[])
    if not 1 <= len(raw) <= max_batch:
        raise InvalidBatch(f"a batch holds 1 to {max_batch} operations", details=[])
    operations: list[Operation] = []
    details: list[dict[str, object]] = []
    for index, item in enumerate(raw):
        try:
            parsed = parse_operation(item, max_cents=max_cents)
        except DomainError as error:
            details.append({"index": index, "type": error.type, "message": error.message})
            continue
        operations.append(
            Operation(
                new_id(),
                parsed.account_number,
                parsed.type,
                parsed.cents,
                batch_id,
                index,
                parsed.reference,
                parsed.metadata,
                request_id,
                to_account=parsed.to_account,
                submitted_by=submitted_by,
            )
        )
    if details:
        shown = details[:MAX_DETAILS]
        more = f" (the first {len(shown)} are listed)" if len(details) > len(shown) else ""
        raise InvalidBatch(f"{len(details)} operation(s) are invalid{more}", details=shown)
    return operations


class ParsedOperation(NamedTuple):
    account_number: str
    type: str
    cents: int
    reference: str | None
    metadata: str | None
    to_account: str | None = None


def parse_operation(item: object, *, max_cents: int) -> ParsedOperation:
    """One operation's account number, type, amount in cents, reference and metadata, or a
    DomainError."""
    if not isinstance(item, dict):
        raise InvalidOperation("each operation must be an object")
    number = validate_account_number(item.get("account_number"))
    op_type = item.get("type")
    if op_type not in BATCH_TYPES:
        raise InvalidOperation(f"type must be one of {', '.join(BATCH_TYPES)}")
    to_account = None
    if op_type == TRANSFER:
        to_account = validate_account_number(item.get("to_account"))
        if to_account == number:
            raise InvalidTransfer("a transfer needs two different accounts")
    return ParsedOperation(
        number,
        str(op_type),
        parse_amount(item.get("amount"), max_cents=max_cents),
        parse_reference(item.get("reference")),
        parse_metadata(item.get("metadata")),
        to_account,
    )


def record_batch(
    session: Session, batch_id: str, operations: Sequence[Operation], partitions: int
) -> set[int]:
    """Record the batch and all its operations in the caller's transaction.

    Operations on unknown accounts are recorded too: they fail with account_not_found when
    applied, each on its own. Returns the partitions to wake.
    """
    submitted_by = operations[0].submitted_by if operations else None
    session.add(Batch(batch_id=batch_id, total=len(operations), submitted_by=submitted_by))
    session.flush()
    record_operations(session, operations, partitions, refuse_unknown_accounts=False)
    return {partition_of(op.account_number, partitions) for op in operations}


@dataclass(frozen=True)
class BatchProgress:
    batch_id: str
    total: int
    counts: dict[str, int]
    created_at: datetime
    completed_at: datetime | None

    @property
    def completed(self) -> bool:
        return self.counts.get(QUEUED, 0) + self.counts.get(PROCESSING, 0) == 0


def batch_progress(session: Session, batch_id: str) -> BatchProgress:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(f"batch {batch_id} not found")
    rows = session.execute(
        select(Job.status, func.count(), func.max(Job.completed_at))
        .where(Job.batch_id == batch_id)
        .group_by(Job.status)
    ).all()
    counts = {status: 0 for status in (QUEUED, PROCESSING, SUCCEEDED, FAILED)}
    last_completed: datetime | None = None
    for status, count, completed_at in rows:
        counts[status] = count
        if completed_at is not None and (last_completed is None or completed_at > last_completed):
            last_completed = completed_at
    progress = BatchProgress(batch_id, batch.total, counts, batch.created_at, None)
    if progress.completed:
        progress = BatchProgress(batch_id, batch.total, counts, batch.created_at, last_completed)
    return progress


def batch_results(
    session: Session, batch_id: str, offset: int, limit: int
) -> tuple[int, list[Job]]:
    """The batch's total and its jobs with index in [offset, offset + limit), in order."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise BatchNotFound(f"batch {batch_id} not found")
    if offset >= batch.total:
        return batch.total, []  # past the end: an empty page (and no 64-bit overflow below)
    jobs = session.scalars(
        select(Job)
        .where(
            Job.batch_id == batch_id,
            Job.batch_index >= offset,
            Job.batch_index < min(offset + limit, batch.total),
        )
        .order_by(Job.batch_index)
    ).all()
    return batch.total, list(jobs)
