"""Partition fences on SQLite and PostgreSQL: a worker whose partition was taken since
applies nothing of it, and taking waits for the previous owner's transaction to end."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from shared.accepting.operations import Operation, new_id, record_operation
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.ledger.fences import PartitionsMoved, take_partitions
from shared.store.db import Database
from shared.store.models import Account, Job, Partition


def _queue_deposits(database: Database, count: int) -> None:
    with database.writing() as session:
        if session.get(Account, "61") is None:
            open_account(session, "61", 0)
        for _ in range(count):
            record_operation(session, Operation(new_id(), "61", "deposit", 100), 1)


def _queued(database: Database) -> int:
    with database.read.begin() as session:
        return len(session.scalars(select(Job.id).where(Job.status == "queued")).all())


def test_an_owner_whose_partition_was_taken_applies_nothing_of_it(database: Database) -> None:
    _queue_deposits(database, 3)
    with database.writing() as session:
        first = take_partitions(session, [0], "first")
    with database.writing() as session:
        assert apply_pending(session, [0], 1, "first", first).count == 1
    with database.writing() as session:
        second = take_partitions(session, [0], "second")
    assert second[0] == first[0] + 1
    with pytest.raises(PartitionsMoved) as refused, database.writing() as session:
        apply_pending(session, [0], 10, "first", first)
    assert refused.value.partitions == [0]
    assert _queued(database) == 2  # the refused transaction wrote nothing
    with database.writing() as session:
        assert apply_pending(session, [0], 10, "second", second).count == 2
    with database.read.begin() as session:
        row = session.get_one(Partition, 0)
        assert (row.epoch, row.owner, row.applied_by) == (second[0], "second", "second")
        assert session.get_one(Account, "61").balance == 300


def test_taking_a_partition_waits_for_its_owners_transaction_to_end(database: Database) -> None:
    """The new epoch exists only once the previous owner's apply has committed: until then
    its transaction holds the partition's row (PostgreSQL) or the write lock (SQLite)."""
    _queue_deposits(database, 2)
    with database.writing() as session:
        first = take_partitions(session, [0], "first")
    events: list[str] = []
    applying, taken = threading.Event(), threading.Event()

    def take() -> None:
        applying.wait(10)
        with database.writing() as session:
            take_partitions(session, [0], "second")
        events.append("taken")
        taken.set()

    thread = threading.Thread(target=take)
    thread.start()
    with database.writing() as session:
        assert apply_pending(session, [0], 10, "first", first).count == 2
        applying.set()
        assert not taken.wait(0.5), "the partition was taken while its owner was applying"
        events.append("committing")
    thread.join(10)
    assert events == ["committing", "taken"]
    _queue_deposits(database, 1)
    with pytest.raises(PartitionsMoved), database.writing() as session:
        apply_pending(session, [0], 10, "first", first)
