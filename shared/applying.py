"""The rules for applying a partition's queued operations: in order, exactly once, no overdraft."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from sqlalchemy import CompoundSelect, bindparam, insert, select, union_all, update
from sqlalchemy.orm import Session

from shared.bulk import BulkStatement, reserve_ids
from shared.errors import AccountNotFound, InsufficientFunds
from shared.models import (
    FAILED,
    IS_QUEUED,
    SUCCEEDED,
    WITHDRAW,
    Account,
    Job,
    LedgerEntry,
    Partition,
    utcnow,
)
from shared.money import format_cents


@dataclass(slots=True)
class Outcome:
    """What became of one job; published to waiting clients after the commit."""

    job_id: str
    account_number: str
    type: str
    amount: int
    status: str
    new_balance: int | None = None
    transaction_id: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    batch_id: str | None = None
    request_id: str | None = None

    def to_message(self) -> dict[str, object]:
        # dataclasses.asdict deep-copies, which is too slow at thousands of jobs a second
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_job(cls, job: Job) -> Outcome:
        return cls(
            job_id=job.job_id,
            account_number=job.account_number,
            type=job.type,
            amount=job.amount,
            status=job.status,
            new_balance=job.new_balance,
            transaction_id=job.transaction_id,
            error_type=job.error_type,
            error_message=job.error_message,
            batch_id=job.batch_id,
            request_id=job.request_id,
        )

    @classmethod
    def from_message(cls, message: dict[str, object]) -> Outcome:
        return cls(**message)  # type: ignore[arg-type]


class QueuedJob(NamedTuple):
    """A job as the applier reads it: a plain tuple, since reading a SQLAlchemy Row's
    attributes costs about as much per job as the rest of the rule."""

    id: int
    job_id: str
    account_number: str
    type: str
    amount: int
    batch_id: str | None
    reference: str | None
    metadata: str | None
    request_id: str | None


def has_pending(session: Session, partitions: Sequence[int]) -> bool:
    """Whether any of `partitions` has a queued job: a cheap read before taking the write lock."""
    return session.scalar(_ANY_QUEUED, {"partitions": list(partitions)}) is not None


def apply_pending(
    session: Session, partitions: Sequence[int], limit: int, applied_by: str
) -> list[Outcome]:
    """Apply up to `limit` queued jobs of `partitions`, each partition's in acceptance order.

    Runs inside the caller's write transaction. The partition rows are locked first, so two
    processes that both believe they own a partition still apply it one at a time; a job
    leaves `queued` in the same transaction that moves its money, so a redelivered or
    duplicated wake-up finds nothing left to apply. Each job succeeds or fails on its own.
    Several partitions of one owner share a transaction; an account belongs to one
    partition, so applying each partition in id order keeps every account's order.
    """
    partitions = list(partitions)
    session.execute(_LOCK_PARTITIONS, {"partitions": partitions, "applied_by": applied_by})
    jobs = _queued_jobs(session, partitions, limit)
    if not jobs:
        return []
    balances = _balances(session, {job.account_number for job in jobs})
    outcomes = [_decide(job, balances) for job in jobs]
    succeeded = [(job, o) for job, o in zip(jobs, outcomes, strict=True) if o.status == SUCCEEDED]
    for (_, outcome), entry_id in zip(
        succeeded, reserve_ids(session, _ledger, len(succeeded)), strict=True
    ):
        outcome.transaction_id = entry_id
    now = utcnow()
    _INSERT_ENTRIES.executemany(
        session,
        [
            (
                o.transaction_id,
                o.account_number,
                o.job_id,
                o.type,
                o.amount,
                o.new_balance,
                job.reference,
                job.metadata,
            )
            for job, o in succeeded
        ],
        {"status": SUCCEEDED, "created_at": now},
    )
    _SET_BALANCE.executemany(
        session, [(number, balances[number]) for number in {o.account_number for _, o in succeeded}]
    )
    _FINISH_JOB.executemany(
        session,
        [
            (job.id, o.status, o.new_balance, o.transaction_id, o.error_type, o.error_message)
            for job, o in zip(jobs, outcomes, strict=True)
        ],
        {"applied_by": applied_by, "completed_at": now},
    )
    return outcomes


def _queued_jobs(session: Session, partitions: list[int], limit: int) -> list[QueuedJob]:
    """Up to `limit` queued jobs, each partition's in id order.

    Every partition gets an equal share first, so a single withdrawal is not stuck behind
    another partition's batch of 100,000; the share a quiet partition leaves is then
    divided among those with more. Each read walks one partition's queue index in order
    and stops at its limit.
    """
    if not partitions:
        return []
    taken: dict[int, list[QueuedJob]] = {partition: [] for partition in partitions}
    first = partitions[:limit]
    share = max(1, limit // len(first))
    parameters = {"share": share, **{f"p{index}": p for index, p in enumerate(first)}}
    # The first equal shares of every partition in one statement: with a single waiting
    # request, one read of each partition would cost more than the rest of the chunk.
    for partition, *job in session.execute(_first_shares(len(first)), parameters):
        taken[partition].append(QueuedJob(*job))
    for rows in taken.values():
        rows.sort()  # by id: the order of a UNION ALL's rows is not guaranteed
    remaining = limit - sum(map(len, taken.values()))
    hungry = [partition for partition in first if len(taken[partition]) == share]
    while hungry and remaining > 0:
        share, still_hungry = max(1, remaining // len(hungry)), []
        for partition in hungry[:remaining]:
            rows = taken[partition]
            after = rows[-1].id if rows else 0
            wanted = min(share, remaining)
            parameters = {"partition": partition, "after": after, "limit": wanted}
            fetched = [QueuedJob(*row) for row in session.execute(_QUEUED_JOBS, parameters)]
            rows.extend(fetched)
            remaining -= len(fetched)
            if len(fetched) == wanted:
                still_hungry.append(partition)
        hungry = still_hungry
    return [job for rows in taken.values() for job in rows]


@cache
def _first_shares(count: int) -> CompoundSelect:
    """Up to :share queued jobs of each of the partitions :p0 … :p<count-1>, as
    (partition, *QueuedJob) rows; one statement per partition count, built once."""
    columns = [_jobs.c.partition, *(_jobs.c[name] for name in QueuedJob._fields)]
    shares = [
        select(*columns)
        .where(_jobs.c.partition == bindparam(f"p{index}"), IS_QUEUED)
        .order_by(_jobs.c.id)
        .limit(bindparam("share"))
        .subquery()
        for index in range(count)
    ]
    return union_all(*(select(share) for share in shares))


def _decide(job: QueuedJob, balances: dict[str, int]) -> Outcome:
    """The rule for one job. `balances` holds the running balances, updated on success."""
    outcome = Outcome(
        job.job_id,
        job.account_number,
        job.type,
        job.amount,
        SUCCEEDED,
        batch_id=job.batch_id,
        request_id=job.request_id,
    )
    balance = balances.get(job.account_number)
    if balance is None:
        outcome.status, outcome.error_type = FAILED, AccountNotFound.type
        outcome.error_message = f"account {job.account_number} not found"
    elif job.type == WITHDRAW and balance < job.amount:
        outcome.status, outcome.error_type = FAILED, InsufficientFunds.type
        outcome.error_message = f"insufficient funds for a withdrawal of {format_cents(job.amount)}"
    else:
        balance += -job.amount if job.type == WITHDRAW else job.amount
        balances[job.account_number] = outcome.new_balance = balance
    return outcome


def _balances(session: Session, numbers: set[str]) -> dict[str, int]:
    rows = session.execute(_BALANCES, {"numbers": sorted(numbers)})
    return {number: balance for number, balance in rows}


# Statements built once, with bound parameters (IN lists expand at execution), and executed
# with many parameter sets at once: building expressions or running the ORM's unit of work
# per call would cost more than the SQL itself at thousands of rows per second.
_accounts, _jobs, _ledger = Account.__table__, Job.__table__, LedgerEntry.__table__
_PARTITIONS = bindparam("partitions", expanding=True)
_ANY_QUEUED = select(_jobs.c.id).where(_jobs.c.partition.in_(_PARTITIONS), IS_QUEUED).limit(1)
_LOCK_PARTITIONS = (
    update(Partition.__table__)
    .where(Partition.__table__.c.id.in_(_PARTITIONS))
    .values(applied_by=bindparam("applied_by"))
)
_QUEUED_JOBS = (
    select(*(_jobs.c[name] for name in QueuedJob._fields))  # QueuedJob(*row) relies on it
    .where(_jobs.c.partition == bindparam("partition"), IS_QUEUED, _jobs.c.id > bindparam("after"))
    .order_by(_jobs.c.id)
    .limit(bindparam("limit"))
)
_BALANCES = select(_accounts.c.account_number, _accounts.c.balance).where(
    _accounts.c.account_number.in_(bindparam("numbers", expanding=True))
)
_SET_BALANCE = BulkStatement(
    update(_accounts)
    .where(_accounts.c.account_number == bindparam("key"))
    .values(balance=bindparam("balance")),
    columns=("key", "balance"),
)
_FINISH_JOB = BulkStatement(
    update(_jobs)
    .where(_jobs.c.id == bindparam("key"))
    .values(
        {
            name: bindparam(name)
            for name in (
                "status",
                "new_balance",
                "transaction_id",
                "error_type",
                "error_message",
                "applied_by",
                "completed_at",
            )
        }
    ),
    columns=("key", "status", "new_balance", "transaction_id", "error_type", "error_message"),
)
_INSERT_ENTRIES = BulkStatement(
    insert(_ledger),
    columns=(
        "id",
        "account_number",
        "job_id",
        "type",
        "amount",
        "balance_after",
        "reference",
        "metadata",
    ),
)
