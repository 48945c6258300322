"""GET /jobs: jobs newest first, single jobs and batch operations together, filtered.

The listing walks the `jobs` table backwards by `id`, the acceptance order: a single job is
listed at its row, a batch's operations at their part's row (in descending index order:
a part holds its partition's operations of the batch in array order), which is where
they took their place in their partition's queue. A listed item's position is therefore
(row id, index), with index 0 for a single job, and `before=<job_id>` lists what comes
after that job's position.

An operation of a batch written once has no row of its own (shared.accepting.batch_queue),
so there is no index of operations by account, status or type to search: an index entry
per operation is the write that batches avoid. Filters are applied while walking instead,
and one request examines at most EXAMINED_PER_PAGE jobs: a page whose filter matches
sparsely may come back short, even empty, with a `next_before` to go on from (the last
job examined, which the caller could read by itself). `next_before` is null only when
the walk reached the first job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import (
    Applied,
    Part,
    applied_in,
    batch_parts,
    operation_as_job,
    operation_job,
    outcome_status,
    part_operations,
)
from shared.accepting.batch_queue import BatchOperation, batch_and_index, operation_job_id
from shared.errors import InvalidParameter
from shared.store.models import (
    BATCH_PART,
    QUEUED,
    Account,
    Job,
    job_accounts,
)

# How many jobs (rows and batch operations) one request looks at, at most: a bound on its
# work whatever the filters (a few milliseconds per thousand).
EXAMINED_PER_PAGE = 20_000
# Rows read at a time while walking back.
WINDOW = 500
# A part's operations whose outcomes are read at a time (a part holds up to a batch's).
OUTCOMES_READ = 1000

# Who a job belongs to, for a caller limited to some accounts: its accounts and its key.
Readable = Callable[[tuple[str, ...], "str | None"], bool]


def everyone(accounts: tuple[str, ...], submitted_by: str | None) -> bool:
    return True


@dataclass(frozen=True)
class JobFilter:
    """What a listed job must match; None matches anything."""

    account: str | None = None
    status: str | None = None
    type: str | None = None
    submitted_by: str | None = None  # a key's own jobs (a key limited to some accounts)


class _Item(NamedTuple):
    """A job met on the walk, with what the filters look at; `job` makes the job itself
    (a batch operation's, from its part), `row_id` names a job's row."""

    job_id: str
    type: str
    accounts: tuple[str, ...]
    submitted_by: str | None
    status: Callable[[], str]
    job: Callable[[], Job] | None  # None for a job with a row: `row_id` names it
    row_id: int | None = None


@dataclass
class JobPage:
    jobs: list[Job]
    next_before: str | None


def list_jobs(
    session: Session,
    limit: int,
    before: str | None,
    wanted: JobFilter,
    readable: Readable = everyone,
) -> JobPage:
    """A page of at most `limit` jobs matching `wanted`, newest first, after the job
    `before` names. `readable` says which jobs the caller could read by itself: the only
    ones a page may end at early, or a cursor may name."""
    if wanted.account is not None and session.get(Account, wanted.account) is None:
        raise InvalidParameter(f"account: no account {wanted.account}")
    below = (None, None) if before is None else _position(session, before, readable)
    found: list[_Item] = []
    last_readable, stopped = None, False
    for examined, item in enumerate(_walk_back(session, *below), start=1):
        if readable(item.accounts, item.submitted_by):
            last_readable = item.job_id
        if _matches(wanted, item):
            found.append(item)
            if len(found) > limit:  # one more than the page: more follow
                break
        if examined >= EXAMINED_PER_PAGE and last_readable == item.job_id:
            stopped = True
            break
    page = found[:limit]
    # More found than the page; or the walk's bound, at a job the caller may read; or the
    # first job reached.
    following = page[-1].job_id if len(found) > limit else last_readable if stopped else None
    return JobPage(_jobs(session, page), following)


def _matches(wanted: JobFilter, item: _Item) -> bool:
    return (
        (wanted.account is None or wanted.account in item.accounts)
        and (wanted.type is None or item.type == wanted.type)
        and (wanted.submitted_by is None or item.submitted_by == wanted.submitted_by)
        and (wanted.status is None or item.status() == wanted.status)
    )


def _walk_back(session: Session, below_row: int | None, below_index: int | None) -> Iterator[_Item]:
    """Every job at a position before (below_row, below_index), newest first; from the
    newest when not given. Rows are read WINDOW at a time, without their operations' text;
    a part's operations are decoded once a process (batch_operations._operations)."""
    upper = below_row
    parted: dict[str, bool] = {}
    while True:
        query = _ROWS if upper is None else _ROWS.where(_jobs_table.c.id <= upper)
        rows = session.execute(query.limit(WINDOW)).all()
        for row in rows:
            if row.type == BATCH_PART:
                part = Part(
                    row.id,
                    row.job_id,
                    row.created_at,
                    row.request_id,
                    row.submitted_by,
                    row.partition,
                )
                index_below = below_index if row.id == below_row else None
                yield from _part_items(session, part, row.batch_id, index_below)
            elif row.id == below_row:
                continue  # the cursor itself
            elif row.batch_id is None or not _has_parts(session, row.batch_id, parted):
                yield _Item(
                    row.job_id,
                    row.type,
                    job_accounts(row.type, row.account_number, row.to_account),
                    row.submitted_by,
                    lambda status=row.status: status,
                    None,
                    row.id,
                )
            # else: an operation of a batch with parts, marked since; listed in its part
        if len(rows) < WINDOW:
            return
        upper = rows[-1].id - 1


def _part_items(
    session: Session, part: Part, batch_id: str, index_below: int | None
) -> Iterator[_Item]:
    """The part's operations, highest index first (below `index_below` if given). Their
    outcomes are read as the walk needs them, OUTCOMES_READ operations' at a time."""
    operations = part_operations(session, part)
    outcomes: dict[int, Applied] = {}
    read: list[tuple[int, int]] = []  # the ranges of indexes whose outcomes are read

    def applied(index: int) -> dict[int, Applied]:
        if not any(low <= index <= high for low, high in read):
            # This one and the OUTCOMES_READ - 1 below it: the walk goes down.
            low = max(operations[0][0], index - OUTCOMES_READ + 1)
            outcomes.update(applied_in(session, part.row_id, low, index))
            read.append((low, index))
        return outcomes

    def status(index: int) -> str:
        found = applied(index).get(index)
        return QUEUED if found is None else outcome_status(found[2])

    for fields in reversed(operations):
        index = fields[0]
        if index_below is not None and index >= index_below:
            continue
        operation = BatchOperation(*fields)
        yield _Item(
            operation_job_id(batch_id, index),
            operation.type,
            job_accounts(operation.type, operation.account_number, operation.to_account),
            part.submitted_by,
            lambda index=index: status(index),
            lambda operation=operation: operation_as_job(
                batch_id, part, operation, applied(operation.index)
            ),
        )


def _position(session: Session, job_id: str, readable: Readable) -> tuple[int, int | None]:
    """Where the job `job_id` is listed: its row's id (a batch operation's, its part's)
    and, for a batch operation, its index. Unknown, or not the caller's to read: 400."""
    unknown = InvalidParameter(f"before: no job {job_id} to page from")
    row = session.scalars(select(Job).where(Job.job_id == job_id)).first()
    if row is not None and row.type == BATCH_PART:
        raise unknown
    if row is not None and (row.batch_id is None or not _has_parts(session, row.batch_id, {})):
        accounts = job_accounts(row.type, row.account_number, row.to_account)
        if not readable(accounts, row.submitted_by):
            raise unknown
        return row.id, None
    named = batch_and_index(job_id)
    operation = None if named is None else operation_job(session, job_id)
    if named is None or operation is None:
        raise unknown
    accounts = job_accounts(operation.type, operation.account_number, operation.to_account)
    if not readable(accounts, operation.submitted_by):
        raise unknown
    parts = batch_parts(session, named[0])
    part_row = next((p.row_id for p in parts if p.partition == operation.partition), None)
    if part_row is None:  # pragma: no cover - operation_job found the operation in this part
        raise unknown
    return part_row, named[1]


def _has_parts(session: Session, batch_id: str, known: dict[str, bool]) -> bool:
    """Whether the batch keeps its operations in parts (every batch accepted since parts
    exist) rather than as a row each (those accepted before)."""
    if batch_id not in known:
        known[batch_id] = bool(batch_parts(session, batch_id))
    return known[batch_id]


def _jobs(session: Session, items: list[_Item]) -> list[Job]:
    """The page's jobs; a batch operation that has a row of its own (a reversal marked
    it since) is answered by its row, as GET /jobs/{id} answers it."""
    ids = [item.row_id for item in items if item.row_id is not None]
    rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(ids)))}
    jobs = [rows[item.row_id] if item.job is None else item.job() for item in items]
    operations = [job.job_id for job in jobs if job.id is None]
    if not operations:
        return jobs
    rows = {
        row.job_id: row for row in session.scalars(select(Job).where(Job.job_id.in_(operations)))
    }
    return [rows.get(job.job_id, job) if job.id is None else job for job in jobs]


_jobs_table = Job.__table__
_ROWS = select(
    _jobs_table.c.id,
    _jobs_table.c.job_id,
    _jobs_table.c.type,
    _jobs_table.c.batch_id,
    _jobs_table.c.account_number,
    _jobs_table.c.to_account,
    _jobs_table.c.status,
    _jobs_table.c.submitted_by,
    _jobs_table.c.created_at,
    _jobs_table.c.request_id,
    _jobs_table.c.partition,
).order_by(_jobs_table.c.id.desc())
