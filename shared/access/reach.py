"""Whose a job, hold or batch is: what decides whether an account-limited key may see it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import operation_job
from shared.errors import BatchNotFound, DomainError, HoldNotFound, JobNotFound
from shared.store.models import BATCH_PART, HOLD, Batch, Job

MAX_ID_LENGTH = 36  # no stored id is longer
_jobs = Job.__table__.c
_OWNERS = {
    "job_id": select(_jobs.account_number, _jobs.to_account, _jobs.submitted_by).where(
        _jobs.job_id == bindparam("id"), _jobs.type != BATCH_PART
    ),
    # A hold belongs to the job that placed it, which exists from acceptance on (the hold
    # row only once that job is applied): a capture may follow it before then.
    "hold_id": select(_jobs.account_number, _jobs.submitted_by).where(
        _jobs.target_id == bindparam("id"), _jobs.type == HOLD
    ),
    "batch_id": select(Batch.__table__.c.submitted_by).where(
        Batch.__table__.c.batch_id == bindparam("id")
    ),
}
_UNKNOWN: dict[str, tuple[type[DomainError], str]] = {
    "job_id": (JobNotFound, "job"),
    "hold_id": (HoldNotFound, "hold"),
    "batch_id": (BatchNotFound, "batch"),
}
OWNED = tuple(_OWNERS)  # the path parameters that name a job, hold or batch


@dataclass(frozen=True)
class Owners:
    """The accounts a job, hold or batch belongs to (a transfer: both) and the key that
    submitted it (None with auth off)."""

    accounts: tuple[str, ...]
    submitted_by: str | None


def find_owners(session: Session, parameter: str, identifier: str) -> Owners:
    """The owners of the job, hold or batch named by path `parameter`, or its not-found
    error."""
    row = None
    if len(identifier) <= MAX_ID_LENGTH:
        row = session.execute(_OWNERS[parameter], {"id": identifier}).first()
        if row is None and parameter == "job_id":  # a batch operation without a row
            job = operation_job(session, identifier)
            if job is not None:
                row = job.account_number, job.to_account, job.submitted_by
    if row is None:
        raise unknown(parameter, identifier)
    *accounts, submitted_by = row
    return Owners(tuple(number for number in accounts if number is not None), submitted_by)


def unknown(parameter: str, identifier: str) -> DomainError:
    """The answer for an unknown id, the same as the resource's own lookup gives."""
    error, noun = _UNKNOWN[parameter]
    return error(f"{noun} {identifier} not found")
