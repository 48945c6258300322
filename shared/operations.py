"""Accepting operations: validate, record durably as queued jobs, and read them back."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accounts import get_account
from shared.errors import JobNotFound
from shared.models import Job
from shared.partitioning import partition_of


def new_job_id() -> str:
    return str(uuid.uuid4())


def record_operation(
    session: Session,
    account_number: str,
    op_type: str,
    amount_cents: int,
    partitions: int,
    job_id: str | None = None,
) -> Job:
    """Record a withdraw or deposit for an existing account as a queued job.

    The caller commits before answering 2xx: from then on the job is the durable truth,
    and the queue message is only a wake-up for the partition's worker. A caller that will
    wait for the job passes its id in, so it can listen before the job can be applied.
    """
    get_account(session, account_number)
    job = Job(
        job_id=job_id or new_job_id(),
        partition=partition_of(account_number, partitions),
        type=op_type,
        account_number=account_number,
        amount=amount_cents,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> Job:
    job = session.scalar(select(Job).where(Job.job_id == job_id))
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    return job
