"""The partition count is the database's: a process with another ATM_PARTITIONS refuses to
start, and the count changes only with nothing waiting in any partition."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from shared.accepting.operations import Operation, new_id, record_operation
from shared.config.settings import load_settings
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.ledger.partition_count import (
    PartitionCountDiffers,
    PartitionsBusy,
    change_partition_count,
)
from shared.partitioning import partition_of
from shared.store.db import Database, init_database
from shared.store.models import Partition
from web.cli.commands import partitions as partitions_command
from web.serving.services import first_connection


def with_count(database: Database, count: int) -> Database:
    """The same database, opened by a process started with ATM_PARTITIONS=count."""
    url = database.settings.database_url
    return Database(load_settings({"DATABASE_URL": url, "ATM_PARTITIONS": str(count)}))


def partition_ids(database: Database) -> list[int]:
    with database.read.begin() as session:
        return sorted(session.scalars(select(Partition.id)))


def test_a_process_with_another_count_refuses_to_start(database: Database) -> None:
    assert partition_ids(database) == [0]  # made with ATM_PARTITIONS=1
    other = with_count(database, 8)
    try:
        with pytest.raises(PartitionCountDiffers) as refused:
            init_database(other)  # a worker's start, `make run`, `init-db`
        assert "ATM_PARTITIONS is 8, but this database has 1 partitions" in str(refused.value)
        assert "ATM_PARTITIONS=1" in str(refused.value)
        with pytest.raises(PartitionCountDiffers):
            first_connection(other)  # a web process's start
    finally:
        other.close()
    assert partition_ids(database) == [0]  # nothing added


def test_the_count_changes_only_with_nothing_waiting(database: Database) -> None:
    with database.writing() as session:
        open_account(session, "70001", 1_000)
        record_operation(session, Operation(new_id(), "70001", "deposit", 5), 1)
    with pytest.raises(PartitionsBusy), database.writing() as session:
        change_partition_count(session, 4)
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")
        record_operation(
            session,
            Operation(
                new_id(), "70001", "hold", 5, target_id=new_id(), details='{"expires_in": 3600}'
            ),
            1,
        )
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")  # the hold is now active
    with pytest.raises(PartitionsBusy), database.writing() as session:
        change_partition_count(session, 4)
    assert partition_ids(database) == [0]


def test_a_changed_count_is_the_one_processes_start_with(database: Database) -> None:
    with database.writing() as session:
        assert change_partition_count(session, 4) == 1
    assert partition_ids(database) == [0, 1, 2, 3]
    with pytest.raises(PartitionCountDiffers):
        init_database(with_count(database, 1))
    four = with_count(database, 4)
    try:
        init_database(four)
        partition = partition_of("70002", 4)
        with four.writing() as session:
            open_account(session, "70002", 100)
            record_operation(session, Operation(new_id(), "70002", "withdraw", 30), 4)
        with four.writing() as session:
            assert apply_pending(session, [partition], 10, "test").count == 1
        with four.writing() as session:
            assert change_partition_count(session, 2) == 4
        assert partition_ids(database) == [0, 1]
    finally:
        four.close()


def test_the_command_changes_the_count_or_says_why_not(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database.settings.database_url)
    runner = CliRunner()
    done = runner.invoke(partitions_command, ["3"])
    assert done.exit_code == 0, done.output
    assert "partitions: 1 -> 3; start every process with ATM_PARTITIONS=3" in done.output
    assert partition_ids(database) == [0, 1, 2]
    with database.writing() as session:
        open_account(session, "70003", 100)
        record_operation(session, Operation(new_id(), "70003", "deposit", 1), 3)
    refused = runner.invoke(partitions_command, ["5"])
    assert refused.exit_code == 1
    assert "can change only when nothing waits in any partition" in refused.output
    assert partition_ids(database) == [0, 1, 2]
    assert runner.invoke(partitions_command, ["0"]).exit_code == 2  # not a count
