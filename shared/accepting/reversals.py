"""Accepting a reversal: which job it undoes, which accounts it touches, and early refusals.

The applier decides for good (exactly one reversal of a job succeeds, in the order of the
account it debits or credits); these checks only answer the obvious cases at once.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from shared.accepting.operations import get_job
from shared.errors import AlreadyReversed, NotReversible
from shared.store.models import (
    PROCESSING,
    QUEUED,
    REVERSAL,
    REVERSIBLE_TYPES,
    SUCCEEDED,
    TRANSFER,
    Job,
)


class ReversalPlan(NamedTuple):
    account_number: str  # the account the answer names: credited back, or debited
    other_account: str | None  # a transfer's source, credited back
    amount: int


def plan_reversal(session: Session, job_id: str) -> ReversalPlan:
    """Where a reversal of `job_id` goes; JobNotFound, NotReversible or AlreadyReversed."""
    job = get_job(session, job_id)
    if job.status != SUCCEEDED or job.type not in REVERSIBLE_TYPES:
        raise NotReversible(
            f"job {job_id} is not a succeeded {', '.join(REVERSIBLE_TYPES)}; it cannot be reversed"
        )
    pending = select(
        exists().where(
            Job.target_id == job_id, Job.type == REVERSAL, Job.status.in_((QUEUED, PROCESSING))
        )
    )
    if job.reversed_by is not None or session.scalar(pending):
        raise AlreadyReversed(f"job {job_id} is already reversed, or a reversal of it is queued")
    if job.type == TRANSFER:
        return ReversalPlan(job.to_account or "", job.account_number, job.amount)
    return ReversalPlan(job.account_number, None, job.amount)
