"""The events feed on SQLite and PostgreSQL: every event once, in commit order, whatever
the page size; a transaction that commits late is not skipped; cursors."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from shared.accepting.batch_queue import BatchOperation, new_batch_id, operation_job_id
from shared.accepting.batches import record_batch
from shared.accepting.operations import Operation, get_job, new_id, record_operation
from shared.errors import InvalidParameter
from shared.events import feed_pages
from shared.events.feed import event_id, parse_event_id, purge_events, sequence
from shared.events.feed_pages import EventFilter, read_feed
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.partitioning import partition_of
from shared.store.db import Database
from shared.store.models import EventLog, Hold, Job, utcnow
from shared.views import job_view

PARTITIONS = 4


def _apply_all(database: Database, chunk: int = 1000) -> None:
    while True:
        with database.writing() as session:
            if not apply_pending(session, list(range(PARTITIONS)), chunk, "test").count:
                return


def _history(database: Database) -> dict[tuple[str, str], str]:
    """Single jobs, batches applied in runs, a transfer, refusals, a hold that expires;
    returns every event it makes true: (type, subject) -> the account it belongs to."""
    with database.writing() as session:
        for number in ("71", "72", "73"):
            open_account(session, number, 1_000)
    expected: dict[tuple[str, str], str] = {}
    singles = [("71", "deposit", 50), ("72", "withdraw", 5_000), ("73", "withdraw", 100)]
    with database.writing() as session:
        for number, kind, amount in singles:
            operation = Operation(new_id(), number, kind, amount)
            record_operation(session, operation, PARTITIONS)
            failed = amount > 1_000
            expected[("job.failed" if failed else "job.succeeded", operation.job_id)] = number
        hold = Operation(
            new_id(), "71", "hold", 10, target_id=new_id(), details='{"expires_in":60}'
        )
        record_operation(session, hold, PARTITIONS)
        expected[("job.succeeded", hold.job_id)] = "71"
        expected[("hold.expired", hold.target_id or "")] = "71"
    _apply_all(database)
    operations = [
        BatchOperation(
            i, "withdraw" if i % 3 else "deposit", ("71", "72", "73")[i % 3], 7, None, None, None
        )
        for i in range(40)
    ]
    operations.append(BatchOperation(40, "transfer", "72", 5, "73", None, None))
    operations.append(BatchOperation(41, "withdraw", "73", 1_000_000, None, None, None))
    batch_id = new_batch_id()
    with database.writing() as session:
        record_batch(session, batch_id, operations, PARTITIONS)
    _apply_all(database, chunk=6)  # in several runs
    for op in operations:
        kind = "job.failed" if op.amount == 1_000_000 else "job.succeeded"
        expected[(kind, operation_job_id(batch_id, op.index))] = op.account_number
    expected[("batch.completed", batch_id)] = ""
    with database.writing() as session:  # the hold is due: the next apply expires it
        session.execute(update(Hold).values(expires_at=utcnow() - timedelta(seconds=1)))
    with database.writing() as session:
        record_operation(session, Operation(new_id(), "71", "deposit", 1), PARTITIONS)
    _apply_all(database)
    with database.read.begin() as session:
        last = session.scalars(select(Job.job_id).order_by(Job.id.desc()).limit(1)).one()
    expected[("job.succeeded", last)] = "71"
    return expected


def _follow(database: Database, limit: int, wanted: EventFilter | None = None) -> list[dict]:
    events, after, wanted = [], None, wanted or EventFilter()
    while True:
        with database.writing() as session:
            sequence(session)
        with database.read.begin() as session:
            page, following = read_feed(session, after, limit, wanted)
        events.extend(page)
        if following == after:
            return events
        after = following


def _subject(event: dict) -> str:
    key = {"hold.expired": "hold_id", "batch.completed": "batch_id"}.get(event["type"], "job_id")
    return event["data"][key]


def test_a_reader_following_the_feed_sees_every_event_once_in_order(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _history(database)
    everything = _follow(database, 1000)
    assert sorted((e["type"], _subject(e)) for e in everything) == sorted(expected)
    with database.read.begin() as session:
        for event in everything:
            if event["type"].startswith("job."):
                view = job_view(get_job(session, event["data"]["job_id"]))
                view.pop("reversed_by", None)
                assert event["data"] == view
    # Each account's jobs come in the order they were accepted and applied.
    positions = {_subject(e): i for i, e in enumerate(everything)}
    batch_jobs = [s for (kind, s) in expected if kind.startswith("job.") and s[14] == "8"]
    for number in ("71", "72", "73"):
        mine = [s for (_, s), owner in expected.items() if owner == number and s in batch_jobs]
        mine.sort(key=lambda s: int(s[-4:], 16))  # by index in the batch
        assert [positions[s] for s in mine] == sorted(positions[s] for s in mine)
    for examined, window, subjects in ((20_000, 200, 500), (3, 1, 2), (20_000, 200, 1)):
        monkeypatch.setattr(feed_pages, "EXAMINED_PER_PAGE", examined)
        monkeypatch.setattr(feed_pages, "WINDOW", window)
        monkeypatch.setattr(feed_pages, "SUBJECTS_AT_ONCE", subjects)
        for limit in (1, 4):
            assert _follow(database, limit) == everything
        only = EventFilter(type="job.failed", account="73")
        assert _follow(database, 2, only) == [
            e for e in everything if e["type"] == "job.failed" and "73" in _accounts(e)
        ]


def _accounts(event: dict) -> set[str]:
    data = event["data"]
    return {data.get("account_number"), data.get("to_account")} - {None}


def test_a_transaction_that_commits_after_a_later_one_is_not_skipped(database: Database) -> None:
    """Two appliers: the one that wrote its log row first commits last. A reader between
    the two commits sees only the committed one; after the late commit, it sees the late
    one next, though its row's id is the lower one."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")
    numbers = {}
    for candidate in range(100, 200):
        numbers.setdefault(partition_of(str(candidate), PARTITIONS), str(candidate))
    early, late = numbers[0], numbers[1]
    with database.writing() as session:
        for number in (early, late):
            open_account(session, number, 0)
            record_operation(session, Operation(new_id(), number, "deposit", 1), PARTITIONS)
    committed_first = threading.Event()

    def apply_partition_1() -> None:
        with database.writing() as session:
            apply_pending(session, [partition_of(late, PARTITIONS)], 10, "second")
        committed_first.set()

    with database.writing() as session:
        apply_pending(session, [partition_of(early, PARTITIONS)], 10, "first")  # not committed
        thread = threading.Thread(target=apply_partition_1)
        thread.start()
        assert committed_first.wait(10)
        with database.writing() as other:
            sequence(other)
        with database.read.begin() as reader:
            page, after = read_feed(reader, None, 100, EventFilter())
        assert [e["data"]["account_number"] for e in page] == [late]
    thread.join()
    with database.writing() as session:
        sequence(session)
    with database.read.begin() as reader:
        page, _ = read_feed(reader, after, 100, EventFilter())
    assert [e["data"]["account_number"] for e in page] == [early]


def test_cursors_that_name_no_kept_event_are_refused(database: Database) -> None:
    _history(database)
    with database.writing() as session:
        sequence(session)
    with database.read.begin() as session:
        first, after = read_feed(session, None, 2, EventFilter())
        assert after == first[-1]["event_id"]
        for bad in ("nope", after.upper(), new_id(), event_id(10**9, 0), event_id(1, 10**6)):
            with pytest.raises(InvalidParameter):
                read_feed(session, bad, 10, EventFilter())
    assert parse_event_id(after) is not None
    with database.read.begin() as session:
        everything, _ = read_feed(session, None, 1000, EventFilter())
    with database.writing() as session:
        assert purge_events(session, utcnow() - timedelta(days=1)) == 0  # none that old
        assert purge_events(session, utcnow() + timedelta(days=1), rows=2) == 2
        assert purge_events(session, utcnow() + timedelta(days=1)) > 0
    with database.read.begin() as session, pytest.raises(InvalidParameter, match="no longer"):
        read_feed(session, after, 10, EventFilter())
    with database.read.begin() as session:  # the newest transaction's events are kept
        kept, _ = read_feed(session, None, 1000, EventFilter())
    newest = max(parse_event_id(e["event_id"])[0] for e in everything)  # type: ignore[index]
    assert kept and {parse_event_id(e["event_id"])[0] for e in kept} == {newest}  # type: ignore[index]
    with database.writing() as session:  # and the next row's id is not one given before
        record_operation(session, Operation(new_id(), "71", "deposit", 1), PARTITIONS)
    _apply_all(database)
    with database.writing() as session:
        sequence(session)
    with database.read.begin() as session:
        later, _ = read_feed(session, kept[-1]["event_id"], 10, EventFilter())
    assert [parse_event_id(e["event_id"])[0] for e in later] == [newest + 1]  # type: ignore[index]


def test_a_cursor_counts_places_in_its_row_even_past_an_event_whose_subject_is_gone(
    database: Database,
) -> None:
    """Events are numbered by their place in the row: one whose job cannot be read is not
    shown, and the events after it keep their places (and ids)."""
    with database.writing() as session:
        open_account(session, "74", 0)
        operations = [Operation(new_id(), "74", "deposit", 1) for _ in range(2)]
        for operation in operations:
            record_operation(session, operation, PARTITIONS)
    _apply_all(database)
    steps = json.dumps([new_id(), operations[0].job_id, operations[1].job_id])  # one unknown
    with database.writing() as session:
        session.execute(
            insert(EventLog).values(steps=steps, holds="", batches="", created_at=utcnow())
        )
        row_id = session.scalar(select(func.max(EventLog.id)))
        if database.engine.dialect.name == "sqlite":
            session.execute(update(EventLog).where(EventLog.id == row_id).values(position=row_id))
    with database.writing() as session:
        sequence(session)
    with database.read.begin() as session:
        page, _ = read_feed(session, event_id(row_id, 1), 10, EventFilter())
    assert [e["data"]["job_id"] for e in page] == [operations[1].job_id]
    assert page[0]["event_id"] == event_id(row_id, 2)
