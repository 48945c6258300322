"""Tables: accounts, accepted operations (jobs), the ledger, and one lock row per partition."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

QUEUED = "queued"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED})

WITHDRAW = "withdraw"
DEPOSIT = "deposit"
OPENING = "opening"
OPERATION_TYPES = (WITHDRAW, DEPOSIT)
# Every type a ledger entry can have (history's `?type=` filter takes any of them).
LEDGER_TYPES = (OPENING, DEPOSIT, WITHDRAW, "transfer_out", "transfer_in", "capture", "reversal")

# Written as literal SQL so that SQLite's planner can match it to the partial index below
# (it cannot prove that a bound parameter equals 'queued').
IS_QUEUED = text(f"status = '{QUEUED}'")
IS_FAILED = text(f"status = '{FAILED}'")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    account_number: Mapped[str] = mapped_column(String(34), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    opening_balance: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """One accepted withdraw or deposit; `id` is the acceptance order within a partition.

    The queue is the partial index `ix_jobs_queued`: it holds only queued jobs, in id order
    per partition, so finding the next work never sorts and applying a job just removes its
    entry instead of moving it within an index of every job ever accepted.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "ix_jobs_queued", "partition", "id", sqlite_where=IS_QUEUED, postgresql_where=IS_QUEUED
        ),
        Index("ix_jobs_batch", "batch_id", "batch_index"),
        # The most recent failures, for the console, without walking every job.
        Index("ix_jobs_failed", "id", sqlite_where=IS_FAILED, postgresql_where=IS_FAILED),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(36), unique=True)
    partition: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    account_number: Mapped[str] = mapped_column(String(34))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    new_balance: Mapped[int | None] = mapped_column(BigInteger, default=None)
    transaction_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    error_type: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(String(255), default=None)
    applied_by: Mapped[str | None] = mapped_column(String(128), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(36), default=None)
    batch_index: Mapped[int | None] = mapped_column(Integer, default=None)
    # The client's own reference and metadata (compact JSON text), copied to the ledger.
    reference: Mapped[str | None] = mapped_column(String(128), default=None)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, default=None)
    # The X-Request-ID of the request that submitted it, for the applier's log line.
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Batch(Base):
    """A group of operations submitted together; its jobs carry its id and their index."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerEntry(Base):
    """A movement of money; `job_id` is unique so no job can move money twice."""

    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_account_id", "account_number", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account_number: Mapped[str] = mapped_column(ForeignKey("accounts.account_number"))
    job_id: Mapped[str | None] = mapped_column(String(36), unique=True, default=None)
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=SUCCEEDED)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(128), default=None)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Partition(Base):
    """A row per partition, locked by each apply transaction so appliers never overlap."""

    __tablename__ = "partitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_by: Mapped[str | None] = mapped_column(String(128), default=None)


class IdempotencyKey(Base):
    """A client's Idempotency-Key, stored in the transaction that accepted its work."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    response_status: Mapped[int | None] = mapped_column(Integer, default=None)
    response_body: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
