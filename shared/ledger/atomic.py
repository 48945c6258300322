"""Atomic batches: all of a batch's operations applied in one transaction, or none.

An atomic batch is recorded as a plain one is, a part in each partition's queue, with two
differences (shared.accepting.batches.record_batch): its parts name it in `target_id`, and
it has a part, perhaps of no operations, in the partition of every account it touches (a
transfer's destination too). A partition's applier that reaches such a part stops there
(shared.ledger.queue_reading): nothing accepted after the batch in that partition is
applied before it, and everything accepted before it is. Once its own transaction has
committed, it tries the batch (`apply_atomic`).

The try succeeds only when every part of the batch is at the head of its queue, nothing
queued before it; so the applier that brings the last partition to the batch applies it,
whichever worker that is, and the others' tries find a part not yet at its head and do
nothing. That is each account's order: every operation accepted earlier on any of its
accounts has been applied, and nothing later has. The parts are the batch's fences: a try
locks them first (on SQLite the write lock covers everything) and takes them out of the
queues in the transaction that applies the batch, so two tries of one batch, by two
workers or after a move of a partition, apply it once. It then rings the touched
partitions, whose queues go on.

Two atomic batches cannot wait for each other: on SQLite every queue row is numbered in
commit order, and on PostgreSQL atomic batches are recorded one at a time, so one batch's
parts come before the other's in every queue they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shared.accepting.batch_queue import decoded_parts, operation_id_prefix
from shared.events.outbox import record_events
from shared.ledger.applying import (
    Applied,
    chunk_holds,
    locked_accounts,
    new_chunk,
    run_accounts,
    write_batch_operations,
    write_changes,
)
from shared.ledger.chunk import PartRun
from shared.ledger.queue_reading import PartProgress
from shared.ledger.rules import decide_atomic, expire_due_holds
from shared.store.models import BATCH_PART, IN_BATCH_INDEX, IS_QUEUED, QUEUED, Job, utcnow
from shared.store.prepared import Prepared


@dataclass
class AppliedBatch(Applied):
    """An atomic batch's apply transaction, and the partitions whose queues it held (its
    `barriers` stay empty: it applies no queue's other work)."""

    partitions: list[int] = field(default_factory=list)


def apply_atomic(session: Session, batch_id: str, applied_by: str) -> AppliedBatch | None:
    """Apply the atomic batch if each of its parts is at the head of its queue; None when
    one is not (an earlier job is still queued there) or the batch is applied already.

    Runs inside the caller's write transaction, which holds nothing else: its parts are
    locked first, then its accounts in account-number order (as every applier locks them).
    """
    parts = session.execute(_PARTS, {"batch_id": batch_id}).all()
    if not parts or any(part.status != QUEUED for part in parts):
        return None  # applied already (every part leaves the queue in one transaction)
    for part in parts:
        if _AHEAD.scalar(session, {"partition": part.partition, "id": part.id}) is not None:
            return None  # that queue has not reached the batch yet
    runs, prefix = [], operation_id_prefix(batch_id)
    for part in parts:
        operations = decoded_parts.get(part.job_id, part.details)
        if operations:
            runs.append(PartRun(part.id, batch_id, part.request_id, prefix, list(operations)))
    partitions = sorted({part.partition for part in parts})
    # The holds due in its partitions expire first, as in any apply: a due hold holds no
    # money (and stays expired whether or not the batch succeeds).
    holds = chunk_holds(session, partitions, [], utcnow())
    numbers = run_accounts(runs)
    numbers.update(hold.account_number for hold in holds.values())
    accounts, last_entry_at = locked_accounts(session, numbers)
    chunk = new_chunk(accounts, last_entry_at, holds, {})
    expire_due_holds(chunk)
    decide_atomic(runs, chunk)
    progress = [PartProgress(part.id, part.amount, part.amount) for part in parts]
    write_changes(session, chunk, [], [], runs, applied_by)
    write_batch_operations(session, chunk, runs, progress, applied_by)
    applied = AppliedBatch(list(runs), partitions=partitions)
    applied.events = record_events(session, chunk, applied.steps)
    return applied


_jobs = Job.__table__
# The batch's parts, locked in id order (FOR UPDATE is not rendered on SQLite, whose write
# lock the caller holds): a second try waits here for the first, then finds them applied.
_PARTS = (
    select(
        _jobs.c.id,
        _jobs.c.job_id,
        _jobs.c.partition,
        _jobs.c.status,
        _jobs.c.amount,
        _jobs.c.details,
        _jobs.c.request_id,
    )
    .where(_jobs.c.batch_id == bindparam("batch_id"), IN_BATCH_INDEX, _jobs.c.type == BATCH_PART)
    .order_by(_jobs.c.id)
    .with_for_update()
)
# Whether anything queued in the partition comes before the part.
_AHEAD = Prepared(
    select(_jobs.c.id)
    .where(_jobs.c.partition == bindparam("partition"), IS_QUEUED, _jobs.c.id < bindparam("id"))
    .limit(1)
)
