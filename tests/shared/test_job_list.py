"""GET /jobs's walk against a plain reading of the jobs table, on SQLite and PostgreSQL:
every filter, page size, window and bound on the jobs one page examines."""

from __future__ import annotations

import json
import random

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.accepting import job_list
from shared.accepting.batch_queue import BatchOperation, new_batch_id, operation_job_id
from shared.accepting.batches import record_batch
from shared.accepting.job_list import JobFilter, list_jobs
from shared.accepting.operations import Operation, get_job, new_id, record_operation
from shared.accepting.reversals import plan_reversal
from shared.errors import InvalidParameter
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.store.db import Database
from shared.store.models import BATCH_PART, REVERSAL, SUCCEEDED, TRANSFER, Job
from shared.views import job_view

PARTITIONS = 4
ACCOUNTS = ("501", "502", "503", "504", "505")


def _record_history(database: Database) -> None:
    """Single jobs and batches interleaved over five accounts (in several partitions),
    transfers and refusals among them, part of it applied and part still queued; two
    batches' operations accepted the way releases before parts did (a row each); two
    operations of batches reversed (which gives each a row of its own)."""
    rng = random.Random(5)
    with database.writing() as session:
        for number in ACCOUNTS:
            open_account(session, number, 10_000)
    for round_ in range(6):
        with database.writing() as session:
            for _ in range(rng.randint(1, 4)):
                kind = rng.choice(("deposit", "withdraw", "transfer"))
                account, other = rng.sample(ACCOUNTS, 2)
                to_account = other if kind == TRANSFER else None
                amount = rng.choice((100, 5_000, 50_000))  # some refused at apply
                operation = Operation(new_id(), account, kind, amount, to_account=to_account)
                record_operation(session, operation, PARTITIONS)
            operations = [
                BatchOperation(
                    index,
                    kind,
                    account,
                    rng.choice((100, 20_000)),
                    rng.choice([a for a in ACCOUNTS if a != account]) if kind == TRANSFER else None,
                    None,
                    None,
                )
                for index in range(rng.randint(1, 12))
                for kind in [rng.choice(("deposit", "withdraw", "transfer"))]
                for account in [rng.choice(ACCOUNTS)]
            ]
            if round_ in (1, 4):  # as accepted before parts existed
                batch_id = new_batch_id()
                for operation in operations:
                    job = Operation(
                        operation_job_id(batch_id, operation.index),
                        operation.account_number,
                        operation.type,
                        operation.amount,
                        batch_id=batch_id,
                        batch_index=operation.index,
                        to_account=operation.to_account,
                    )
                    record_operation(session, job, PARTITIONS)
            else:
                record_batch(session, new_batch_id(), operations, PARTITIONS, submitted_by="k1")
        if round_ < 4:
            with database.writing() as session:  # a few at a time: parts applied in runs
                for _ in range(3):
                    apply_pending(session, list(range(PARTITIONS)), 5, "test")
        if round_ in (2, 3):
            with database.writing() as session:
                _reverse_an_operation(session)


def _reverse_an_operation(session: Session) -> None:
    """Accept the reversal of a succeeded operation kept in a part, and apply it."""
    for part in session.scalars(select(Job).where(Job.type == BATCH_PART)):
        for item in json.loads(part.details or "[]"):
            job = get_job(session, operation_job_id(part.batch_id or "", item[0]))
            if job.status == SUCCEEDED and job.id is None:
                plan = plan_reversal(session, job.job_id)
                reversal = Operation(
                    new_id(),
                    plan.account_number,
                    REVERSAL,
                    plan.amount,
                    to_account=plan.other_account,
                    target_id=job.job_id,
                )
                record_operation(session, reversal, PARTITIONS)
                apply_pending(session, list(range(PARTITIONS)), 100, "test")
                return
    raise AssertionError("no operation to reverse")


def _plain_listing(database: Database) -> list[Job]:
    """Every job newest first, read the simple way: each row by id, descending, a part
    standing for its operations in descending index order."""
    with database.read.begin() as session:
        rows = session.execute(
            select(Job.job_id, Job.type, Job.batch_id, Job.details).order_by(Job.id.desc())
        ).all()
        parted = {batch_id for _, kind, batch_id, _ in rows if kind == BATCH_PART}
        ids: list[str] = []
        for job_id, kind, batch_id, details in rows:
            if kind == BATCH_PART:
                indexes = sorted((item[0] for item in json.loads(details)), reverse=True)
                ids.extend(operation_job_id(batch_id, index) for index in indexes)
            elif batch_id not in parted:
                ids.append(job_id)
        return [get_job(session, job_id) for job_id in ids]


def _views(jobs: list[Job]) -> list[dict]:
    return [job_view(job) for job in jobs]


FILTERS = [
    JobFilter(),
    JobFilter(account="502"),
    JobFilter(account="503", type=TRANSFER),
    JobFilter(status="failed"),
    JobFilter(status="queued"),
    JobFilter(type="deposit", account="501"),
    JobFilter(submitted_by="k1"),
    JobFilter(account="505", status="succeeded"),
]


def _wanted(job: Job, wanted: JobFilter) -> bool:
    accounts = {job.account_number} | ({job.to_account} if job.to_account else set())
    return (
        (wanted.account is None or wanted.account in accounts)
        and (wanted.status is None or job.status == wanted.status)
        and (wanted.type is None or job.type == wanted.type)
        and (wanted.submitted_by is None or job.submitted_by == wanted.submitted_by)
    )


def test_pages_list_every_matching_job_once_newest_first(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_history(database)
    everything = _plain_listing(database)
    statuses = {job.status for job in everything}
    assert {"queued", "succeeded", "failed"} <= statuses  # the history has all three
    assert any(job.batch_id and job.id is None for job in everything)  # operations in parts
    assert any(job.batch_id and job.id is not None for job in everything)  # and as rows
    assert sum(job.reversed_by is not None for job in everything) == 2
    for examined, window in ((20_000, 500), (7, 3), (1, 1)):
        monkeypatch.setattr(job_list, "EXAMINED_PER_PAGE", examined)
        monkeypatch.setattr(job_list, "WINDOW", window)
        for wanted in FILTERS:
            expected = _views([job for job in everything if _wanted(job, wanted)])
            for limit in (1, 3, 500):
                listed, before, pages = [], None, 0
                while True:
                    with database.read.begin() as session:
                        page = list_jobs(session, limit, before, wanted)
                        listed.extend(_views(page.jobs))
                    assert len(page.jobs) <= limit
                    pages += 1
                    assert pages <= len(everything) + 1, "the cursor does not move on"
                    if page.next_before is None:
                        break
                    before = page.next_before
                assert listed == expected, (examined, window, wanted, limit)
            if examined == 20_000:  # unbounded here: full pages, the last one short
                with database.read.begin() as session:
                    page = list_jobs(session, 2, None, wanted)
                assert _views(page.jobs) == expected[:2]
                assert (page.next_before is None) == (len(expected) <= 2)


def test_a_bounded_walk_ends_its_page_only_at_a_job_the_caller_may_read(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record_history(database)
    monkeypatch.setattr(job_list, "EXAMINED_PER_PAGE", 2)
    everything = _plain_listing(database)
    mine = {"501"}

    def readable(accounts: tuple[str, ...], submitted_by: str | None) -> bool:
        return bool(mine & set(accounts))

    listed, before = [], None
    while True:
        with database.read.begin() as session:
            page = list_jobs(session, 500, before, JobFilter(account="501"), readable)
        listed.extend(_views(page.jobs))
        if page.next_before is None:
            break
        with database.read.begin() as session:
            cursor = get_job(session, page.next_before)
        assert "501" in (cursor.account_number, cursor.to_account)
        before = page.next_before
    assert listed == _views([job for job in everything if _wanted(job, JobFilter(account="501"))])
    # A cursor the caller may not read is refused as unknown.
    theirs = next(job for job in everything if "501" not in (job.account_number, job.to_account))
    with database.read.begin() as session, pytest.raises(InvalidParameter):
        list_jobs(session, 10, theirs.job_id, JobFilter(), readable)


@pytest.mark.parametrize(
    "before",
    [
        "01a242f4-d290-73d7-a419-89b117680000",  # no such job
        "01a242f4-d290-83d7-a419-89b117680007",  # an operation of no batch
    ],
)
def test_an_unknown_cursor_or_account_is_refused(database: Database, before: str) -> None:
    _record_history(database)
    with database.read.begin() as session, pytest.raises(InvalidParameter):
        list_jobs(session, 10, before, JobFilter())
    with database.read.begin() as session, pytest.raises(InvalidParameter):
        list_jobs(session, 10, None, JobFilter(account="999"))
    with database.read.begin() as session:
        part_id = session.scalar(select(Job.job_id).where(Job.type == BATCH_PART).limit(1))
    with database.read.begin() as session, pytest.raises(InvalidParameter):
        list_jobs(session, 10, part_id, JobFilter())  # a part is no job of the API
