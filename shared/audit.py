"""The audit: every balance follows from its ledger, nothing is applied twice, nothing is stuck."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from shared.models import (
    DEPOSIT,
    IS_QUEUED,
    SUCCEEDED,
    WITHDRAW,
    Account,
    Job,
    LedgerEntry,
    utcnow,
)
from shared.money import format_cents


@dataclass
class AuditReport:
    accounts: int = 0
    ledger_entries: int = 0
    jobs: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings


def run_audit(
    session: Session, stale_after_seconds: float, now: datetime | None = None
) -> AuditReport:
    """Check the whole database; each problem becomes one line in `findings`."""
    report = AuditReport()
    _check_balances(session, report)
    _check_jobs(session, report)
    _check_pending(session, report, (now or utcnow()) - timedelta(seconds=stale_after_seconds))
    return report


def _signed(entry_type: str, amount: int) -> int:
    return -amount if entry_type == WITHDRAW else amount


def _check_balances(session: Session, report: AuditReport) -> None:
    """balance = opening + deposits - withdrawals, ≥ 0, and each balance_after in sequence."""
    balances = {
        number: (balance, opening)
        for number, balance, opening in session.execute(
            select(Account.account_number, Account.balance, Account.opening_balance)
        )
    }
    report.accounts = len(balances)
    running: dict[str, int] = {}
    openings: dict[str, int] = {}
    entries = session.execute(
        select(
            LedgerEntry.id,
            LedgerEntry.account_number,
            LedgerEntry.type,
            LedgerEntry.amount,
            LedgerEntry.balance_after,
        ).order_by(LedgerEntry.account_number, LedgerEntry.id)
    )
    for entry_id, number, entry_type, amount, balance_after in entries:
        report.ledger_entries += 1
        if entry_type not in (DEPOSIT, WITHDRAW):
            openings[number] = openings.get(number, 0) + amount
        running[number] = running.get(number, 0) + _signed(entry_type, amount)
        if running[number] != balance_after:
            report.findings.append(
                f"account {number}: transaction {entry_id} says balance_after "
                f"{format_cents(balance_after)}, the entries before it add up to "
                f"{format_cents(running[number])}"
            )
        if balance_after < 0:
            report.findings.append(f"account {number}: transaction {entry_id} leaves it negative")
    for number, (balance, opening) in balances.items():
        if balance < 0:
            report.findings.append(f"account {number}: negative balance {balance} cents")
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


def _check_jobs(session: Session, report: AuditReport) -> None:
    """Each succeeded job has exactly one ledger entry, and no entry belongs to another job."""
    report.jobs = session.scalar(select(func.count()).select_from(Job)) or 0
    doubled = session.execute(
        select(LedgerEntry.job_id, func.count())
        .where(LedgerEntry.job_id.is_not(None))
        .group_by(LedgerEntry.job_id)
        .having(func.count() > 1)
    )
    for job_id, count in doubled:
        report.findings.append(f"job {job_id} moved money {count} times")
    mismatched = session.execute(
        select(Job.job_id, Job.status, LedgerEntry.id)
        .outerjoin(LedgerEntry, LedgerEntry.job_id == Job.job_id)
        .where(
            or_(
                and_(Job.status == SUCCEEDED, LedgerEntry.id.is_(None)),
                and_(Job.status != SUCCEEDED, LedgerEntry.id.is_not(None)),
            )
        )
    )
    for job_id, status, entry_id in mismatched:
        if entry_id is None:
            report.findings.append(f"job {job_id} succeeded but has no ledger entry")
        else:
            report.findings.append(f"job {job_id} is {status} but has ledger entry {entry_id}")
    orphans = session.execute(
        select(LedgerEntry.id, LedgerEntry.job_id)
        .outerjoin(Job, Job.job_id == LedgerEntry.job_id)
        .where(LedgerEntry.job_id.is_not(None), Job.id.is_(None))
    )
    for entry_id, job_id in orphans:
        report.findings.append(f"ledger entry {entry_id} names unknown job {job_id}")


def _check_pending(session: Session, report: AuditReport, stale_before: datetime) -> None:
    stale = session.execute(
        select(func.count(), func.min(Job.created_at)).where(
            IS_QUEUED, Job.created_at < stale_before
        )
    ).one()
    if stale[0]:
        report.findings.append(
            f"{stale[0]} accepted job(s) still queued past the recovery threshold "
            f"(oldest accepted {stale[1]})"
        )
