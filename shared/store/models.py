"""Tables: accounts, accepted operations (jobs), the ledger, and one lock row per partition."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
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
HOLD = "hold"
CAPTURE = "capture"
VOID = "void"
TRANSFER = "transfer"
REVERSAL = "reversal"
UPDATE_ACCOUNT = "update_account"  # a PATCH of the account's status or daily limit
TRANSFER_OUT = "transfer_out"
TRANSFER_IN = "transfer_in"
# A row that carries one partition's operations of a batch (see
# shared.accepting.batch_queue); it is never a job of the API. Queued until its last
# operation is applied, then succeeded, and kept: it holds what its operations were.
BATCH_PART = "batch_part"
OPERATION_TYPES = (WITHDRAW, DEPOSIT)
# The types a batch operation may have.
BATCH_TYPES = (WITHDRAW, DEPOSIT, TRANSFER)
# What a job is, as the API names it (a batch part is not one: it holds a batch's).
JOB_TYPES = (*OPERATION_TYPES, HOLD, CAPTURE, VOID, TRANSFER, REVERSAL, UPDATE_ACCOUNT)
JOB_STATUSES = (QUEUED, PROCESSING, SUCCEEDED, FAILED)
# Every type a ledger entry can have (history's `?type=` filter takes any of them).
LEDGER_TYPES = (OPENING, DEPOSIT, WITHDRAW, TRANSFER_OUT, TRANSFER_IN, CAPTURE, REVERSAL)
# Succeeded jobs of these types can be reversed.
REVERSIBLE_TYPES = (DEPOSIT, WITHDRAW, TRANSFER, CAPTURE)

ACTIVE = "active"
FROZEN = "frozen"
CLOSED = "closed"
ACCOUNT_STATUSES = (ACTIVE, FROZEN, CLOSED)

# Hold statuses (ACTIVE too).
CAPTURED = "captured"
VOIDED = "voided"
EXPIRED = "expired"

# A reversal's ledger entry says which way it moved money; other types imply it.
DEBIT = "debit"
CREDIT = "credit"
DEBIT_TYPES = frozenset({WITHDRAW, TRANSFER_OUT, CAPTURE})
CREDIT_TYPES = frozenset({OPENING, DEPOSIT, TRANSFER_IN})

# Written as literal SQL so that SQLite's planner can match it to the partial index below
# (it cannot prove that a bound parameter equals 'queued').
IS_QUEUED = text(f"status = '{QUEUED}'")
IS_FAILED = text(f"status = '{FAILED}'")
HAS_TARGET = text("target_id IS NOT NULL")
# The rows of ix_jobs_batch; a query by batch repeats it word for word, which is how
# SQLite (and PostgreSQL) know the partial index holds what it asks for. The 15th
# character of a job id is its UUID version: 8 for an operation of a batch written once.
# Its names are bare, as in the index: for queries of `jobs` alone.
IN_BATCH_INDEX = text("batch_id IS NOT NULL AND substr(job_id, 15, 1) <> '8'")
IS_ACTIVE = text(f"status = '{ACTIVE}'")
# Every ANCHOR_EVERY-th entry of an account, starting with its first, is in the ledger's
# index by account (ix_transactions_anchors); the others are reached through `prev_id`.
ANCHOR_EVERY = 16
IS_ANCHOR = text(f"seq % {ANCHOR_EVERY} = 1")

# Webhook events, and the statuses of their deliveries.
JOB_SUCCEEDED = "job.succeeded"
JOB_FAILED = "job.failed"
BATCH_COMPLETED = "batch.completed"
HOLD_EXPIRED = "hold.expired"
EVENT_TYPES = (JOB_SUCCEEDED, JOB_FAILED, BATCH_COMPLETED, HOLD_EXPIRED)
PENDING = "pending"
DELIVERED = "delivered"
IS_PENDING = text(f"status = '{PENDING}'")
UNSEQUENCED = text("position IS NULL")


def utcnow() -> datetime:
    return datetime.now(UTC)


def job_accounts(kind: str, account_number: str, to_account: str | None) -> tuple[str, ...]:
    """The accounts a job belongs to, for lists and the events feed: its own, and the other
    one that a transfer (or the reversal of one) moves money on."""
    if to_account is not None and kind in (TRANSFER, REVERSAL):
        return (account_number, to_account)
    return (account_number,)


def entry_direction(entry_type: str, direction: str | None) -> str | None:
    """Which way a ledger entry moved money, DEBIT or CREDIT: as its type implies, or as a
    reversal's entry says (None for one that does not)."""
    if entry_type in DEBIT_TYPES:
        return DEBIT
    if entry_type in CREDIT_TYPES:
        return CREDIT
    return direction


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    account_number: Mapped[str] = mapped_column(String(34), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    opening_balance: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Controls. Nullable only so that init-db can add them to an older table; the code
    # reads a missing value as its default (active, nothing held, no limit).
    status: Mapped[str | None] = mapped_column(String(16), default=ACTIVE)
    # The sum of the account's active holds: available balance = balance - held.
    held: Mapped[int | None] = mapped_column(BigInteger, default=0)
    daily_withdrawal_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # What counts against the limit on `limit_day` (a UTC date, YYYY-MM-DD).
    limit_day: Mapped[str | None] = mapped_column(String(10), default=None)
    withdrawn_on_limit_day: Mapped[int | None] = mapped_column(BigInteger, default=0)
    # How far below zero a debit other than a capture may take the balance (null: 0).
    overdraft_limit: Mapped[int | None] = mapped_column(BigInteger, default=0)
    # No earlier than the `created_at` of its last ledger entry (the time of the last apply
    # transaction that changed the account): its next entry is never dated before it.
    last_entry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # The account's newest ledger entry (null: none yet) and how many it has: where a walk
    # of its history starts, and the `seq` its next entry gets.
    last_entry_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    entry_count: Mapped[int | None] = mapped_column(BigInteger, default=0)

    @property
    def available_balance(self) -> int:
        return self.balance - (self.held or 0)


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
        # A batch's parts, and the operations of batches accepted before they were
        # written once: a later operation's job id (a UUIDv8) already orders it by batch
        # and index in the index of job ids, and an entry here would cost its apply.
        Index(
            "ix_jobs_batch",
            "batch_id",
            "batch_index",
            sqlite_where=IN_BATCH_INDEX,
            postgresql_where=IN_BATCH_INDEX,
        ),
        # The most recent failures, for the console, without walking every job.
        Index("ix_jobs_failed", "id", sqlite_where=IS_FAILED, postgresql_where=IS_FAILED),
        # Reversals of a job, to refuse a second one at once; captures and voids of a hold.
        # Partial: most jobs name no target, and an index entry per job would cost every
        # apply an insert for nothing (a `target_id = ?` lookup implies the condition).
        Index(
            "ix_jobs_target",
            "target_id",
            sqlite_where=HAS_TARGET,
            postgresql_where=HAS_TARGET,
        ),
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
    # A transfer's destination; a reversal's other account (credited back), if it has one.
    to_account: Mapped[str | None] = mapped_column(String(34), default=None)
    # A transfer's destination balance after it (new_balance is the source's).
    to_balance: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The hold a hold, capture or void is about; the job a reversal reverses.
    target_id: Mapped[str | None] = mapped_column(String(36), default=None)
    # Operation-specific input as compact JSON: a hold's expires_in, a PATCH's fields.
    details: Mapped[str | None] = mapped_column(Text, default=None)
    # The data of the operation's 200 answer, as compact JSON, for the types beyond
    # withdraw and deposit (whose answer follows from the columns above).
    result: Mapped[str | None] = mapped_column(Text, default=None)
    # The reversal that undid this job, set in the reversal's transaction.
    reversed_by: Mapped[str | None] = mapped_column(String(36), default=None)
    # The API key that submitted it (null with ATM_AUTH=off).
    submitted_by: Mapped[str | None] = mapped_column(String(36), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Batch(Base):
    """A group of operations submitted together; its jobs carry its id and their index.

    Until applied, its operations wait in its parts (shared.accepting.batch_queue), not as jobs."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
    # How many of its jobs have been applied, counted by the apply transactions: the one
    # that reaches `total` knows the batch is complete (for its batch.completed event)
    # without counting the jobs. Null on batches from before it was kept.
    applied: Mapped[int | None] = mapped_column(Integer, default=0)
    # How many of the applied failed, and when the last one was applied: with `applied`
    # they answer GET /batches/{id} without reading the batch's jobs. Null on batches
    # accepted before they were kept, whose jobs are counted instead.
    failed: Mapped[int | None] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_by: Mapped[str | None] = mapped_column(String(36), default=None)
    # All of its operations applied in one transaction, or none (shared.ledger.atomic).
    atomic: Mapped[bool] = mapped_column(Boolean, server_default=false())

    # A key's own batches, newest first (GET /batches for a key that is not admin).
    __table_args__ = (Index("ix_batches_submitted_by", "submitted_by", "batch_id"),)


class BatchOutcomes(Base):
    """What became of a run of a batch part's operations: one row per part and apply
    transaction, instead of a job row per operation.

    `outcomes` is a compact JSON list, one item per operation of the run, each starting
    with the operation's index in the batch; `first_index` is the first of them
    (shared.accepting.batch_operations reads it). The part keeps the operations
    themselves, so the pair answers for every applied operation of the batch; an operation
    gets a job row of its own only when something later changes it (a reversal marks it
    `reversed_by`).
    """

    __tablename__ = "batch_outcomes"

    part_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    outcomes: Mapped[str] = mapped_column(Text)
    applied_by: Mapped[str | None] = mapped_column(String(128), default=None)
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerEntry(Base):
    """A movement of money. A job moves money at most once on each account: (job_id,
    account_number) is unique, which lets a transfer (or its reversal) write one leg on
    each of its two accounts and nothing more.

    An account's entries form a chain, newest to oldest, through `prev_id`; `seq` numbers
    them from 1, in the order of their ids (and of their dates). Only every ANCHOR_EVERY-th
    is in an index by account: an index entry per ledger row would put a random index page
    in every apply transaction's writes for each entry (most of the ledger's cost), where
    the chain costs two columns of the row being written anyway (shared.ledger.chain).
    """

    __tablename__ = "transactions"
    __table_args__ = (
        Index(
            "ix_transactions_anchors",
            "account_number",
            "seq",
            sqlite_where=IS_ANCHOR,
            postgresql_where=IS_ANCHOR,
        ),
        Index("ux_transactions_job_account", "job_id", "account_number", unique=True),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # No foreign key: every entry is written for an account its apply transaction read and
    # locked, and no account is deleted; the audit checks it (revision 0013 says why).
    account_number: Mapped[str] = mapped_column(String(34))
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=SUCCEEDED)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(128), default=None)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, default=None)
    # Set on reversal entries only (debit or credit); every other type implies its sign.
    direction: Mapped[str | None] = mapped_column(String(6), default=None)
    # Set only on an entry that left its account's available balance below zero: the
    # account's overdraft limit at that moment (the audit checks the entry against it).
    overdraft_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The account's previous entry (null for its first) and this one's place among its
    # entries, from 1 (never null: an entry without it would fall out of the chain).
    prev_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seq: Mapped[int] = mapped_column(BigInteger)


class Hold(Base):
    """Money reserved on an account by a hold job, until captured, voided or expired.

    Only the owner of the account's partition writes it, in the transaction that also
    changes the account's `held` sum, so `available_balance` is exact at every moment.
    """

    __tablename__ = "holds"
    __table_args__ = (
        # The due holds of a partition, for expiry, without walking finished ones.
        Index(
            "ix_holds_active",
            "partition",
            "expires_at",
            sqlite_where=IS_ACTIVE,
            postgresql_where=IS_ACTIVE,
        ),
        # Whether any partition has a hold due, in a range empty when none is (0014).
        Index("ix_holds_due", "expires_at", sqlite_where=IS_ACTIVE, postgresql_where=IS_ACTIVE),
    )

    hold_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36))
    account_number: Mapped[str] = mapped_column(ForeignKey("accounts.account_number"))
    partition: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    captured_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    # The UTC day whose withdrawal limit it counted against when placed.
    limit_day: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str | None] = mapped_column(String(128), default=None)
    metadata_json: Mapped[str | None] = mapped_column("metadata", Text, default=None)
    # Set only on a hold whose placing left the available balance below zero: the account's
    # overdraft limit at that moment (the audit's bound on the available balance).
    overdraft_limit: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Partition(Base):
    """A row per partition, locked by each apply transaction so appliers never overlap, and
    its fence: `epoch` goes up by one each time a worker takes the partition (`owner`), and
    an apply transaction of the worker applies only while the epoch is still the one it
    took (shared.ledger.fences)."""

    __tablename__ = "partitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_by: Mapped[str | None] = mapped_column(String(128), default=None)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    owner: Mapped[str | None] = mapped_column(String(128), default=None)


class ApiKey(Base):
    """A client's API key. The secret is random (256 bits), so its SHA-256 is enough to
    store: nobody can guess a secret from it, and a lookup is one indexed read."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated
    accounts: Mapped[str | None] = mapped_column(Text, default=None)  # JSON list, or no limit
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


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


class EventLog(Base):
    """The events one apply transaction made true, written in it: the feed (GET /events).

    One row per transaction, naming its subjects rather than copying them: `steps` is a
    compact JSON list, in the order applied, of the single jobs it finished (their ids)
    and the runs of batch operations it applied (`[part row id, first index, count]`: the
    run's outcome row holds each one's outcome); `holds` the holds it expired and `batches`
    the batches it completed (space-separated ids). Each names something that no later
    transaction changes, so the events read from it are as that transaction left them.

    `position` is the commit order the feed follows: on SQLite the row's id (write
    transactions run one at a time, so ids are taken in commit order); on PostgreSQL it is
    given after the commit, by the reader (shared.events.feed.sequence), since an id taken
    before a commit does not say when the commit happens.
    """

    __tablename__ = "event_log"
    __table_args__ = (
        Index("ux_event_log_position", "position", unique=True),
        Index(
            "ix_event_log_unsequenced", "id", sqlite_where=UNSEQUENCED, postgresql_where=UNSEQUENCED
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    position: Mapped[int | None] = mapped_column(BigInteger, default=None)
    steps: Mapped[str] = mapped_column(Text, default="[]")
    holds: Mapped[str] = mapped_column(Text, default="")
    batches: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Webhook(Base):
    """A subscription: events of the listed types are POSTed to `url`, signed with `secret`.

    The secret is kept as given (not hashed): signing needs it. A deleted webhook keeps its
    row, for the history of its deliveries, and gets no more events.
    """

    __tablename__ = "webhooks"

    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(String(128))  # space-separated
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WebhookEvent(Base):
    """The outbox: the events one apply transaction made true, of one type, for the webhooks
    subscribed to that type at that moment; written in that transaction.

    One row per type and transaction rather than one per event keeps the applier's cost of
    a subscription to a single insert however many jobs it applied. The sender takes the
    oldest row, sends its events, writes each one's delivery and deletes the row, in one
    transaction; so a row exists until every one of its events has a delivery.
    """

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32))
    webhook_ids: Mapped[str] = mapped_column(Text)  # space-separated
    subject_ids: Mapped[str] = mapped_column(Text)  # job, batch or hold ids, space-separated
    # Each subject's event id in the feed (shared.events.feed), in the same order; null on
    # rows of before the feed, whose events are named from their type and subject.
    event_ids: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # A sender that took the row sends its events until then; past it (the sender died),
    # another takes it and sends them again.
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class WebhookDelivery(Base):
    """One event for one webhook: written by the sender once it first tried to send it, and
    re-sent from here until delivered or out of attempts.

    The event names its subject (a job, batch or hold id) rather than carrying a copy: the
    subject's view is built when it is sent, and nothing in it changes after the event
    (a reversal adds `reversed_by` to a job, which the receiver then sees too).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # What is due to be sent, in due order, without walking finished deliveries.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            sqlite_where=IS_PENDING,
            postgresql_where=IS_PENDING,
        ),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # Derived from the event's type and subject (shared.events.outbox.event_id): one event sent
    # to two webhooks, or sent again, has one id.
    event_id: Mapped[str] = mapped_column(String(36))
    webhook_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
