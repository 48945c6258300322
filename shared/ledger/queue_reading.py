"""Reading a chunk's work from the partitions' queues: single jobs, and batch operations
taken from the batch parts met in the queue (shared.accepting.batch_queue)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, case, null, select, union_all
from sqlalchemy.orm import Session

from shared.accepting.batch_queue import decoded_parts, operation_id_prefix
from shared.ledger.chunk import PartRun, QueuedJob
from shared.store.models import BATCH_PART, IS_QUEUED, Job
from shared.store.prepared import Prepared, padded


@dataclass
class PartProgress:
    """How far this chunk takes a batch part: `applied` of its `total` operations."""

    part: int  # the part's row id
    applied: int
    total: int

    @property
    def finished(self) -> bool:
        return self.applied >= self.total


@dataclass
class _PartitionQueue:
    """One partition's queue as far as this chunk read it."""

    partition: int
    read_details: Callable[[int], str]  # a part's operations (JSON), by its row id
    rows: deque[QueuedJob] = field(default_factory=deque)  # read, not yet taken, in id order
    taken: list[QueuedJob | PartRun] = field(default_factory=list)
    last_read: int = 0  # the id of the last row read
    # Whether the first read reached the end of the queue; None: fewer rows than asked for
    # say so.
    exhausted: bool | None = None
    # The batch part being taken from, its operations and its progress.
    part_row: QueuedJob | None = None
    operations: list[list] = field(default_factory=list)
    progress: PartProgress | None = None
    parts: list[PartProgress] = field(default_factory=list)  # every part this chunk took from
    # The atomic batch whose part is next in this queue: nothing after it is taken until
    # the whole batch is applied (shared.ledger.atomic).
    barrier: str | None = None

    @property
    def read_all(self) -> bool:
        """Nothing read is left to take: more needs another read."""
        return not self.rows and (self.progress is None or self.progress.finished)

    def take(self, count: int) -> int:
        """Take up to `count` operations in acceptance order; how many were taken."""
        taken = 0
        while taken < count and self.barrier is None:
            if self.progress is not None and not self.progress.finished:
                taken += self._take_from_part(count - taken)
                continue
            if not self.rows:
                break
            row = self.rows.popleft()
            if row.type == BATCH_PART and row.target_id is not None:
                self.barrier = row.batch_id  # an atomic batch's part (target_id: its batch)
                self.rows.appendleft(row)
            elif row.type == BATCH_PART:
                self._open_part(row)
            else:
                self.taken.append(row)
                taken += 1
        return taken

    def _open_part(self, row: QueuedJob) -> None:
        self.part_row = row
        operations = decoded_parts.cached(row.job_id)
        if operations is None:  # the queue is read without parts' JSON (see _QUEUE_COLUMNS)
            operations = decoded_parts.get(row.job_id, self.read_details(row.id or 0))
        self.operations = operations
        self.progress = PartProgress(row.id or 0, row.batch_index or 0, len(self.operations))
        self.parts.append(self.progress)

    def _take_from_part(self, count: int) -> int:
        row, progress = self.part_row, self.progress
        assert row is not None and progress is not None and row.batch_id is not None
        start = progress.applied
        chosen = self.operations[start : start + count]
        last = self.taken[-1] if self.taken else None
        if isinstance(last, PartRun) and last.part == progress.part:
            last.operations.extend(chosen)  # the same part again: one run a part a chunk
        else:
            prefix = operation_id_prefix(row.batch_id)
            self.taken.append(PartRun(progress.part, row.batch_id, row.request_id, prefix, chosen))
        progress.applied += len(chosen)
        return len(chosen)


class QueuedWork(NamedTuple):
    """What a chunk takes from its partitions' queues."""

    # Up to its limit of operations, each partition's in acceptance order: single jobs,
    # and runs of a batch part's operations.
    work: list[QueuedJob | PartRun]
    parts: list[PartProgress]  # how far the runs take the parts they come from
    # The atomic batches whose parts a queue reached, which it waits for.
    barriers: list[str]


def queued_work(
    session: Session,
    partitions: list[int],
    limit: int,
    heads: Mapping[int, tuple[int, ...]] | None = None,
) -> QueuedWork:
    """Up to `limit` queued operations, each partition's in acceptance order (single jobs,
    and runs of a batch part's operations), and how far they take the parts they come from.
    A partition's queue stops at an atomic batch's part.

    Every partition gets an equal share first, so a single withdrawal is not stuck behind
    another partition's batch of 100,000; the share a quiet partition leaves is then
    divided among those with more. Each read walks one partition's queue index in order
    and stops at its limit; a batch part counts as the operations taken from it. `heads`,
    each partition's first two queued row ids where known (busy_queues), saves a read per
    partition whose first rows fill its share.
    """
    if not partitions:
        return QueuedWork([], [], [])

    def read_details(part: int) -> str:
        return _PART_DETAILS.scalar(session, {"id": part}) or "[]"  # type: ignore[return-value]

    queues = {partition: _PartitionQueue(partition, read_details) for partition in partitions}
    first = partitions[:limit]
    share = max(1, limit // len(first))
    # The first equal shares: of a few partitions in one statement (with a single waiting
    # request, a statement for each would cost more than the rest of the chunk); of many,
    # a statement each, as SQLite runs a compound SELECT of hundreds of terms (it allows
    # at most 500) slower than as many small ones.
    if len(first) <= SHARES_IN_ONE_STATEMENT:
        # Padded with a partition that has no rows: the partitions with work vary in number.
        group = padded(first, NO_PARTITION)
        parameters = {"share": share, **{f"p{index}": p for index, p in enumerate(group)}}
        for row in _first_shares(len(group)).execute(session, parameters):
            job = QueuedJob(*row)
            queues[job.partition].rows.append(job)
    else:
        _read_first_shares(session, [queues[partition] for partition in first], share, heads)
    for queue in queues.values():
        # By id: the order of a UNION ALL's rows is not guaranteed.
        queue.rows = deque(sorted(queue.rows))
    _read_first_parts(session, queues.values())
    remaining = limit
    hungry = []
    for partition in first:
        queue = queues[partition]
        queue.last_read = queue.rows[-1].id if queue.rows else 0
        exhausted = len(queue.rows) < share if queue.exhausted is None else queue.exhausted
        taken = queue.take(share)
        remaining -= taken
        if taken == share and not (exhausted and queue.read_all):
            hungry.append(queue)
    while hungry and remaining > 0:
        share, still_hungry = max(1, remaining // len(hungry)), []
        for queue in hungry[:remaining]:
            wanted = min(share, remaining)
            if queue.read_all:
                parameters = {"partition": queue.partition, "after": queue.last_read}
                fetched = [
                    QueuedJob(*row)
                    for row in _QUEUED_JOBS.execute(session, {**parameters, "limit": wanted})
                ]
                queue.rows.extend(fetched)
                if fetched:
                    queue.last_read = fetched[-1].id or 0
            taken = queue.take(wanted)
            remaining -= taken
            if taken == wanted:
                still_hungry.append(queue)
        hungry = still_hungry
    work = [item for queue in queues.values() for item in queue.taken]
    parts = [progress for queue in queues.values() for progress in queue.parts]
    barriers = {queue.barrier: None for queue in queues.values() if queue.barrier is not None}
    return QueuedWork(work, parts, list(barriers))


def _read_first_shares(
    session: Session,
    queues: list[_PartitionQueue],
    share: int,
    heads: Mapping[int, tuple[int, ...]] | None,
) -> None:
    """The first `share` queued rows of each of many queues: their first two rows (`heads`)
    read for all of them in one statement, and a statement each for those whose two rows
    are not their share (SQLite runs a compound SELECT of hundreds of terms slower than as
    many small statements). Where a batch is spread over many partitions, its part is most
    queues' first row and their share, and a statement each cost more than the rest of
    their chunk."""
    wanted = queues
    if heads:
        ids = [row_id for queue in queues for row_id in heads.get(queue.partition, ())]
        read: dict[int, list[QueuedJob]] = {}
        for row in _ROWS_BY_ID.execute(session, {"ids": padded(ids)}) if ids else ():
            job = QueuedJob(*row)
            read.setdefault(job.partition, []).append(job)
        wanted = []
        for queue in queues:
            expected = heads.get(queue.partition, ())
            rows = read.get(queue.partition, [])
            # Read as still queued: one applied since the look (by a process without a
            # fence) is left out, and those left are still the queue's first.
            if len(expected) < 2 or _operations(rows) >= share:
                queue.rows.extend(rows)
                queue.exhausted = len(expected) < 2
            else:
                wanted.append(queue)
    reads = [{"partition": queue.partition, "after": 0, "limit": share} for queue in wanted]
    for queue, rows in zip(wanted, _QUEUED_JOBS.execute_each(session, reads), strict=True):
        queue.rows.extend(QueuedJob(*row) for row in rows)


def _operations(rows: list[QueuedJob]) -> int:
    """How many operations queued rows hold: a batch part its unapplied ones, a job one."""
    return sum(row.amount - (row.batch_index or 0) if row.type == BATCH_PART else 1 for row in rows)


def _read_first_parts(session: Session, queues: Iterable[_PartitionQueue]) -> None:
    """Decode the first FIRST_PARTS plain batch parts of each queue, those not decoded yet,
    reading their operations in one statement (or one per PARTS_AT_ONCE) rather than one
    a part: with many partitions a batch has a part in most of them, each of a few
    operations, so a chunk finishes the part it took from last and opens the next."""
    wanted: dict[int, str] = {}
    for queue in queues:
        parts = 0
        for row in queue.rows:
            if row.type != BATCH_PART or row.target_id is not None:
                continue
            if row.id is not None and decoded_parts.cached(row.job_id) is None:
                wanted[row.id] = row.job_id
            parts += 1
            if parts == FIRST_PARTS:
                break
    ids = sorted(wanted)
    for start in range(0, len(ids), PARTS_AT_ONCE):
        group = padded(ids[start : start + PARTS_AT_ONCE])
        for part, details in _PARTS_DETAILS.execute(session, {"ids": group}):
            decoded_parts.get(wanted[part], details or "[]")


_jobs = Job.__table__
# The columns QueuedJob(*row) relies on, in its order.
# A part's operations (its `details`) are left out: read on every chunk, a large part's JSON
# would cost more than the chunk's share of it; they are read once, when not yet decoded.
_QUEUE_COLUMNS = [
    case((_jobs.c.type == BATCH_PART, null()), else_=_jobs.c.details).label("details")
    if name == "details"
    else _jobs.c[name]
    for name in QueuedJob._fields
]
# Run through the driver (Prepared): the queue is read in every apply transaction, where
# SQLAlchemy's execution of a Core select costs several times the query.
_ROWS_BY_ID = Prepared(
    select(*_QUEUE_COLUMNS).where(_jobs.c.id.in_(bindparam("ids", expanding=True)), IS_QUEUED)
)
_PART_DETAILS = Prepared(select(_jobs.c.details).where(_jobs.c.id == bindparam("id")))
_PARTS_DETAILS = Prepared(
    select(_jobs.c.id, _jobs.c.details).where(_jobs.c.id.in_(bindparam("ids", expanding=True)))
)
# Parts whose operations one statement reads (well under SQLite's limit of bound values).
PARTS_AT_ONCE = 512
FIRST_PARTS = 2
_QUEUED_JOBS = Prepared(
    select(*_QUEUE_COLUMNS)
    .where(_jobs.c.partition == bindparam("partition"), IS_QUEUED, _jobs.c.id > bindparam("after"))
    .order_by(_jobs.c.id)
    .limit(bindparam("limit"))
)


# The most partitions whose first shares one statement reads (see queued_work).
SHARES_IN_ONE_STATEMENT = 32
NO_PARTITION = -1


@cache
def _first_shares(count: int) -> Prepared:
    """Up to :share queued rows of each of the partitions :p0 … :p<count-1>, as QueuedJob
    rows; one statement per partition count, built once."""
    shares = [
        select(*_QUEUE_COLUMNS)
        .where(_jobs.c.partition == bindparam(f"p{index}"), IS_QUEUED)
        .order_by(_jobs.c.id)
        .limit(bindparam("share"))
        .subquery()
        for index in range(count)
    ]
    return Prepared(union_all(*(select(share) for share in shares)))
