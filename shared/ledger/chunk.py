"""What a chunk's rules work on: its jobs as the applier reads them, the accounts, holds and
reversal targets it read (changed in memory), and each job's outcome.

Plain tuples and slotted dataclasses: the applier makes one of each per job and per row
read, thousands of times a transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from shared.ledger.money import to_json_number
from shared.store.models import Job
from shared.timestamps import iso


class QueuedJob(NamedTuple):
    """A job as the applier reads it: a plain tuple, since reading a SQLAlchemy Row's
    attributes costs about as much per job as the rest of the rule."""

    id: int | None  # None for a batch operation (see `part`)
    job_id: str
    partition: int
    account_number: str
    type: str
    amount: int
    batch_id: str | None
    reference: str | None
    metadata: str | None
    request_id: str | None
    to_account: str | None
    target_id: str | None
    details: str | None
    batch_index: int | None
    submitted_by: str | None


@dataclass(slots=True)
class PartRun:
    """Operations of one batch part that a chunk applies, in array order, as plain lists.

    A batch operation gets no job object of its own in the applier: at tens of thousands a
    second, making a QueuedJob and an Outcome for each cost about as much as its rule. Each
    `operations` item is stored BatchOperation fields (index, type, account, amount,
    to_account, reference, metadata); the rules append each one's outcome to `outcomes` as
    its part stores it (shared.accepting.batch_operations.encode_run), except that a
    success's transaction id is, until the ledger ids are reserved, the position of its
    first entry in the chunk's `entries`.
    """

    part: int  # the part's row id
    batch_id: str
    request_id: str | None
    prefix: str  # of its operations' job ids (shared.accepting.batch_queue)
    operations: list[list]
    job_ids: list[str] = field(default_factory=list)
    outcomes: list[list] = field(default_factory=list)
    failed: int = 0


@dataclass(slots=True)
class AccountState:
    number: str
    balance: int
    held: int
    status: str
    daily_limit: int | None
    limit_day: str | None
    withdrawn: int  # counted against the limit on limit_day
    overdraft: int = 0  # how far below zero a debit (other than a capture) may take it
    # Its newest ledger entry and how many it has: the chain its new entries extend.
    last_entry_id: int | None = None
    entry_count: int = 0
    created_at: datetime | None = None  # read only for a chunk that changes controls
    changed: bool = False
    controls_changed: bool = False

    @property
    def available(self) -> int:
        return self.balance - self.held

    def view(self) -> dict[str, object]:
        return account_view(
            self.number,
            self.balance,
            self.held,
            self.status,
            self.daily_limit,
            self.created_at,
            self.overdraft,
        )


def account_view(
    number: str,
    balance: int,
    held: int,
    status: str,
    daily_limit: int | None,
    created_at: datetime | None,
    overdraft_limit: int,
) -> dict[str, object]:
    """The contract's account view (GET /accounts/{n}, and a PATCH's answer)."""
    return {
        "account_number": number,
        "balance": to_json_number(balance),
        "available_balance": to_json_number(balance - held),
        "status": status,
        "daily_withdrawal_limit": None if daily_limit is None else to_json_number(daily_limit),
        "overdraft_limit": to_json_number(overdraft_limit),
        "created_at": iso(created_at),
    }


@dataclass(slots=True)
class HoldState:
    hold_id: str
    job_id: str
    account_number: str
    partition: int
    amount: int
    captured_amount: int
    status: str
    limit_day: str
    expires_at: datetime
    reference: str | None = None
    metadata: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    overdraft_limit: int | None = None  # set when placing it took the available below zero
    new: bool = False
    changed: bool = False


@dataclass(slots=True)
class TargetJob:
    """A job a reversal in this chunk names."""

    job_id: str
    type: str
    status: str
    account_number: str
    to_account: str | None
    amount: int
    reversed_by: str | None
    # A batch operation without a row of its own: the job its part and outcome make, which
    # the reversal's transaction saves (with reversed_by) if it reverses it.
    unsaved: Job | None = None


@dataclass
class Chunk:
    """What one apply transaction works on: rows read up front, changes made in memory."""

    now: datetime
    today: str
    accounts: dict[str, AccountState]
    holds: dict[str, HoldState]
    targets: dict[str, TargetJob]
    # Ledger entries to insert, their ids reserved once the rules have run: plain tuples
    # (a named tuple costs more to make, at tens of thousands a second) of account_number,
    # job_id, type, amount, balance_after, reference, metadata, direction, overdraft_limit
    # (set only when the entry left the available balance below zero).
    entries: list[tuple] = field(default_factory=list)
    reversed: dict[str, str] = field(default_factory=dict)  # reversed job id -> reversal id


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
    to_account: str | None = None
    to_balance: int | None = None  # a transfer's destination balance after it
    # The data of the 200 answer, for types whose answer the columns above do not hold.
    result: dict[str, object] | None = None

    def to_message(self) -> dict[str, object]:
        # dataclasses.asdict deep-copies, which is too slow at thousands of jobs a second
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_message(cls, message: dict[str, object]) -> Outcome:
        return cls(**message)  # type: ignore[arg-type]

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
            to_account=job.to_account,
            to_balance=job.to_balance,
            result=json.loads(job.result) if job.result else None,
        )
