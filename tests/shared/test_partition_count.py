"""The partition count is the database's: a process with another ATM_PARTITIONS refuses to
start, and the count changes only with nothing waiting in any partition."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from shared.accepting.operations import Operation, new_id, record_operation, record_operations
from shared.config.settings import DEFAULT_PARTITIONS, load_settings
from shared.ledger.accounts import open_account
from shared.ledger.applying import apply_pending
from shared.ledger.fences import take_partitions
from shared.ledger.partition_count import (
    PartitionCountDiffers,
    PartitionsBusy,
    change_partition_count,
)
from shared.ledger.queue_reading import SHARES_IN_ONE_STATEMENT
from shared.partitioning import lease_key, partition_of
from shared.store.db import Database, init_database
from shared.store.models import Account, Partition
from tests.stack import RedisServer, free_port
from web import create_app
from web.serving.services import EXTENSION_KEY, current_services, first_connection


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


def cli(database: Database, redis_url: str) -> FlaskCliRunner:
    """The admin CLI on this database and Redis, its ATM_PARTITIONS the database's (1)."""
    settings = load_settings(
        {"DATABASE_URL": database.settings.database_url, "REDIS_URL": redis_url}
    )
    return create_app(settings).test_cli_runner()


def test_the_command_changes_the_count_only_with_the_service_stopped(
    database: Database, redis_server: RedisServer
) -> None:
    url = redis_server.url.replace("/0", "/14")
    registry = redis.Redis.from_url(url)
    registry.flushdb()
    try:
        runner = cli(database, url)
        registry.set(lease_key(0), "host:1")  # a live worker holds partition 0
        refused = runner.invoke(args=["partitions", "3"])
        assert refused.exit_code == 1
        assert "the service is running (1 partitions leased)" in refused.output
        registry.delete(lease_key(0))
        done = runner.invoke(args=["partitions", "3"])
        assert done.exit_code == 0, done.output
        assert "partitions: 1 -> 3; a process started with ATM_PARTITIONS set must" in done.output
        assert partition_ids(database) == [0, 1, 2]
    finally:
        registry.flushdb()
    with database.writing() as session:
        open_account(session, "70003", 100)
        record_operation(session, Operation(new_id(), "70003", "deposit", 1), 3)
    busy = runner.invoke(args=["partitions", "5"])
    assert busy.exit_code == 1
    assert "can change only when nothing waits in any partition" in busy.output
    assert partition_ids(database) == [0, 1, 2]
    assert runner.invoke(args=["partitions", "0"]).exit_code == 2  # not a count


def test_without_redis_the_command_needs_to_be_told(database: Database) -> None:
    runner = cli(database, "redis://127.0.0.1:1/0")  # nothing answers there
    refused = runner.invoke(args=["partitions", "2"])
    assert refused.exit_code == 1
    assert "to check that every process is stopped" in refused.output
    assert partition_ids(database) == [0]
    done = runner.invoke(args=["partitions", "2", "--unchecked"])
    assert done.exit_code == 0, done.output
    assert partition_ids(database) == [0, 1]


def test_a_new_partition_starts_above_every_fence_of_before(database: Database) -> None:
    with database.writing() as session:
        assert take_partitions(session, [0], "worker") == {0: 1}
    with database.writing() as session:
        change_partition_count(session, 2)
    with database.read.begin() as session:
        epochs = {
            row.id: row.epoch for row in session.execute(select(Partition.id, Partition.epoch))
        }
    assert epochs == {0: 1, 1: 2}


def test_an_owner_of_more_partitions_than_one_statement_reads_applies_them_all(
    database: Database,
) -> None:
    """More partitions with work than SHARES_IN_ONE_STATEMENT, and than the 500 terms SQLite
    allows a compound SELECT: each is read on its own, and all are applied."""
    count = 612
    with database.writing() as session:
        change_partition_count(session, count)
    many = with_count(database, count)
    try:
        numbers = [str(80_000 + index) for index in range(3 * count)]
        with many.writing() as session:
            for number in numbers:
                open_account(session, number, 100)
            operations = [Operation(new_id(), n, "withdraw", 1) for n in numbers]
            record_operations(session, operations, count)
        partitions = {partition_of(number, count) for number in numbers}
        assert len(partitions) > 500 > SHARES_IN_ONE_STATEMENT
        with many.writing() as session:
            applied = apply_pending(session, list(range(count)), 10_000, "test")
        assert applied.count == len(numbers)
        with many.read.begin() as session:
            balances = session.scalars(
                select(Account.balance).where(Account.account_number.in_(numbers))
            ).all()
        assert sorted(set(balances)) == [99]
    finally:
        many.close()


def test_a_process_without_atm_partitions_takes_the_databases_count(
    database: Database, redis_server: RedisServer
) -> None:
    """A database made with another count than the default (one partition here; an earlier
    release's default made 8) is started as it is, with nothing to set: a worker's and the
    launcher's start (init_database) and a web process's (create_app) take its count."""
    unset = load_settings(
        {
            "DATABASE_URL": database.settings.database_url,
            "REDIS_URL": redis_server.url.replace("/0", "/14"),
        }
    )
    assert not unset.partitions_given and unset.partitions != 1
    opened = Database(unset)
    try:
        assert init_database(opened) == 1
    finally:
        opened.close()
    assert partition_ids(database) == [0]  # nothing added
    app = create_app(unset)
    try:
        with app.app_context():
            services = current_services()
            assert services.settings.partitions == services.database.settings.partitions == 1
            assert services.intake.partitions == 1
    finally:
        app.extensions[EXTENSION_KEY].close(10)


def test_a_new_database_gets_the_default_count(tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    fresh = Database(settings)
    try:
        assert init_database(fresh) == DEFAULT_PARTITIONS == settings.partitions
        assert partition_ids(fresh) == list(range(DEFAULT_PARTITIONS))
    finally:
        fresh.close()


def test_without_atm_partitions_a_web_process_needs_its_database_at_start(
    redis_server: RedisServer,
) -> None:
    """It records work in the partitions it counts, so it does not guess the count."""
    nobody = f"postgresql+psycopg://atm@127.0.0.1:{free_port()}/atm"  # refuses connections
    settings = load_settings(
        {"DATABASE_URL": nobody, "REDIS_URL": redis_server.url.replace("/0", "/14")}
    )
    with pytest.raises(RuntimeError, match="without ATM_PARTITIONS a web process reads"):
        create_app(settings)
