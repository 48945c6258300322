"""PostgreSQL's pooled connections: pinged only after sitting idle, and single reads (`look`)
without a transaction around them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.config.settings import load_settings
from shared.ledger.applying import has_pending
from shared.store import db as db_module
from shared.store.db import Database, init_database
from tests.postgres import fresh_postgres_database


@pytest.fixture
def postgres() -> Iterator[Database]:
    with fresh_postgres_database("atm_pool") as url:
        database = Database(load_settings({"DATABASE_URL": url, "ATM_PARTITIONS": "4"}))
        init_database(database)
        try:
            yield database
        finally:
            database.engine.dispose()


def _backend_pid(database: Database) -> int:
    with database.read.begin() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database: Database, pid: int) -> None:
    """End the server process of a pooled connection from outside the pool, as a restart of
    the server would."""
    admin = create_engine(database.settings.database_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 60.0)
    _terminate(postgres, _backend_pid(postgres))
    # No ping: the dropped connection is lent out and its transaction fails...
    with pytest.raises(OperationalError):
        _backend_pid(postgres)
    # ...and the pool then replaces it.
    assert _backend_pid(postgres) > 0


def test_a_connection_that_sat_idle_is_pinged_and_replaced_when_it_does_not_answer(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _backend_pid(postgres)
    _terminate(postgres, first)
    second = _backend_pid(postgres)  # the ping found it gone: a new connection, no error
    assert second != first


def _in_transaction(session: Session) -> bool:
    driver = session.connection().connection.driver_connection
    return driver.info.transaction_status != TransactionStatus.IDLE


def test_a_look_runs_without_a_transaction_and_a_read_within_one(postgres: Database) -> None:
    with postgres.look.begin() as session:
        assert has_pending(session, range(4)) is False
        assert not _in_transaction(session)
    with postgres.read.begin() as session:
        assert has_pending(session, range(4)) is False
        assert _in_transaction(session)
    with postgres.writing() as session:
        assert has_pending(session, range(4)) is False
        assert _in_transaction(session)
