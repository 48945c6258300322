"""The audit: every balance follows from its ledger, every job moved exactly the money its
type says, holds and limits agree with the accounts, nothing is stuck.

It reads the whole database in one read transaction (one consistent snapshot) and reports
each problem as one line; it never changes anything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import (
    applied_operations,
    outcome_status,
    statuses_by_batch,
)
from shared.accepting.batch_queue import BatchOperation, operation_job_id
from shared.accepting.operations import WAITING_OPERATIONS
from shared.ledger.money import format_cents
from shared.store.models import (
    ACTIVE,
    BATCH_PART,
    CAPTURE,
    CAPTURED,
    CREDIT,
    DEBIT,
    DEPOSIT,
    FAILED,
    IS_QUEUED,
    OPENING,
    REVERSAL,
    SUCCEEDED,
    TRANSFER,
    TRANSFER_IN,
    TRANSFER_OUT,
    WITHDRAW,
    Account,
    Batch,
    Hold,
    Job,
    LedgerEntry,
    entry_direction,
    utcnow,
)
from shared.timestamps import as_utc, utc_day

# The ledger entries a succeeded job of each type writes, by type; others write none.
EXPECTED_ENTRIES = {
    WITHDRAW: (WITHDRAW,),
    DEPOSIT: (DEPOSIT,),
    CAPTURE: (CAPTURE,),
    TRANSFER: (TRANSFER_IN, TRANSFER_OUT),
}


@dataclass
class AuditReport:
    accounts: int = 0
    ledger_entries: int = 0
    jobs: int = 0
    holds: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings


_Applied = tuple[str, BatchOperation, list]  # batch id, operation, outcome


class _Job(NamedTuple):
    job_id: str
    type: str
    status: str
    account_number: str
    to_account: str | None
    amount: int
    target_id: str | None
    reversed_by: str | None


@dataclass
class _Entry:
    id: int
    account_number: str
    job_id: str | None
    type: str
    amount: int
    balance_after: int
    direction: str | None
    created_at: datetime
    overdraft_limit: int | None  # set where it took the available balance below zero
    prev_id: int | None
    seq: int


def run_audit(
    session: Session, stale_after_seconds: float, now: datetime | None = None
) -> AuditReport:
    """Check the whole database; each problem becomes one line in `findings`.

    `stale_after_seconds` is how long a job may stay queued, and a hold stay active past
    its expiry, before either counts as stuck.
    """
    report = AuditReport()
    now = now or utcnow()
    entries = [
        _Entry(*row)
        for row in session.execute(
            select(
                LedgerEntry.id,
                LedgerEntry.account_number,
                LedgerEntry.job_id,
                LedgerEntry.type,
                LedgerEntry.amount,
                LedgerEntry.balance_after,
                LedgerEntry.direction,
                LedgerEntry.created_at,
                LedgerEntry.overdraft_limit,
                LedgerEntry.prev_id,
                LedgerEntry.seq,
            ).order_by(LedgerEntry.account_number, LedgerEntry.id)
        )
    ]
    report.ledger_entries = len(entries)
    accounts = list(
        session.execute(
            select(
                Account.account_number,
                Account.balance,
                Account.opening_balance,
                Account.held,
                Account.limit_day,
                Account.withdrawn_on_limit_day,
                Account.overdraft_limit,
                Account.last_entry_id,
                Account.entry_count,
            )
        )
    )
    report.accounts = len(accounts)
    _check_balances(accounts, entries, report)
    _check_chains(accounts, entries, report)
    # The batch operations with outcome rows, with their outcomes.
    operations: list[_Applied] = []
    for part_row, batch_id, operation, outcome in applied_operations(session):
        if batch_id is None or operation is None:
            report.findings.append(
                f"an outcome row of part {part_row} names operation {outcome[0]}, which its "
                "part does not hold"
            )
        else:
            operations.append((batch_id, operation, outcome))
    _check_jobs(session, entries, operations, report)
    _check_holds_and_limits(session, accounts, entries, report, now, stale_after_seconds)
    _check_pending(session, report, now - timedelta(seconds=stale_after_seconds))
    _check_batches(session, operations, report)
    return report


def signed(entry_type: str, amount: int, direction: str | None) -> int | None:
    """The entry's effect on its balance; None for a reversal that says no direction."""
    return {DEBIT: -amount, CREDIT: amount}.get(entry_direction(entry_type, direction) or "")


def _check_balances(accounts: list[Row], entries: list[_Entry], report: AuditReport) -> None:
    """balance = opening + the signed sum of its entries, each balance_after in sequence,
    and no debit (other than a capture) below the overdraft limit of its moment; every
    entry's account exists; transfers add up to nothing across all accounts."""
    running: dict[str, int] = defaultdict(int)
    openings: dict[str, int] = defaultdict(int)
    transfers = {TRANSFER_IN: 0, TRANSFER_OUT: 0}
    for entry in entries:
        number = entry.account_number
        effect = signed(entry.type, entry.amount, entry.direction)
        if effect is None:
            report.findings.append(f"transaction {entry.id}: a reversal with no direction")
            continue
        if entry.type == OPENING:
            openings[number] += entry.amount
        if entry.type in transfers:
            transfers[entry.type] += entry.amount
        running[number] += effect
        if running[number] != entry.balance_after:
            report.findings.append(
                f"account {number}: transaction {entry.id} says balance_after "
                f"{format_cents(entry.balance_after)}, the entries before it add up to "
                f"{format_cents(running[number])}"
            )
        if entry.balance_after < 0 and effect < 0 and entry.type != CAPTURE:
            # A capture moves money its hold reserved (checked when the hold was placed).
            limit = entry.overdraft_limit or 0
            if entry.balance_after < -limit:
                report.findings.append(
                    f"account {number}: transaction {entry.id} takes it to "
                    f"{format_cents(entry.balance_after)}, below its overdraft limit of "
                    f"{format_cents(limit)} at the time"
                )
    for account in accounts:
        number, balance, opening = account.account_number, account.balance, account.opening_balance
        if running.get(number, 0) != balance:
            report.findings.append(
                f"account {number}: balance {format_cents(balance)} but its ledger adds up to "
                f"{format_cents(running.get(number, 0))}"
            )
        if openings.get(number, 0) != opening:
            report.findings.append(
                f"account {number}: opening balance {format_cents(opening)} but the ledger "
                f"opens with {format_cents(openings.get(number, 0))}"
            )
    # The ledger names accounts without a foreign key (revision 0013): every entry's
    # account must exist.
    named = {entry.account_number for entry in entries}
    for number in sorted(named - {account.account_number for account in accounts}):
        report.findings.append(f"account {number}: has ledger entries but does not exist")
    if transfers[TRANSFER_IN] != transfers[TRANSFER_OUT]:
        report.findings.append(
            f"transfers out total {format_cents(transfers[TRANSFER_OUT])} but transfers in "
            f"{format_cents(transfers[TRANSFER_IN])}"
        )


def _check_chains(accounts: list[Row], entries: list[_Entry], report: AuditReport) -> None:
    """Each account's entries, in id order, are numbered 1, 2, 3, … and each links to the
    one before it; the account names its last and their count (history reads rely on it:
    shared.ledger.chain)."""
    last: dict[str, _Entry] = {}
    for entry in entries:  # by account, then id
        before = last.get(entry.account_number)
        expected = (None, 1) if before is None else (before.id, before.seq + 1)
        if (entry.prev_id, entry.seq) != expected:
            report.findings.append(
                f"account {entry.account_number}: transaction {entry.id} is linked to "
                f"{entry.prev_id} as number {entry.seq}, expected {expected[0]} as {expected[1]}"
            )
        last[entry.account_number] = entry
    for account in accounts:
        newest = last.get(account.account_number)
        expected = (None, 0) if newest is None else (newest.id, newest.seq)
        if (account.last_entry_id, account.entry_count or 0) != expected:
            report.findings.append(
                f"account {account.account_number}: names transaction {account.last_entry_id} "
                f"of {account.entry_count or 0} as its last, expected {expected[0]} of "
                f"{expected[1]}"
            )


def _check_jobs(
    session: Session, entries: list[_Entry], operations: list[_Applied], report: AuditReport
) -> None:
    """Each succeeded job wrote exactly the entries its type calls for (a transfer one leg
    on each account, of equal amounts; a reversal the reverse of what it undid), a job that
    did not succeed wrote none, and every entry belongs to a known job."""
    by_job: dict[str, list[_Entry]] = defaultdict(list)
    for entry in entries:
        if entry.job_id is not None:
            by_job[entry.job_id].append(entry)
    jobs = {
        row.job_id: _Job(*row)
        for row in session.execute(
            select(
                Job.job_id,
                Job.type,
                Job.status,
                Job.account_number,
                Job.to_account,
                Job.amount,
                Job.target_id,
                Job.reversed_by,
            ).where(Job.type != BATCH_PART)
        )
    }
    for batch_id, operation, outcome in operations:
        job_id = operation_job_id(batch_id, operation.index)
        if job_id not in jobs:  # a reversed one has its row
            jobs[job_id] = _Job(
                job_id,
                operation.type,
                outcome_status(outcome),
                operation.account_number,
                operation.to_account,
                operation.amount,
                None,
                None,
            )
    report.jobs = len(jobs)
    for job_id, moved in by_job.items():
        if job_id not in jobs:
            for entry in moved:
                report.findings.append(f"ledger entry {entry.id} names unknown job {job_id}")
    for job in jobs.values():
        moved = by_job.get(job.job_id, [])
        if job.status != SUCCEEDED:
            for entry in moved:
                report.findings.append(
                    f"job {job.job_id} is {job.status} but has ledger entry {entry.id}"
                )
            continue
        if job.type == REVERSAL:
            _check_reversal(job, moved, jobs, report)
            continue
        wanted = EXPECTED_ENTRIES.get(job.type, ())
        if not moved and wanted:
            report.findings.append(f"job {job.job_id} succeeded but has no ledger entry")
        elif sorted(entry.type for entry in moved) != sorted(wanted):
            report.findings.append(
                f"job {job.job_id} ({job.type}) moved money {len(moved)} times: "
                f"{', '.join(sorted(entry.type for entry in moved)) or 'none'}"
            )
        elif job.type == TRANSFER:
            legs = {entry.type: entry for entry in moved}
            out, into = legs[TRANSFER_OUT], legs[TRANSFER_IN]
            if (out.account_number, into.account_number) != (job.account_number, job.to_account):
                report.findings.append(f"transfer {job.job_id} has legs on the wrong accounts")
            if not out.amount == into.amount == job.amount:
                report.findings.append(f"transfer {job.job_id} has legs of unequal amounts")
        if job.reversed_by is not None:
            reversal = jobs.get(job.reversed_by)
            if reversal is None or reversal.status != SUCCEEDED or reversal.target_id != job.job_id:
                report.findings.append(
                    f"job {job.job_id} says it was reversed by {job.reversed_by}, which did not "
                    "reverse it"
                )


def _check_reversal(
    job: _Job, moved: list[_Entry], jobs: dict[str, _Job], report: AuditReport
) -> None:
    target = jobs.get(job.target_id)
    if target is None or target.reversed_by != job.job_id:
        report.findings.append(
            f"reversal {job.job_id} succeeded but job {job.target_id} does not name it"
        )
        return
    wanted = 2 if target.type == TRANSFER else 1
    if len(moved) != wanted or any(e.type != REVERSAL or e.amount != target.amount for e in moved):
        report.findings.append(
            f"reversal {job.job_id} wrote {len(moved)} entries for a {target.type} "
            f"of {format_cents(target.amount)}"
        )
        return
    # Undoing means the opposite direction of the original on each account it touched.
    expected = {
        WITHDRAW: {target.account_number: CREDIT},
        CAPTURE: {target.account_number: CREDIT},
        DEPOSIT: {target.account_number: DEBIT},
        TRANSFER: {target.account_number: CREDIT, target.to_account: DEBIT},
    }.get(target.type, {})
    if {e.account_number: e.direction for e in moved} != expected:
        report.findings.append(f"reversal {job.job_id} moved money the wrong way")


def _check_holds_and_limits(
    session: Session,
    accounts: list[Row],
    entries: list[_Entry],
    report: AuditReport,
    now: datetime,
    grace_seconds: float,
) -> None:
    """held = the sum of active holds, the available balance no lower than any overdraft
    limit that let a debit or hold take it below zero, no active hold long past its expiry,
    captured holds within their amount, and each account's count against its daily limit
    equal to what its ledger and holds say for that day."""
    holds = list(
        session.execute(
            select(
                Hold.hold_id,
                Hold.account_number,
                Hold.amount,
                Hold.captured_amount,
                Hold.status,
                Hold.limit_day,
                Hold.expires_at,
                Hold.overdraft_limit,
            )
        )
    )
    report.holds = len(holds)
    recorded: dict[str, int] = defaultdict(int)  # the deepest limit a debit or hold used
    for item in (*entries, *holds):
        if item.overdraft_limit is not None:
            number = item.account_number
            recorded[number] = max(recorded[number], item.overdraft_limit)
    active: dict[str, int] = defaultdict(int)
    counted: dict[tuple[str, str], int] = defaultdict(int)  # (account, day) -> held amounts
    for hold in holds:
        if hold.status == ACTIVE:
            active[hold.account_number] += hold.amount
            counted[(hold.account_number, hold.limit_day)] += hold.amount
            if as_utc(hold.expires_at) + timedelta(seconds=grace_seconds) < now:
                report.findings.append(
                    f"hold {hold.hold_id} is still active past its expiry plus {grace_seconds:g} s"
                )
        elif hold.status == CAPTURED:
            counted[(hold.account_number, hold.limit_day)] += hold.captured_amount
            if hold.captured_amount > hold.amount:
                report.findings.append(f"hold {hold.hold_id} captured more than it held")
    for entry in entries:
        if entry.type in (WITHDRAW, TRANSFER_OUT):
            counted[(entry.account_number, utc_day(entry.created_at))] += entry.amount
    for account in accounts:
        number, balance, held = account.account_number, account.balance, account.held
        limit_day, withdrawn = account.limit_day, account.withdrawn_on_limit_day
        if (held or 0) != active.get(number, 0):
            report.findings.append(
                f"account {number}: {format_cents(held or 0)} held but its active holds add up "
                f"to {format_cents(active.get(number, 0))}"
            )
        # Every debit and hold that took the available balance below zero recorded the
        # limit that allowed it; a lower limit set since does not make that a fault.
        floor = max(account.overdraft_limit or 0, recorded.get(number, 0))
        if balance - (held or 0) < -floor:
            report.findings.append(
                f"account {number}: available balance {format_cents(balance - (held or 0))} "
                f"is below any overdraft limit it had ({format_cents(floor)})"
            )
        if limit_day is not None and (withdrawn or 0) != counted.get((number, limit_day), 0):
            report.findings.append(
                f"account {number}: {format_cents(withdrawn or 0)} counted against its limit "
                f"on {limit_day}, but its withdrawals, transfers out and holds that day add up "
                f"to {format_cents(counted.get((number, limit_day), 0))}"
            )


def _check_batches(session: Session, operations: list[_Applied], report: AuditReport) -> None:
    """Each batch's counters agree with its operations: `applied` is its operations with an
    outcome (in an outcome row of its parts, or a row of its own), `failed` the failed
    ones, and every other operation still waits in its parts; a part's cursor moved
    without their outcomes (operations lost) or outcomes written twice would break the
    sum. Batches accepted before the counters were kept are counted from their jobs alone."""
    statuses = statuses_by_batch(session, operations)
    written = {
        batch_id: (len(of_batch), sum(1 for s in of_batch.values() if s == FAILED))
        for batch_id, of_batch in statuses.items()
    }
    waiting = dict(
        session.execute(
            select(Job.batch_id, WAITING_OPERATIONS)
            .where(Job.type == BATCH_PART)
            .group_by(Job.batch_id)
        ).all()
    )
    counted = select(Batch.batch_id, Batch.total, Batch.applied, Batch.failed, Batch.atomic).where(
        Batch.failed.is_not(None)
    )
    for batch_id, total, applied_count, failed, atomic in session.execute(counted):
        done, failed_done = written.get(batch_id, (0, 0))
        left = int(waiting.get(batch_id) or 0)
        # All of an atomic batch or none: applied at once, and all succeeded or all failed
        # (a failed operation's money is checked by _check_jobs: it moved none).
        if atomic and (0 < done < total or 0 < failed_done < done):
            report.findings.append(
                f"atomic batch {batch_id} is partly applied: {done} of {total} operations "
                f"applied, {failed_done} of them failed"
            )
        if (applied_count, failed) != (done, failed_done):
            report.findings.append(
                f"batch {batch_id} counts {applied_count} applied ({failed} failed) but has "
                f"{done} operation outcomes ({failed_done} failed)"
            )
        if done + left != total:
            report.findings.append(
                f"batch {batch_id}: {done} operations applied and {left} waiting in its parts, "
                f"of {total}"
            )


def _check_pending(session: Session, report: AuditReport, stale_before: datetime) -> None:
    stale = session.execute(
        select(WAITING_OPERATIONS, func.min(Job.created_at)).where(
            IS_QUEUED, Job.created_at < stale_before
        )
    ).one()
    if stale[0]:
        report.findings.append(
            f"{stale[0]} accepted operation(s) still queued past the recovery threshold "
            f"(oldest accepted {stale[1]})"
        )
