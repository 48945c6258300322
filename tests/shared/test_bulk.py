"""Statements through the driver: tuples in declared order, values processed as SQLAlchemy
does, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.config.settings import load_settings
from shared.store.bulk import INLINE_FROM, BulkStatement, reserve_ids
from shared.store.db import Database, init_database
from shared.store.models import Job, LedgerEntry
from shared.store.prepared import Prepared
from shared.timestamps import as_utc

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


@pytest.mark.parametrize(
    "applied_by", ["o'brien'); DELETE FROM jobs; --", "nul\x00inside", None], ids=repr
)
def test_shared_values_land_exactly_whatever_they_hold(
    database: Database, applied_by: str | None
) -> None:
    """On SQLite, with many rows, the shared values are written into the statement as
    literals (a quote doubled; a value no literal can hold, such as one with a NUL, is
    bound instead)."""
    if "\x00" in (applied_by or "") and database.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's text cannot hold a NUL")
    insert_jobs = BulkStatement(
        _jobs.insert(), columns=("job_id", "account_number", "amount", "partition", "type")
    )
    with database.writing() as session:
        insert_jobs.executemany(
            session,
            [(f"j{index}", "1", 100, 0, "deposit") for index in range(INLINE_FROM)],
            {"status": "queued", "applied_by": applied_by, "created_at": datetime.now(UTC)},
        )
    with database.read.begin() as session:
        rows = session.execute(select(Job.job_id, Job.applied_by).order_by(Job.id)).all()
    assert [tuple(row) for row in rows] == [(f"j{i}", applied_by) for i in range(INLINE_FROM)]


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


def _accepted(database: Database) -> list[datetime]:
    """Three jobs accepted a minute apart, in partitions 0, 1 and 2."""
    times = [datetime(2030, 1, 2, 3, minute, tzinfo=UTC) for minute in (1, 2, 3)]
    with database.writing() as session:
        session.execute(
            insert(_jobs),
            [
                {
                    "job_id": f"j{index}",
                    "partition": index,
                    "account_number": "1",
                    "type": "deposit",
                    "amount": 100,
                    "status": "queued",
                    "created_at": accepted,
                }
                for index, accepted in enumerate(times)
            ],
        )
    return times


def test_a_prepared_select_gives_what_sqlalchemy_gives(database: Database) -> None:
    """Its IN list of any length (none too), a datetime parameter and datetime results
    processed as SQLAlchemy's own execution processes them."""
    times = _accepted(database)
    statement = (
        select(_jobs.c.job_id, _jobs.c.partition, _jobs.c.created_at)
        .where(
            _jobs.c.partition.in_(bindparam("partitions", expanding=True)),
            _jobs.c.created_at <= bindparam("until"),
        )
        .order_by(_jobs.c.id)
        .limit(bindparam("limit"))
    )
    prepared = Prepared(statement)
    with database.read.begin() as session:
        for partitions in ([0], [2, 1, 0], [], [1, 2], [7]):
            parameters = {"partitions": partitions, "until": times[1], "limit": 5}
            expected = [tuple(row) for row in session.execute(statement, parameters)]
            assert prepared.execute(session, parameters) == expected
        rows = prepared.execute(session, {"partitions": [0, 1, 2], "until": times[2], "limit": 2})
    assert [job_id for job_id, _, _ in rows] == ["j0", "j1"]
    assert [as_utc(created) for _, _, created in rows] == times[:2]


def test_a_prepared_update_and_scalar(database: Database) -> None:
    _accepted(database)
    finish = Prepared(
        update(_jobs)
        .where(_jobs.c.partition.in_(bindparam("partitions", expanding=True)))
        .values(status=bindparam("status"))
    )
    count = Prepared(select(func.count()).where(_jobs.c.status == "succeeded"))
    with database.writing() as session:
        assert finish.execute(session, {"partitions": [0, 2], "status": "succeeded"}) == []
        assert count.scalar(session) == 2
        assert Prepared(select(_jobs.c.id).where(_jobs.c.id < 0)).scalar(session) is None


def test_a_driver_error_is_raised_as_sqlalchemys(database: Database) -> None:
    """Callers catch SQLAlchemy's exceptions, whichever way a statement ran."""
    _accepted(database)
    again = Prepared(
        insert(_jobs).values(job_id="j0", partition=0, account_number="1", type="deposit", amount=1)
    )
    with pytest.raises(IntegrityError), database.writing() as session:
        again.execute(session)


def test_a_parameter_the_statement_does_not_bind_is_refused(database: Database) -> None:
    prepared = Prepared(select(_jobs.c.id).where(_jobs.c.id == bindparam("id")))
    with database.read.begin() as session, pytest.raises(TypeError, match="idd"):
        prepared.execute(session, {"id": 1, "idd": 2})


def test_objects_added_to_the_session_are_flushed_first(database: Database) -> None:
    """As session.execute does: a statement through the driver sees them, in order."""
    count = Prepared(select(func.count()).select_from(_jobs))
    with database.writing() as session:
        session.add(Job(job_id="x", partition=0, type="deposit", account_number="1", amount=1))
        assert count.scalar(session) == 1


def test_a_value_given_later_is_used_where_an_earlier_call_took_the_default(
    database: Database,
) -> None:
    """A plan keeps the statement's own values of the parameters its call left out: a call
    that gives one of them gets a plan of its own, and a misspelt name is still refused."""
    _accepted(database)
    prepared = Prepared(select(_jobs.c.job_id).where(_jobs.c.job_id == bindparam("id", "j0")))
    with database.read.begin() as session:
        assert prepared.execute(session) == [("j0",)]
        assert prepared.execute(session, {"id": "j2"}) == [("j2",)]
        with pytest.raises(TypeError, match="idd"):
            prepared.execute(session, {"idd": "j1"})


def test_a_prepared_select_run_for_each_parameter_set_gives_each_ones_rows(
    database: Database,
) -> None:
    """What the queue reading of many partitions uses: one cursor, each set's rows in the
    set's order, datetimes processed; IN lists and sets naming other parameters refused."""
    times = _accepted(database)
    statement = (
        select(_jobs.c.job_id, _jobs.c.created_at)
        .where(_jobs.c.partition == bindparam("partition"))
        .order_by(_jobs.c.id)
        .limit(bindparam("limit"))
    )
    prepared = Prepared(statement)
    sets = [{"partition": p, "limit": 3} for p in (2, 7, 0, 1)]
    with database.read.begin() as session:
        expected = [[tuple(row) for row in session.execute(statement, s)] for s in sets]
        found = prepared.execute_each(session, sets)
        assert found == expected and [len(rows) for rows in found] == [1, 0, 1, 1]
        assert as_utc(found[0][0][1]) == times[2]
        assert prepared.execute_each(session, []) == []
        with pytest.raises(TypeError, match="same parameters"):
            prepared.execute_each(session, [{"partition": 0, "limit": 1}, {"partition": 1}])
        ids = bindparam("ids", expanding=True)
        listed = Prepared(select(_jobs.c.id).where(_jobs.c.id.in_(ids)))
        with pytest.raises(TypeError, match="IN lists"):
            listed.execute_each(session, [{"ids": [1]}])
