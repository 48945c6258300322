"""A batch's operations as jobs: from their parts, and from their parts' outcomes.

An operation of a batch written once has no row of its own (shared.accepting.batch_queue):
its part says what it is, and once it is applied a `batch_outcomes` row of the part says
what became of it, in the transaction that moved its money. Some operations do have a job
row: those applied before outcomes were kept with their parts, and those a reversal has
marked since. The readers here are asked only for what the caller did not find as a row,
having read the rows first: a row, where there is one, is the answer.

Reads made in that order stay right on PostgreSQL too, where each statement sees what was
committed when it started: an operation is either still queued in its part or has its
outcome row, both written by one transaction, and the outcome rows are read after the
part; one applied in between is answered as applied.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from shared.accepting.batch_queue import (
    BatchOperation,
    batch_and_index,
    decoded_parts,
    find_operation,
    operation_job_id,
)
from shared.store.models import (
    BATCH_PART,
    FAILED,
    IN_BATCH_INDEX,
    QUEUED,
    SUCCEEDED,
    BatchOutcomes,
    Job,
)


class Part(NamedTuple):
    """A batch part as the readers of a batch see it (queued, or finished and kept),
    without its operations: those are read once a process and kept decoded."""

    row_id: int
    part_id: str
    created_at: datetime
    request_id: str | None
    submitted_by: str | None
    partition: int


# What became of one operation: its run's applier and time, and its outcome item.
Applied = tuple[str | None, datetime, list]


def encode_run(outcomes: Iterable[list]) -> str:
    """A run's outcomes as its row stores them. Each operation's outcome is `[index,
    new_balance, transaction_id]` (a transfer adds its destination's balance after it) when
    it succeeded, `[index, error_type, error_message]` when it failed (the applier makes
    them: shared.ledger.rules.decide_run)."""
    return _COMPACT.encode(list(outcomes))


# One encoder for every run: json.dumps with separators of its own makes a new one a call,
# and an apply encodes a run per part it takes from (thousands, with many partitions).
# Lists made here hold no cycle: no set of the ids of the lists being encoded.
_COMPACT = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def outcome_status(outcome: list) -> str:
    return FAILED if isinstance(outcome[1], str) else SUCCEEDED


def batch_parts(session: Session, batch_id: str) -> list[Part]:
    """Every part of the batch, queued or finished."""
    return [Part(*row) for row in session.execute(_PARTS, {"batch_id": batch_id})]


def operation_jobs(session: Session, batch_id: str, indexes: Sequence[int]) -> dict[int, Job]:
    """The operations at `indexes` of the batch as unsaved Job objects: applied ones with
    their outcome, the others queued."""
    wanted = set(indexes)
    found: dict[int, Job] = {}
    for part in batch_parts(session, batch_id):
        mine = [BatchOperation(*row) for row in part_operations(session, part) if row[0] in wanted]
        if mine:
            applied = applied_in(session, part.row_id, mine[0].index, mine[-1].index)
            for operation in mine:
                found[operation.index] = operation_as_job(batch_id, part, operation, applied)
    return found


def operation_job(session: Session, job_id: str) -> Job | None:
    """The job of a batch operation without a row of its own, or None.

    Only the part that holds it comes back from the database (found by the text that
    starts the operation, see batch_queue.find_operation), and only that operation is
    decoded from it."""
    named = batch_and_index(job_id)
    if named is None:
        return None
    batch_id, index = named
    parameters = {"batch_id": batch_id, "start": f'[{index},"'}
    for *columns, details in session.execute(_PART_HOLDING, parameters):
        operation = find_operation(details, index)
        if operation is not None:
            part = Part(*columns)
            return operation_as_job(
                batch_id, part, operation, applied_in(session, part.row_id, index, index)
            )
    return None


def jobs_by_id(session: Session, job_ids: Iterable[str]) -> dict[str, Job]:
    """The jobs with these ids: their rows, and the batch operations without one."""
    ids = set(job_ids)
    found = {job.job_id: job for job in session.scalars(select(Job).where(Job.job_id.in_(ids)))}
    found.update(operations_by_id(session, ids - found.keys()))
    return found


def operations_by_id(session: Session, job_ids: Iterable[str]) -> dict[str, Job]:
    """The batch operations among `job_ids` (read as rows first, and not found)."""
    by_batch: dict[str, list[int]] = defaultdict(list)
    for job_id in job_ids:
        named = batch_and_index(job_id)
        if named is not None:
            by_batch[named[0]].append(named[1])
    return {
        job.job_id: job
        for batch_id, indexes in by_batch.items()
        for job in operation_jobs(session, batch_id, indexes).values()
    }


def applied_operations(
    session: Session,
) -> Iterable[tuple[int, str | None, BatchOperation | None, list]]:
    """Every item of every outcome row: its part's row id, its batch's id, the operation
    and the outcome; the batch and the operation None where the part, or the operation in
    it, is missing (for the audit, which reads everything and reports that). Rows come in
    part order, so each part is read and decoded once."""
    part_row, batch_id, operations = None, None, {}
    rows = select(_outcomes.c.part_id, _outcomes.c.outcomes).order_by(
        _outcomes.c.part_id, _outcomes.c.first_index
    )
    for row_id, outcomes in session.execute(rows):
        if row_id != part_row:
            found = session.execute(_PART_BY_ROW, {"id": row_id}).first()
            part_row, batch_id = row_id, None if found is None else found[0]
            operations = {} if found is None else {o[0]: o for o in json.loads(found[1])}
        for outcome in json.loads(outcomes):
            operation = operations.get(outcome[0])
            yield (
                row_id,
                batch_id,
                None if operation is None else BatchOperation(*operation),
                outcome,
            )


def statuses_by_batch(
    session: Session, applied: Iterable[tuple[str, BatchOperation, list]]
) -> dict[str, dict[str, str]]:
    """Each batch's operations that have an outcome, by job id, with their status: those
    with a row of their own (applied before outcome rows were kept, or reversed since), and
    those of `applied` (batch id, operation and outcome, as applied_operations gives them)
    that have none. Counting them, an operation is counted once however it is kept."""
    statuses: dict[str, dict[str, str]] = defaultdict(dict)
    rows = select(_jobs.c.batch_id, _jobs.c.job_id, _jobs.c.status).where(
        _jobs.c.batch_id.is_not(None), _jobs.c.type != BATCH_PART
    )
    for batch_id, job_id, status in session.execute(rows):
        statuses[batch_id][job_id] = status
    for batch_id, operation, outcome in applied:
        statuses[batch_id].setdefault(
            operation_job_id(batch_id, operation.index), outcome_status(outcome)
        )
    return statuses


def recent_failed_operations(session: Session, limit: int, runs: int) -> list[Job]:
    """Failed batch operations (about `limit`) among the `runs` outcome rows of the most
    recently accepted parts, read through the primary key: a look at recent failures,
    not a search of history."""
    newest = session.execute(
        select(_outcomes.c.part_id, _outcomes.c.outcomes)
        .order_by(_outcomes.c.part_id.desc(), _outcomes.c.first_index.desc())
        .limit(runs)
    ).all()
    failed: dict[int, set[int]] = defaultdict(set)
    for part_row, outcomes in newest:
        failed[part_row].update(o[0] for o in json.loads(outcomes) if outcome_status(o) == FAILED)
        if sum(map(len, failed.values())) >= limit:
            break
    jobs: list[Job] = []
    for part_row, indexes in failed.items():
        found = part_by_row(session, part_row) if indexes else None
        if found is None:
            continue
        batch_id, part = found
        mine = [BatchOperation(*row) for row in part_operations(session, part) if row[0] in indexes]
        applied = applied_in(session, part_row, min(indexes), max(indexes))
        jobs.extend(operation_as_job(batch_id, part, operation, applied) for operation in mine)
    return jobs


def part_by_row(session: Session, part_row: int) -> tuple[str, Part] | None:
    """The batch id and the part of the part row `part_row`, or None if there is none."""
    found = session.execute(_PART_WITH_BATCH, {"id": part_row}).first()
    return None if found is None else (found[0], Part(*found[1:]))


def part_operations(session: Session, part: Part) -> list[list]:
    """The part's operations as lists of BatchOperation's fields, decoded once a process."""
    operations = decoded_parts.cached(part.part_id)
    if operations is None:
        details = session.scalar(_DETAILS, {"id": part.row_id}) or "[]"
        operations = decoded_parts.get(part.part_id, details)
    return operations


def applied_in(session: Session, part_row: int, first: int, last: int) -> dict[int, Applied]:
    """What became of the part's applied operations with index in [first, last], by
    index, from the outcome rows that hold them."""
    parameters = {"part": part_row, "first": first, "last": last}
    return {
        outcome[0]: (applied_by, completed_at, outcome)
        for applied_by, completed_at, outcomes in session.execute(_RUNS, parameters)
        for outcome in json.loads(outcomes)
    }


def operation_as_job(
    batch_id: str, part: Part, operation: BatchOperation, applied: dict[int, Applied]
) -> Job:
    job = Job(
        job_id=operation_job_id(batch_id, operation.index),
        partition=part.partition,
        type=operation.type,
        account_number=operation.account_number,
        amount=operation.amount,
        status=QUEUED,
        batch_id=batch_id,
        batch_index=operation.index,
        reference=operation.reference,
        metadata_json=operation.metadata,
        request_id=part.request_id,
        to_account=operation.to_account,
        submitted_by=part.submitted_by,
        created_at=part.created_at,
    )
    found = applied.get(operation.index)
    if found is not None:
        job.applied_by, job.completed_at, outcome = found
        job.status = outcome_status(outcome)
        if job.status == FAILED:
            job.error_type, job.error_message = outcome[1], outcome[2]
        else:
            job.new_balance, job.transaction_id = outcome[1], outcome[2]
            job.to_balance = outcome[3] if len(outcome) > 3 else None
    return job


_jobs, _outcomes = Job.__table__, BatchOutcomes.__table__
_PART_COLUMNS = (
    _jobs.c.id,
    _jobs.c.job_id,
    _jobs.c.created_at,
    _jobs.c.request_id,
    _jobs.c.submitted_by,
    _jobs.c.partition,
)
_OF_BATCH = (_jobs.c.batch_id == bindparam("batch_id"), IN_BATCH_INDEX, _jobs.c.type == BATCH_PART)
_PARTS = select(*_PART_COLUMNS).where(*_OF_BATCH)
# The part whose operations' JSON holds the text that starts operation i, `[i,"`: the
# database scans the parts' text, and only that part's comes back.
_PART_HOLDING = select(*_PART_COLUMNS, _jobs.c.details).where(
    *_OF_BATCH, _jobs.c.details.contains(bindparam("start"))
)
_DETAILS = select(_jobs.c.details).where(_jobs.c.id == bindparam("id"))
_PART_BY_ROW = select(_jobs.c.batch_id, _jobs.c.details).where(_jobs.c.id == bindparam("id"))
_PART_WITH_BATCH = select(_jobs.c.batch_id, *_PART_COLUMNS).where(_jobs.c.id == bindparam("id"))
# The run holding `first` (the last one starting at or before it) and those after it up to
# `last`: through the primary key (part_id, first_index), in one statement.
_RUN_BEFORE = (
    select(func.max(_outcomes.c.first_index))
    .where(_outcomes.c.part_id == bindparam("part"), _outcomes.c.first_index <= bindparam("first"))
    .scalar_subquery()
)
_RUNS = select(_outcomes.c.applied_by, _outcomes.c.completed_at, _outcomes.c.outcomes).where(
    _outcomes.c.part_id == bindparam("part"),
    _outcomes.c.first_index <= bindparam("last"),
    _outcomes.c.first_index >= func.coalesce(_RUN_BEFORE, bindparam("first")),
)
