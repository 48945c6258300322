"""Schema migrations: a new database, one made before migrations, and the models in step."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import bindparam, event, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from shared.accepting.batch_queue import BatchOperation, new_batch_id, operation_job_id
from shared.accepting.batches import batch_progress, batch_results, record_batch
from shared.accepting.operations import Operation, get_job, new_id, record_operation
from shared.config.settings import load_settings
from shared.ledger.accounts import list_transactions, open_account
from shared.ledger.applying import apply_pending
from shared.ledger.audit import run_audit
from shared.ledger.fences import PartitionsMoved, take_partitions
from shared.partitioning import partition_of
from shared.store.db import Database, init_database
from shared.store.migrating import alembic_config, current_revision, head_revision
from shared.store.models import Account, Base, Batch, Job, LedgerEntry, Partition, utcnow
from shared.timestamps import as_utc

RELEASE_BEFORE_MIGRATIONS = (
    Path(__file__).parent.parent / "fixtures" / "release_before_migrations.sql"
)


def forget_migrations(database: Database) -> None:
    """Make the database look as a release before migrations left it: no alembic_version."""
    with database.writing() as session:
        session.execute(text("DROP TABLE alembic_version"))


def test_a_new_database_is_at_the_newest_revision_and_matches_the_models(
    database: Database,
) -> None:
    with database.read.begin() as session:
        connection = session.connection()
        assert current_revision(connection) == head_revision()
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_a_database_from_an_earlier_version_gets_the_current_indexes(database: Database) -> None:
    forget_migrations(database)
    with database.writing() as session:
        session.execute(text("DROP INDEX ix_jobs_queued"))
        session.execute(
            text("CREATE INDEX ix_jobs_partition_status_id ON jobs (partition, status, id)")
        )
    init_database(database)
    with database.read.begin() as session:
        names = {index["name"] for index in inspect(session.connection()).get_indexes("jobs")}
        assert current_revision(session.connection()) == head_revision()
    assert "ix_jobs_queued" in names
    assert "ix_jobs_partition_status_id" not in names


def test_a_database_from_an_earlier_version_gets_the_new_columns(database: Database) -> None:
    forget_migrations(database)
    with database.writing() as session:
        for table in ("jobs", "transactions"):
            session.execute(text(f'ALTER TABLE {table} DROP COLUMN "metadata"'))
            session.execute(text(f"ALTER TABLE {table} DROP COLUMN reference"))
    init_database(database)
    with database.writing() as session:
        for table in ("jobs", "transactions"):
            columns = {c["name"] for c in inspect(session.connection()).get_columns(table)}
            assert {"reference", "metadata"} <= columns
        open_account(session, "32", 100)
        operation = Operation(new_id(), "32", "deposit", 5, reference="r-1", metadata='{"a":1}')
        record_operation(session, operation, 1)
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")
    with database.read.begin() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.job_id == operation.job_id))
        assert [(e.reference, e.metadata_json) for e in entry] == [("r-1", '{"a":1}')]


def test_a_ledger_from_an_earlier_version_takes_transfers(database: Database) -> None:
    """An earlier version's ledger had job_id UNIQUE, and accounts no controls: init-db
    replaces the one by UNIQUE(job_id, account_number) and gives the others their defaults."""
    forget_migrations(database)
    key = (
        "INTEGER PRIMARY KEY"
        if database.engine.dialect.name == "sqlite"
        else "BIGSERIAL PRIMARY KEY"
    )
    with database.writing() as session:
        session.execute(text("DROP TABLE transactions"))
        session.execute(
            text(
                f"CREATE TABLE transactions (id {key}, account_number VARCHAR(34) NOT NULL "
                "REFERENCES accounts (account_number), job_id VARCHAR(36) UNIQUE, "
                "type VARCHAR(16) NOT NULL, amount BIGINT NOT NULL, status VARCHAR(16) NOT NULL, "
                "balance_after BIGINT NOT NULL, created_at TIMESTAMP NOT NULL)"
            )
        )
        session.execute(
            text(
                "INSERT INTO transactions (account_number, job_id, type, amount, status, "
                "balance_after, created_at) VALUES ('10001', 'old-job', 'deposit', 1, "
                "'succeeded', 500001, CURRENT_TIMESTAMP)"
            )
        )
        for column in ("status", "held", "withdrawn_on_limit_day", "daily_withdrawal_limit"):
            session.execute(text(f"ALTER TABLE accounts DROP COLUMN {column}"))
    init_database(database)
    init_database(database)  # and again: nothing left to change
    transfer = Operation(new_id(), "10001", "transfer", 100, to_account="10002")
    with database.writing() as session:
        record_operation(session, transfer, 1)
    with database.writing() as session:
        [outcome] = apply_pending(session, [0], 10, "test").outcomes
    assert outcome.status == "succeeded", outcome
    assert (outcome.new_balance, outcome.to_balance) == (499_900, 300_100)
    with database.read.begin() as session:
        legs = session.scalars(
            select(LedgerEntry.type).where(LedgerEntry.job_id == transfer.job_id)
        )
        assert sorted(legs) == ["transfer_in", "transfer_out"]
        assert (
            session.scalar(select(LedgerEntry.amount).where(LedgerEntry.job_id == "old-job")) == 1
        )
        assert session.get(Account, "10003").status == "active"


def test_the_last_release_before_migrations_is_upgraded_and_its_queued_work_applied(
    tmp_path: Path,
) -> None:
    """A database file as that release left it, with single and batch jobs still queued."""
    path = tmp_path / "atm.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(RELEASE_BEFORE_MIGRATIONS.read_text())
    database = Database(load_settings({"DATABASE_URL": f"sqlite:///{path}", "ATM_PARTITIONS": "8"}))
    init_database(database)
    with database.read.begin() as session:
        assert current_revision(session.connection()) == head_revision()
        queued = session.scalar(select(Job.id).where(Job.status == "queued").limit(1))
    assert queued is not None
    with database.writing() as session:
        outcomes = apply_pending(session, list(range(8)), 1000, "test").outcomes
    assert len(outcomes) == 8
    with database.read.begin() as session:
        balances = dict(session.execute(select(Account.account_number, Account.balance)).all())
        failures = sorted(session.scalars(select(Job.error_type).where(Job.status == "failed")))
        assert session.scalar(select(Job.id).where(Job.status == "queued").limit(1)) is None
        [batch] = session.scalars(select(Batch))
        assert batch.applied == batch.total == 5
        # Read as a batch of that release: counted from its jobs, by batch and index.
        assert batch.failed is None and batch_progress(session, batch.batch_id).completed
        total, jobs = batch_results(session, batch.batch_id, 0, 10)
        assert (total, [job.batch_index for job in jobs]) == (5, [0, 1, 2, 3, 4])
    assert balances == {
        "10001": 498_500,  # 5,000.00 + 10.00 applied before the upgrade - 25.00
        "10002": 0,  # + 7.00, then 3,007.01 refused, then 3,007.00
        "10003": 100_000,  # 1,000.01 refused
        "20001": 6_000,
        "20002": 4_500,  # the transfer's 40.00 and the batch's 5.00
    }
    assert failures == ["account_not_found", "insufficient_funds", "insufficient_funds"]


def test_the_index_of_jobs_by_target_holds_only_jobs_that_name_one(database: Database) -> None:
    """Revision 0003: partial, and still the one a lookup by target uses."""
    with database.read.begin() as session:
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_jobs_target'"
            ).scalar_one()
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE target_id = 'x' AND type = 'reversal'"
            ).all()
            assert any("ix_jobs_target" in str(step) for step in plan), plan
        else:
            sql = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_jobs_target'"
            ).scalar_one()
    assert "target_id IS NOT NULL" in sql


def test_a_batch_is_read_through_the_index_its_kind_needs(database: Database) -> None:
    """Revision 0004: the index by batch holds parts and the operations of batches from
    before 0002, and the queries repeat its condition so that both databases use it; a
    later batch's results are a range of the job ids."""
    partitions = database.settings.partitions
    with database.writing() as session:
        open_account(session, "70001", 0)
        written_once = new_batch_id()
        operations = [BatchOperation(i, "deposit", "70001", 1, None, None, None) for i in range(4)]
        record_batch(session, written_once, operations, partitions)
    with database.writing() as session:
        partition = partition_of("70001", partitions)
        apply_pending(session, [partition], 2, "test")  # two applied, two in the part
    with database.writing() as session:  # a batch as releases before 0002 wrote it
        earlier = str(uuid.uuid4())
        session.add(Batch(batch_id=earlier, total=1))
        session.add(
            Job(
                job_id=new_id(),
                partition=0,
                type="deposit",
                account_number="70001",
                amount=1,
                status="succeeded",
                batch_id=earlier,
                batch_index=0,
            )
        )
        session.flush()  # no counters (the ORM would write their defaults for a None)
        session.execute(update(Batch).where(Batch.batch_id == earlier).values(failed=None))
    statements: list[tuple[str, object]] = []

    def keep(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "FROM jobs" in statement and "batch" in statement:
            statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        with database.read.begin() as session:
            assert [j.status for j in batch_results(session, written_once, 0, 4)[1]] == [
                "succeeded",
                "succeeded",
                "queued",
                "queued",
            ]
            assert [j.batch_index for j in batch_results(session, earlier, 0, 4)[1]] == [0]
            assert batch_progress(session, earlier).completed
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    # The written-once batch's rows, its parts, the earlier batch's rows, its progress.
    assert len(statements) == 4, statements
    with database.read.begin() as session:
        connection = session.connection()
        if connection.dialect.name == "sqlite":
            explain, scan = "EXPLAIN QUERY PLAN", "SCAN jobs"
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_jobs_batch'"
            ).scalar_one()
        else:  # a table this small is read whole unless told not to
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            explain, scan = "EXPLAIN", "Seq Scan"
            sql = connection.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_jobs_batch'"
            ).scalar_one()
        plans = [
            " ".join(str(step[-1]) for step in connection.exec_driver_sql(f"{explain} {s}", p))
            for s, p in statements
        ]
    assert "substr" in sql and "<> '8'" in sql
    assert all(scan not in plan for plan in plans), plans
    assert "ix_jobs_batch" not in plans[0] and "ix_jobs_batch" in plans[1], plans
    assert all("ix_jobs_batch" in plan for plan in plans[2:]), plans


def test_a_batch_half_applied_by_revision_0004_is_finished_with_outcome_rows(
    database: Database,
) -> None:
    """Revision 0004 wrote a job row per applied batch operation and deleted a finished
    part; after the upgrade the rest of the part is applied into outcome rows, and the
    batch reads whole from both."""
    with database.writing() as session:
        open_account(session, "71", 0)  # opened by this release's code, before going back
    with database.writing() as session:
        command.downgrade(alembic_config(session.connection()), "0004")
        assert "batch_outcomes" not in inspect(session.connection()).get_table_names()
    batch_id = new_batch_id()
    partition = partition_of("71", database.settings.partitions)
    with database.writing() as session:  # what that release's intake and first apply left
        operations = [BatchOperation(i, "deposit", "71", 100, None, None, None) for i in range(4)]
        record_batch(session, batch_id, operations, database.settings.partitions)
        for index in (0, 1):
            job_id = operation_job_id(batch_id, index)
            balance = 100 * (index + 1)
            # Only that release's columns (the model has columns of later revisions).
            entry_id = session.execute(
                insert(LedgerEntry.__table__).values(
                    account_number="71",
                    job_id=job_id,
                    type="deposit",
                    amount=100,
                    status="succeeded",
                    balance_after=balance,
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]
            session.add(
                Job(
                    job_id=job_id,
                    partition=partition,
                    type="deposit",
                    account_number="71",
                    amount=100,
                    status="succeeded",
                    new_balance=balance,
                    transaction_id=entry_id,
                    batch_id=batch_id,
                    batch_index=index,
                )
            )
        session.execute(update(Account).where(Account.account_number == "71").values(balance=200))
        session.execute(update(Job).where(Job.type == "batch_part").values(batch_index=2))
        session.execute(update(Batch).where(Batch.batch_id == batch_id).values(applied=2))
    init_database(database)
    with database.read.begin() as session:
        assert current_revision(session.connection()) == head_revision()
        assert batch_results(session, batch_id, 0, 4)[1][2].status == "queued"
    with database.writing() as session:
        assert apply_pending(session, [partition], 100, "test").count == 2
    with database.read.begin() as session:
        assert batch_results(session, batch_id, 0, 4)[0] == 4
        jobs = batch_results(session, batch_id, 0, 4)[1]
        assert [(job.status, job.new_balance) for job in jobs] == [
            ("succeeded", 100),
            ("succeeded", 200),
            ("succeeded", 300),
            ("succeeded", 400),
        ]
        assert get_job(session, operation_job_id(batch_id, 3)).new_balance == 400
        assert batch_progress(session, batch_id).completed
        assert run_audit(session, 3600).findings == []


def test_revision_0006_dates_each_account_after_its_latest_entry(database: Database) -> None:
    """The upgrade sets each account's last_entry_at to its latest entry's date (not its
    last by id: entries of before may be out of order), so the first chunk after it is
    dated after them; an account with no entry keeps none."""
    with database.writing() as session:
        open_account(session, "81", 100)
        open_account(session, "82", 0)
    later = utcnow() + timedelta(minutes=5)  # as another host's clock, ahead, dated it
    with database.writing() as session:
        command.downgrade(alembic_config(session.connection()), "0005")
        session.execute(
            text(
                "INSERT INTO transactions (account_number, type, amount, status, balance_after, "
                "created_at) VALUES ('81', 'deposit', 5, 'succeeded', 105, :later)"
            ).bindparams(bindparam("later", type_=LedgerEntry.created_at.type)),
            {"later": later},
        )
        session.execute(
            text(
                "INSERT INTO transactions (account_number, type, amount, status, balance_after, "
                "created_at) VALUES ('81', 'deposit', 5, 'succeeded', 110, :now)"
            ).bindparams(bindparam("now", type_=LedgerEntry.created_at.type)),
            {"now": utcnow()},
        )
    init_database(database)
    with database.read.begin() as session:
        rows = session.execute(select(Account.account_number, Account.last_entry_at))
        dates = {number: last_entry_at for number, last_entry_at in rows}
        assert as_utc(dates["81"]) == later and dates["82"] is None


def test_revision_0009_numbers_and_links_each_account_s_entries(database: Database) -> None:
    """The upgrade links every entry to its account's previous one in id order, numbers
    them, and tells each account its last: history reads through the chain at once, and
    the next apply extends it."""
    with database.writing() as session:
        open_account(session, "91", 100)
        open_account(session, "92", 0)
        open_account(session, "93", 0)  # no entry, before or after
    with database.writing() as session:
        command.downgrade(alembic_config(session.connection()), "0008")
        columns = inspect(session.connection()).get_columns("transactions")
        assert "seq" not in {column["name"] for column in columns}
        statement = text(
            "INSERT INTO transactions (account_number, type, amount, status, balance_after, "
            "created_at) VALUES (:number, 'deposit', 1, 'succeeded', :after, :at)"
        ).bindparams(bindparam("at", type_=LedgerEntry.created_at.type))
        for index in range(1, 41):  # 91's entries across two anchors, 92's between them
            session.execute(statement, {"number": "91", "after": 100 + index, "at": utcnow()})
            if index % 3 == 0:
                session.execute(statement, {"number": "92", "after": index // 3, "at": utcnow()})
        for number, balance in (("91", 140), ("92", 13)):
            session.execute(
                update(Account.__table__)
                .where(Account.__table__.c.account_number == number)
                .values(balance=balance)
            )
    init_database(database)
    with database.read.begin() as session:
        assert current_revision(session.connection()) == head_revision()
        for number, count in (("91", 41), ("92", 13)):
            rows = list(
                session.execute(
                    select(LedgerEntry.id, LedgerEntry.prev_id, LedgerEntry.seq)
                    .where(LedgerEntry.account_number == number)
                    .order_by(LedgerEntry.id)
                )
            )
            ids = [row.id for row in rows]
            assert [row.seq for row in rows] == list(range(1, count + 1))
            assert [row.prev_id for row in rows] == [None, *ids[:-1]]
            account = session.get(Account, number)
            assert (account.last_entry_id, account.entry_count) == (ids[-1], count)
        assert session.get(Account, "93").entry_count == 0
    # An applier of the previous release, still running, writes entries without a place in
    # their chain: refused, so its transaction rolls back and nothing falls out of history.
    with pytest.raises(IntegrityError), database.writing() as session:
        session.execute(statement, {"number": "92", "after": 14, "at": utcnow()})
    with database.read.begin() as session:
        page, cursor = list_transactions(session, "91", 20, None)
        assert [entry.balance_after for entry in page] == list(range(140, 120, -1))
        page, cursor = list_transactions(session, "91", 30, cursor)
        assert [entry.balance_after for entry in page] == [*range(120, 100, -1), 100]
        assert cursor is None
        assert run_audit(session, 3600).findings == []
    with database.writing() as session:
        record_operation(session, Operation(new_id(), "92", "deposit", 5), 1)
        record_operation(session, Operation(new_id(), "93", "deposit", 5), 1)
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")
    with database.read.begin() as session:
        assert [e.balance_after for e in list_transactions(session, "92", 2, None)[0]] == [18, 13]
        assert [e.balance_after for e in list_transactions(session, "93", 2, None)[0]] == [5]
        assert run_audit(session, 3600).findings == []


def test_revision_0010_gives_every_partition_a_fence_no_worker_holds(database: Database) -> None:
    """Partitions of before start at epoch 0 with no owner; the first worker to take one
    after the upgrade holds epoch 1, and an apply with a fence of before is refused."""
    with database.writing() as session:
        command.downgrade(alembic_config(session.connection()), "0009")
        assert "epoch" not in {
            c["name"] for c in inspect(session.connection()).get_columns("partitions")
        }
    init_database(database)
    with database.read.begin() as session:
        rows = session.execute(select(Partition.id, Partition.epoch, Partition.owner)).all()
        assert rows and all((epoch, owner) == (0, None) for _, epoch, owner in rows)
    with database.writing() as session:
        assert take_partitions(session, [0], "worker") == {0: 1}
        # A fence is checked where there is work to apply.
        open_account(session, "71", 0)
        record_operation(session, Operation(new_id(), "71", "deposit", 5), 1)
    with pytest.raises(PartitionsMoved), database.writing() as session:
        apply_pending(session, [0], 10, "stale", {0: 0})


def test_revision_0013_keeps_the_ledger_and_drops_its_foreign_key(database: Database) -> None:
    """The ledger, its indexes and queued work come through; the key to accounts is gone
    (the applier and the audit keep what it checked)."""
    with database.writing() as session:
        open_account(session, "94", 100)
        command.downgrade(alembic_config(session.connection()), "0012")
        keys = inspect(session.connection()).get_foreign_keys("transactions")
        assert [key["referred_table"] for key in keys] == ["accounts"]
        session.execute(text("CREATE INDEX ix_by_hand ON transactions (created_at)"))
        withdrawal = Operation(new_id(), "94", "withdraw", 30, reference="r-94", metadata='{"k":1}')
        record_operation(session, withdrawal, 1)
    with database.writing() as session:
        apply_pending(session, [0], 10, "test")  # an entry written before the upgrade
        record_operation(session, Operation(new_id(), "94", "deposit", 7), 1)
    ledger = LedgerEntry.__table__
    with database.read.begin() as session:
        before = [tuple(row) for row in session.execute(select(ledger).order_by(ledger.c.id))]
    assert any("r-94" in row and '{"k":1}' in row for row in before)
    init_database(database)
    with database.read.begin() as session:
        connection = session.connection()
        assert current_revision(connection) == head_revision()
        assert inspect(connection).get_foreign_keys("transactions") == []
        indexes = {index["name"] for index in inspect(connection).get_indexes("transactions")}
        assert indexes == {"ix_transactions_anchors", "ux_transactions_job_account", "ix_by_hand"}
        after = [tuple(row) for row in session.execute(select(ledger).order_by(ledger.c.id))]
        assert after == before
    with database.writing() as session:
        assert apply_pending(session, [0], 10, "test").count == 1
    with database.read.begin() as session:
        assert session.get(Account, "94").balance == 77
        assert [e.balance_after for e in list_transactions(session, "94", 5, None)[0]] == [
            77,
            70,
            100,
        ]
        assert run_audit(session, 3600).findings == []
