"""Many-row statements: tuples in declared order, shared values processed once, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, update

from shared.bulk import BulkStatement, reserve_ids
from shared.db import Database, init_database
from shared.models import Job, LedgerEntry
from shared.settings import load_settings

_jobs = Job.__table__


def test_rows_and_shared_values_land_in_their_columns(database: Database) -> None:
    insert_jobs = BulkStatement(
        _jobs.insert(), columns=("amount", "account_number", "job_id", "partition", "type")
    )
    accepted = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with database.writing() as session:
        insert_jobs.executemany(
            session,
            [(100, "1", "a", 0, "deposit"), (200, "2", "b", 0, "withdraw")],
            {"status": "queued", "created_at": accepted},
        )
        finish = BulkStatement(
            update(_jobs)
            .where(_jobs.c.job_id == bindparam("key"))
            .values(new_balance=bindparam("balance"), status=bindparam("status")),
            columns=("balance", "key"),
        )
        finish.executemany(session, [(7, "b")], {"status": "succeeded"})
    with database.read.begin() as session:
        rows = session.execute(
            select(
                Job.job_id, Job.account_number, Job.amount, Job.status, Job.new_balance
            ).order_by(Job.id)
        ).all()
        created = session.scalars(select(Job.created_at)).all()
    assert [tuple(row) for row in rows] == [
        ("a", "1", 100, "queued", None),
        ("b", "2", 200, "succeeded", 7),
    ]
    assert {value.replace(tzinfo=UTC) for value in created} == {accepted.replace(tzinfo=UTC)}


def test_a_value_needing_conversion_must_be_shared(tmp_path: Path) -> None:
    """SQLite's datetimes are converted in Python: per row that would undo the point."""
    database = Database(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"}))
    init_database(database)
    statement = BulkStatement(_jobs.insert(), columns=("job_id", "created_at"))
    with database.writing() as session, pytest.raises(TypeError, match="created_at"):
        statement.executemany(session, [("a", datetime.now(UTC))])


def test_reserved_ids_are_new_and_increasing(database: Database) -> None:
    table = LedgerEntry.__table__
    with database.writing() as session:
        existing = set(session.scalars(select(LedgerEntry.id)))
        reserved = reserve_ids(session, table, 3)
        assert reserve_ids(session, table, 0) == []
    assert reserved == sorted(reserved)
    assert len(set(reserved)) == 3 and not set(reserved) & existing
