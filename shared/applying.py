"""The rules for applying a partition's queued operations: in order, exactly once, no overdraft."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from shared.errors import AccountNotFound, InsufficientFunds
from shared.models import (
    FAILED,
    QUEUED,
    SUCCEEDED,
    WITHDRAW,
    Account,
    Job,
    LedgerEntry,
    Partition,
    utcnow,
)
from shared.money import format_cents


@dataclass(frozen=True)
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

    def to_message(self) -> dict[str, object]:
        return asdict(self)

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
        )

    @classmethod
    def from_message(cls, message: dict[str, object]) -> Outcome:
        return cls(**message)  # type: ignore[arg-type]


def apply_pending(session: Session, partition: int, limit: int, applied_by: str) -> list[Outcome]:
    """Apply up to `limit` queued jobs of `partition` in acceptance (id) order.

    Runs inside the caller's write transaction. The partition row is locked first, so two
    processes that both believe they own the partition still apply it one at a time; a job
    leaves `queued` in the same transaction that moves its money, so a redelivered or
    duplicated wake-up finds nothing left to apply. Each job succeeds or fails on its own.
    """
    session.execute(
        update(Partition).where(Partition.id == partition).values(applied_by=applied_by)
    )
    jobs = session.execute(
        select(Job.id, Job.job_id, Job.account_number, Job.type, Job.amount)
        .where(Job.partition == partition, Job.status == QUEUED)
        .order_by(Job.id)
        .limit(limit)
    ).all()
    if not jobs:
        return []
    numbers = {job.account_number for job in jobs}
    balances: dict[str, int] = dict(
        session.execute(
            select(Account.account_number, Account.balance).where(
                Account.account_number.in_(numbers)
            )
        ).all()
    )
    now = utcnow()
    decided: list[tuple[object, int | None, str | None, str | None]] = []
    entries: list[dict[str, object]] = []
    for job in jobs:
        balance = balances.get(job.account_number)
        if balance is None:
            decided.append(
                (job, None, AccountNotFound.type, f"account {job.account_number} not found")
            )
            continue
        if job.type == WITHDRAW and balance < job.amount:
            message = f"insufficient funds for a withdrawal of {format_cents(job.amount)}"
            decided.append((job, None, InsufficientFunds.type, message))
            continue
        balance += -job.amount if job.type == WITHDRAW else job.amount
        balances[job.account_number] = balance
        decided.append((job, balance, None, None))
        entries.append(
            {
                "account_number": job.account_number,
                "job_id": job.job_id,
                "type": job.type,
                "amount": job.amount,
                "balance_after": balance,
                "created_at": now,
            }
        )
    entry_ids = iter(_insert_entries(session, entries))
    touched = {entry["account_number"] for entry in entries}
    if touched:
        session.execute(
            update(Account), [{"account_number": n, "balance": balances[n]} for n in touched]
        )
    outcomes: list[Outcome] = []
    job_rows: list[dict[str, object]] = []
    for job, new_balance, error_type, error_message in decided:
        transaction_id = next(entry_ids) if error_type is None else None
        outcome = Outcome(
            job_id=job.job_id,
            account_number=job.account_number,
            type=job.type,
            amount=job.amount,
            status=SUCCEEDED if error_type is None else FAILED,
            new_balance=new_balance,
            transaction_id=transaction_id,
            error_type=error_type,
            error_message=error_message,
        )
        outcomes.append(outcome)
        job_rows.append(
            {
                "id": job.id,
                "status": outcome.status,
                "new_balance": new_balance,
                "transaction_id": transaction_id,
                "error_type": error_type,
                "error_message": error_message,
                "applied_by": applied_by,
                "completed_at": now,
            }
        )
    session.execute(update(Job), job_rows)
    return outcomes


def _insert_entries(session: Session, entries: list[dict[str, object]]) -> list[int]:
    if not entries:
        return []
    statement = insert(LedgerEntry).returning(LedgerEntry.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, entries))
