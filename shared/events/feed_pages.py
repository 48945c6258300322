"""Reading the events feed: a page of events after a cursor, in commit order
(shared.events.feed says how rows are written and ordered)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.accepting.batch_operations import (
    operation_as_job,
    outcome_status,
    part_by_row,
    part_operations,
)
from shared.accepting.batch_queue import BatchOperation
from shared.accepting.batches import progress_of
from shared.errors import InvalidParameter
from shared.events.feed import event_id, parse_event_id
from shared.store.models import (
    BATCH_COMPLETED,
    HOLD_EXPIRED,
    JOB_FAILED,
    JOB_SUCCEEDED,
    SUCCEEDED,
    Account,
    Batch,
    BatchOutcomes,
    EventLog,
    Hold,
    Job,
    job_accounts,
)
from shared.timestamps import iso
from shared.views import batch_view, hold_view, job_view

# One request looks at no more events than this (each it does not show costs a few µs).
EXAMINED_PER_PAGE = 20_000
# Rows read at a time.
WINDOW = 200
# About how many single jobs and holds are read in one query (see _Subjects).
SUBJECTS_AT_ONCE = 500


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    account: str | None = None


# Whether the caller may see an event: of its accounts, or of a batch it submitted.
Visible = Callable[[tuple[str, ...], "str | None"], bool]


def everyone(accounts: tuple[str, ...], submitted_by: str | None) -> bool:
    return True


@dataclass
class _Event:
    event_id: str
    type: str
    accounts: tuple[str, ...]
    submitted_by: str | None
    created_at: datetime
    data: Callable[[], dict[str, object] | None]


def read_feed(
    session: Session,
    after: str | None,
    limit: int,
    wanted: EventFilter,
    visible: Visible = everyone,
) -> tuple[list[dict[str, object]], str | None]:
    """A page of events after `after` (from the oldest kept without it), oldest first, and
    the cursor to pass next: the last event examined (shown or not), or `after` when there
    is none; None only when neither."""
    if wanted.account is not None and session.get(Account, wanted.account) is None:
        raise InvalidParameter(f"account: no account {wanted.account}")
    start = None if after is None else _cursor(session, after)
    page: list[_Event] = []
    last = after
    for examined, event in enumerate(_events_after(session, start), start=1):
        last = event.event_id
        if (
            (wanted.type is None or event.type == wanted.type)
            and (wanted.account is None or wanted.account in event.accounts)
            and visible(event.accounts, event.submitted_by)
        ):
            page.append(event)
        if len(page) >= limit or examined >= EXAMINED_PER_PAGE:
            break
    shown = [
        {
            "event_id": event.event_id,
            "type": event.type,
            "created_at": iso(event.created_at),
            "data": event.data(),
        }
        for event in page
    ]
    return shown, last


def _cursor(session: Session, after: str) -> tuple[int, int, int]:
    """The position, row and index an `after` names; 400 if it names no kept event."""
    named = parse_event_id(after)
    if named is None:
        raise InvalidParameter("after must be an event id from this feed")
    row_id, index = named
    found = session.execute(
        select(_log.c.position, _log.c.steps, _log.c.holds, _log.c.batches).where(
            _log.c.id == row_id
        )
    ).first()
    if found is None or found.position is None or index >= _count(found):
        oldest = session.scalar(select(func.min(_log.c.id)))
        if found is None and (oldest is None or row_id < oldest):
            raise InvalidParameter(f"after: event {after} is no longer kept")
        raise InvalidParameter(f"after: no event {after}")
    return found.position, row_id, index


def _count(row: object) -> int:
    steps = json.loads(row.steps)  # type: ignore[attr-defined]
    counted = sum(1 if isinstance(step, str) else step[2] for step in steps)
    return counted + len(row.holds.split()) + len(row.batches.split())  # type: ignore[attr-defined]


def _events_after(session: Session, start: tuple[int, int, int] | None) -> Iterator[_Event]:
    """Every event after `start` (position, row, index), in position order."""
    position = None if start is None else start[0]
    while True:
        query = select(_log).where(_log.c.position.is_not(None)).order_by(_log.c.position)
        if position is not None:
            query = query.where(_log.c.position >= position)
        rows = session.execute(query.limit(WINDOW)).all()
        subjects = _Subjects(session, rows)
        for row in rows:
            skip = start[2] if start is not None and row.id == start[1] else -1
            # By each event's own place: past one whose subject is gone too.
            yield from _row_events(session, row, subjects, skip)
        if len(rows) < WINDOW:
            return
        position = rows[-1].position + 1


class _Subjects:
    """The single jobs and holds a window of log rows names, read as the walk reaches
    them, SUBJECTS_AT_ONCE at a time in the order they come: a page reads about what it
    gets to, and a window of one-event rows (a synchronous load) costs a query per
    SUBJECTS_AT_ONCE events, not one a row."""

    def __init__(self, session: Session, rows: Sequence[Any]) -> None:
        self.session, self.rows = session, rows
        self.singles: list[str] = []  # the window's single job ids, in order, as decoded
        self.place: dict[str, int] = {}  # each one's place in `singles`
        self.decoded = 0  # how many rows have their ids in `singles`
        self.jobs: dict[str, Job | None] = {}  # read (None: not found)
        self.holds: dict[str, Hold | None] = {}

    def job(self, job_id: str) -> Job | None:
        if job_id not in self.jobs:
            while job_id not in self.place or (
                len(self.singles) < self.place[job_id] + SUBJECTS_AT_ONCE
                and self.decoded < len(self.rows)
            ):
                if self.decoded >= len(self.rows):
                    break
                for step in json.loads(self.rows[self.decoded].steps):
                    if isinstance(step, str):
                        self.place.setdefault(step, len(self.singles))
                        self.singles.append(step)
                self.decoded += 1
            start = self.place.get(job_id, 0)
            wanted = [
                i for i in self.singles[start : start + SUBJECTS_AT_ONCE] if i not in self.jobs
            ]
            wanted = wanted or [job_id]
            found = {
                j.job_id: j for j in self.session.scalars(select(Job).where(Job.job_id.in_(wanted)))
            }
            self.jobs.update((i, found.get(i)) for i in wanted)
        return self.jobs[job_id]

    def hold(self, row: Any, hold_id: str) -> Hold | None:
        if hold_id not in self.holds:
            ids = row.holds.split()
            found = {
                h.hold_id: h
                for h in self.session.scalars(select(Hold).where(Hold.hold_id.in_(ids)))
            }
            self.holds.update((i, found.get(i)) for i in ids)
        return self.holds.get(hold_id)


def _row_events(
    session: Session, row: Any, subjects: _Subjects, skip: int = -1
) -> Iterator[_Event]:
    """A log row's events after place `skip`, in order (places numbered as
    shared.events.outbox numbers them for webhooks), their data read as needed; those at or
    before `skip` are not read at all."""
    row_id, created_at = row.id, row.created_at
    index = 0
    for step in json.loads(row.steps):
        if isinstance(step, str):
            job = subjects.job(step) if index > skip else None
            if job is not None:
                yield _job_event(event_id(row_id, index), job, created_at)
            index += 1
        else:
            if index + step[2] - 1 > skip:
                for offset, event in _run_events(session, row_id, index, step, created_at):
                    if index + offset > skip:
                        yield event
            index += step[2]
    for hold_id in row.holds.split():
        hold = subjects.hold(row, hold_id) if index > skip else None
        if hold is not None:
            yield _Event(
                event_id(row_id, index),
                HOLD_EXPIRED,
                (hold.account_number,),
                None,  # a hold's event belongs to its account
                created_at,
                lambda hold=hold: hold_view(hold),
            )
        index += 1
    for batch_id in row.batches.split():
        batch = session.get(Batch, batch_id) if index > skip else None
        if batch is not None:
            yield _Event(
                event_id(row_id, index),
                BATCH_COMPLETED,
                (),
                batch.submitted_by,
                created_at,
                lambda batch=batch: batch_view(progress_of(session, batch)),
            )
        index += 1


def _job_event(identifier: str, job: Job, created_at: datetime) -> _Event:
    kind = JOB_SUCCEEDED if job.status == SUCCEEDED else JOB_FAILED
    return _Event(
        identifier,
        kind,
        job_accounts(job.type, job.account_number, job.to_account),
        job.submitted_by,
        created_at,
        lambda: _as_then(job_view(job)),
    )


def _run_events(
    session: Session, row_id: int, first_event: int, step: list, created_at: datetime
) -> Iterator[tuple[int, _Event]]:
    """The events of a run of batch operations, one per operation from its outcome row,
    with their places in the run."""
    part_row, first_index, count = step
    found = part_by_row(session, part_row)
    outcome_row = session.execute(
        select(BatchOutcomes.applied_by, BatchOutcomes.completed_at, BatchOutcomes.outcomes).where(
            BatchOutcomes.part_id == part_row, BatchOutcomes.first_index == first_index
        )
    ).first()
    if found is None or outcome_row is None:
        return
    batch_id, part = found
    operations = {fields[0]: fields for fields in part_operations(session, part)}
    applied_by, completed_at, encoded = outcome_row
    for offset, outcome in enumerate(json.loads(encoded)[:count]):
        fields = operations.get(outcome[0])
        if fields is None:
            continue
        operation = BatchOperation(*fields)
        status = outcome_status(outcome)
        yield (
            offset,
            _Event(
                event_id(row_id, first_event + offset),
                JOB_SUCCEEDED if status == SUCCEEDED else JOB_FAILED,
                job_accounts(operation.type, operation.account_number, operation.to_account),
                part.submitted_by,
                created_at,
                lambda operation=operation, outcome=outcome: _as_then(
                    job_view(
                        operation_as_job(
                            batch_id,
                            part,
                            operation,
                            {operation.index: (applied_by, completed_at, outcome)},
                        )
                    )
                ),
            ),
        )


def _as_then(view: dict[str, object]) -> dict[str, object]:
    """A job's view as its applying transaction left it: without a later reversal's mark."""
    view.pop("reversed_by", None)
    return view


_log = EventLog.__table__
