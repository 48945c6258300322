"""The rules of every operation, applied to a chunk's accounts and holds held in memory.

The applier reads (and on PostgreSQL locks) every row a chunk can touch, runs these rules
job by job in acceptance order, and writes back what changed in the same transaction; a
rule only changes the in-memory state and adds ledger entries. Each rule either succeeds
completely or fails with an error type and changes nothing. What they work on (the jobs
as read, the accounts and holds, each job's outcome) is in shared.ledger.chunk.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from shared.errors import (
    AccountClosed,
    AccountFrozen,
    AccountNotEmpty,
    AccountNotFound,
    AlreadyReversed,
    BatchAborted,
    DomainError,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    JobNotFound,
    LimitExceeded,
    NotReversible,
)
from shared.ledger.chunk import AccountState, Chunk, HoldState, Outcome, PartRun, QueuedJob
from shared.ledger.money import format_cents, to_json_number
from shared.store.models import (
    ACTIVE,
    CAPTURE,
    CAPTURED,
    CLOSED,
    CREDIT,
    DEBIT,
    DEPOSIT,
    EXPIRED,
    FAILED,
    FROZEN,
    HOLD,
    REVERSAL,
    REVERSIBLE_TYPES,
    SUCCEEDED,
    TRANSFER,
    TRANSFER_IN,
    TRANSFER_OUT,
    UPDATE_ACCOUNT,
    VOID,
    VOIDED,
    WITHDRAW,
)
from shared.timestamps import iso


class _Failed(Exception):
    def __init__(self, error: type[DomainError], message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def decide(job: QueuedJob, chunk: Chunk) -> Outcome:
    """Apply one job's rule to the chunk's state; the outcome says what became of it."""
    outcome = Outcome(
        job.job_id,
        job.account_number,
        job.type,
        job.amount,
        SUCCEEDED,
        None,
        None,
        None,
        None,
        job.batch_id,
        job.request_id,
        job.to_account,
    )
    first_entry = len(chunk.entries)
    try:
        RULES[job.type](job, chunk, outcome)
        if len(chunk.entries) > first_entry:
            outcome.transaction_id = first_entry  # a position, until the ids are reserved
    except _Failed as failure:
        # Every rule checks everything before it changes anything (ending an expired hold
        # it meets is the one change that stands), so a failure leaves no entry behind.
        outcome.status, outcome.error_type = FAILED, failure.error.type
        outcome.error_message = failure.message
        outcome.new_balance = outcome.to_balance = outcome.result = None
    return outcome


def decide_run(run: PartRun, chunk: Chunk) -> None:
    """Apply a run of batch operations in array order, each by the same rule as a single
    job of its type, and record each one's outcome in the run (see PartRun)."""
    prefix, job_ids, outcomes, entries = run.prefix, run.job_ids, run.outcomes, chunk.entries
    for index, kind, number, amount, to_account, reference, metadata in run.operations:
        job_id = f"{prefix}{index:04x}"
        job_ids.append(job_id)
        first_entry = len(entries)
        try:
            if kind == TRANSFER:
                balance, to_balance = transfer(
                    chunk, job_id, number, to_account or "", amount, reference, metadata
                )
                outcomes.append([index, balance, first_entry, to_balance])
            else:
                balance = _MONEY_RULES[kind](chunk, job_id, number, amount, reference, metadata)
                outcomes.append([index, balance, first_entry])
        except _Failed as failure:
            outcomes.append([index, failure.error.type, failure.message])
            run.failed += 1


def decide_atomic(runs: list[PartRun], chunk: Chunk) -> None:
    """Apply an atomic batch's operations (its parts' `runs`, between them every operation
    once) in array order, each seeing what the ones before it left; at the first that
    fails, stop and undo: that one keeps its error, every other is failed `batch_aborted`,
    and the chunk is left with no entry and no account changed.

    Undoing puts back the accounts as they were before the first operation (the due holds
    the chunk expired stay expired) and forgets the entries made since.
    """
    in_order = sorted(
        ((operation, run) for run in runs for operation in run.operations), key=lambda p: p[0][0]
    )
    before = {number: replace(account) for number, account in chunk.accounts.items()}
    entries_before = len(chunk.entries)
    failure: list | None = None
    for operation, run in in_order:
        single = PartRun(run.part, run.batch_id, run.request_id, run.prefix, [operation])
        decide_run(single, chunk)
        run.job_ids.extend(single.job_ids)
        run.outcomes.extend(single.outcomes)
        if single.failed:
            failure = single.outcomes[0]
            break
    if failure is None:
        return
    index, error_type = failure[0], failure[1]
    message = f"batch aborted: operation {index} failed ({error_type}); nothing was applied"
    for run in runs:
        run.job_ids = [f"{run.prefix}{operation[0]:04x}" for operation in run.operations]
        run.outcomes = [
            failure if operation[0] == index else [operation[0], BatchAborted.type, message]
            for operation in run.operations
        ]
        run.failed = len(run.operations)
    del chunk.entries[entries_before:]
    chunk.accounts.update(before)


# --- the checks every rule shares -------------------------------------------------------


def _account(chunk: Chunk, number: str) -> AccountState:
    account = chunk.accounts.get(number)
    if account is None:
        raise _Failed(AccountNotFound, f"account {number} not found")
    return account


def _open(account: AccountState) -> AccountState:
    """The account, if it may change its balance or take a hold."""
    if account.status == CLOSED:
        raise _Failed(AccountClosed, f"account {account.number} is closed")
    if account.status == FROZEN:
        raise _Failed(AccountFrozen, f"account {account.number} is frozen")
    return account


def _check_debit(account: AccountState, amount: int, today: str, *, counts: bool) -> None:
    """A debit needs the money available, its overdraft limit included; withdrawals,
    transfers out and holds also need room under the day's limit."""
    _open(account)
    if amount > account.available + account.overdraft:
        overdraft = account.overdraft
        raise _Failed(
            InsufficientFunds,
            f"insufficient funds for {format_cents(amount)}: "
            f"{format_cents(account.available)} available"
            + (f" with an overdraft limit of {format_cents(overdraft)}" if overdraft else ""),
        )
    if counts and account.daily_limit is not None:
        used = account.withdrawn if account.limit_day == today else 0
        if used + amount > account.daily_limit:
            raise _Failed(
                LimitExceeded,
                f"{format_cents(amount)} would exceed the daily withdrawal limit of "
                f"{format_cents(account.daily_limit)} ({format_cents(used)} used today)",
            )


def _count_against_limit(account: AccountState, amount: int, today: str) -> None:
    """Counted whether or not a limit is set, so a limit set later in the day sees it."""
    if account.limit_day != today:
        account.limit_day, account.withdrawn = today, 0
    account.withdrawn += amount


def _give_back(account: AccountState, amount: int, day: str) -> None:
    """A hold that stops counting (voided, expired, captured for less) frees its day's room."""
    if account.limit_day == day:
        account.withdrawn = max(0, account.withdrawn - amount)


def _move(
    chunk: Chunk,
    account: AccountState,
    job_id: str,
    reference: str | None,
    metadata: str | None,
    entry_type: str,
    delta: int,
    direction: str | None = None,
) -> None:
    account.balance += delta
    account.changed = True
    chunk.entries.append(
        (
            account.number,
            job_id,
            entry_type,
            delta if delta > 0 else -delta,
            account.balance,
            reference,
            metadata,
            direction,
            account.overdraft if account.balance < account.held else None,  # available < 0
        )
    )


def _entry_of(job: QueuedJob) -> tuple[str, str | None, str | None]:
    """What a job's ledger entries carry of it: its id, reference and metadata."""
    return job.job_id, job.reference, job.metadata


def release_hold(chunk: Chunk, hold: HoldState, status: str) -> None:
    """End an active hold without capturing it (voided or expired): its money is available
    again and it stops counting against the limit."""
    account = chunk.accounts[hold.account_number]
    account.held -= hold.amount
    _give_back(account, hold.amount, hold.limit_day)
    account.changed = True
    hold.status, hold.completed_at, hold.changed = status, chunk.now, True


def expire_due_holds(chunk: Chunk) -> int:
    """Expire every active hold in the chunk whose expiry has come; returns how many."""
    due = [h for h in chunk.holds.values() if h.status == ACTIVE and chunk.now >= h.expires_at]
    for hold in due:
        release_hold(chunk, hold, EXPIRED)
    return len(due)


def _active_hold(job: QueuedJob, chunk: Chunk) -> HoldState:
    hold = chunk.holds.get(job.target_id or "")
    # The web sends a capture or void as an operation of the hold's own account; checked
    # here too, so that no other account's money could ever move by naming the hold.
    if hold is None or hold.account_number != job.account_number:
        raise _Failed(HoldNotFound, f"hold {job.target_id} not found")
    if hold.status == ACTIVE and chunk.now >= hold.expires_at:
        release_hold(chunk, hold, EXPIRED)  # decided by this clock, whether or not swept
    if hold.status != ACTIVE:
        raise _Failed(HoldNotActive, f"hold {hold.hold_id} is {hold.status}")
    return hold


# --- the rules --------------------------------------------------------------------------


def withdraw(
    chunk: Chunk,
    job_id: str,
    number: str,
    amount: int,
    reference: str | None,
    metadata: str | None,
) -> int:
    """The account's balance after the withdrawal (a batch operation's rule as well)."""
    account = _account(chunk, number)
    _check_debit(account, amount, chunk.today, counts=True)
    _count_against_limit(account, amount, chunk.today)
    _move(chunk, account, job_id, reference, metadata, WITHDRAW, -amount)
    return account.balance


def deposit(
    chunk: Chunk,
    job_id: str,
    number: str,
    amount: int,
    reference: str | None,
    metadata: str | None,
) -> int:
    account = _open(_account(chunk, number))
    _move(chunk, account, job_id, reference, metadata, DEPOSIT, amount)
    return account.balance


def transfer(
    chunk: Chunk,
    job_id: str,
    number: str,
    to_account: str,
    amount: int,
    reference: str | None,
    metadata: str | None,
) -> tuple[int, int]:
    """The source's and the destination's balances after the transfer."""
    source = _account(chunk, number)
    destination = _account(chunk, to_account)
    _check_debit(source, amount, chunk.today, counts=True)
    _open(destination)
    _count_against_limit(source, amount, chunk.today)
    _move(chunk, source, job_id, reference, metadata, TRANSFER_OUT, -amount)
    _move(chunk, destination, job_id, reference, metadata, TRANSFER_IN, amount)
    return source.balance, destination.balance


_MONEY_RULES = {WITHDRAW: withdraw, DEPOSIT: deposit}


def _withdraw(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    outcome.new_balance = withdraw(
        chunk, job.job_id, job.account_number, job.amount, job.reference, job.metadata
    )


def _deposit(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    outcome.new_balance = deposit(
        chunk, job.job_id, job.account_number, job.amount, job.reference, job.metadata
    )


def _hold(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    account = _account(chunk, job.account_number)
    _check_debit(account, job.amount, chunk.today, counts=True)
    _count_against_limit(account, job.amount, chunk.today)
    account.held += job.amount
    account.changed = True
    expires_in = int(json.loads(job.details or "{}").get("expires_in", 600))
    hold = HoldState(
        hold_id=job.target_id or "",
        job_id=job.job_id,
        account_number=account.number,
        partition=job.partition,
        amount=job.amount,
        captured_amount=0,
        status=ACTIVE,
        limit_day=chunk.today,
        expires_at=chunk.now + timedelta(seconds=expires_in),
        reference=job.reference,
        metadata=job.metadata,
        created_at=chunk.now,
        overdraft_limit=account.overdraft if account.available < 0 else None,
        new=True,
    )
    chunk.holds[hold.hold_id] = hold
    outcome.new_balance = account.balance
    outcome.result = {
        "hold_id": hold.hold_id,
        "job_id": job.job_id,
        "account_number": account.number,
        "amount": to_json_number(job.amount),
        "status": ACTIVE,
        "expires_at": iso(hold.expires_at),
        "balance": to_json_number(account.balance),
        "available_balance": to_json_number(account.available),
    }


def _capture(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    account = _open(_account(chunk, job.account_number))
    hold = _active_hold(job, chunk)
    if job.amount > hold.amount:
        raise _Failed(
            InvalidAmount,
            f"cannot capture {format_cents(job.amount)} of a hold of {format_cents(hold.amount)}",
        )
    account.held -= hold.amount
    _give_back(account, hold.amount - job.amount, hold.limit_day)
    _move(chunk, account, *_entry_of(job), CAPTURE, -job.amount)
    hold.status, hold.captured_amount = CAPTURED, job.amount
    hold.completed_at, hold.changed = chunk.now, True
    outcome.new_balance = account.balance
    outcome.result = {
        "hold_id": hold.hold_id,
        "job_id": job.job_id,
        "account_number": account.number,
        "amount": to_json_number(job.amount),
        "status": CAPTURED,
        "new_balance": to_json_number(account.balance),
        "available_balance": to_json_number(account.available),
        "transaction_id": None,  # the capture entry's id, filled in once reserved
    }


def _void(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    account = _account(chunk, job.account_number)
    hold = _active_hold(job, chunk)
    release_hold(chunk, hold, VOIDED)
    outcome.new_balance = account.balance
    outcome.result = {
        "hold_id": hold.hold_id,
        "job_id": job.job_id,
        "account_number": account.number,
        "status": VOIDED,
        "available_balance": to_json_number(account.available),
    }


def _transfer(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    # Its answer follows from the job's columns (see shared.views.transfer_view): a transfer
    # batch then writes no JSON per job.
    outcome.new_balance, outcome.to_balance = transfer(
        chunk,
        job.job_id,
        job.account_number,
        job.to_account or "",
        job.amount,
        job.reference,
        job.metadata,
    )


def _reversal(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    """Move the reversed job's amount back. The reversal's own account is the one its
    answer names: credited back for a withdrawal or capture, debited for a deposit or a
    transfer (whose destination pays the source back)."""
    target = chunk.targets.get(job.target_id or "")
    if target is None:
        raise _Failed(JobNotFound, f"job {job.target_id} not found")
    if target.status != SUCCEEDED or target.type not in REVERSIBLE_TYPES:
        raise _Failed(
            NotReversible,
            f"job {target.job_id} is not a succeeded " + "operation that can be reversed",
        )
    if target.reversed_by is not None or target.job_id in chunk.reversed:
        raise _Failed(AlreadyReversed, f"job {target.job_id} is already reversed")
    account = _account(chunk, job.account_number)
    if target.type in (WITHDRAW, CAPTURE):
        _open(account)
        _move(chunk, account, *_entry_of(job), REVERSAL, target.amount, CREDIT)
    else:
        _check_debit(account, target.amount, chunk.today, counts=False)
        if target.type == TRANSFER:
            _open(_account(chunk, job.to_account or ""))
        _move(chunk, account, *_entry_of(job), REVERSAL, -target.amount, DEBIT)
        if target.type == TRANSFER:
            credited = chunk.accounts[job.to_account or ""]
            _move(chunk, credited, *_entry_of(job), REVERSAL, target.amount, CREDIT)
    chunk.reversed[target.job_id] = job.job_id
    outcome.new_balance = account.balance
    outcome.result = {
        "job_id": job.job_id,
        "reversed_job_id": target.job_id,
        "type": REVERSAL,
        "account_number": account.number,
        "amount": to_json_number(target.amount),
        "new_balance": to_json_number(account.balance),
        "transaction_id": None,
    }


def _update_account(job: QueuedJob, chunk: Chunk, outcome: Outcome) -> None:
    account = _account(chunk, job.account_number)
    if account.status == CLOSED:
        raise _Failed(AccountClosed, f"account {account.number} is closed")
    changes = json.loads(job.details or "{}")
    status = changes.get("status", account.status)
    if status == CLOSED and (account.balance != 0 or account.held != 0):
        raise _Failed(
            AccountNotEmpty,
            f"account {account.number} can only be closed with a zero balance and no active hold",
        )
    account.status = status
    if "daily_withdrawal_limit" in changes:
        account.daily_limit = changes["daily_withdrawal_limit"]
    if "overdraft_limit" in changes:  # lower than what is overdrawn: no debit passes until
        account.overdraft = changes["overdraft_limit"]  # the account is back within it
    account.changed = account.controls_changed = True
    outcome.new_balance = account.balance
    outcome.result = account.view()


RULES = {
    WITHDRAW: _withdraw,
    DEPOSIT: _deposit,
    HOLD: _hold,
    CAPTURE: _capture,
    VOID: _void,
    TRANSFER: _transfer,
    REVERSAL: _reversal,
    UPDATE_ACCOUNT: _update_account,
}
