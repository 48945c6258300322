"""The database the shared-layer tests run on: SQLite, then the one of ATM_TEST_POSTGRES_URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config.settings import load_settings
from shared.store.db import Database, init_database
from tests.postgres import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The same rules on a SQLite file and on a fresh database of ATM_TEST_POSTGRES_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'atm.db'}"
        yield _database(url)
        return
    with fresh_postgres_database("atm_test") as url:
        db = _database(url)
        try:
            yield db
        finally:
            db.engine.dispose()


def _database(url: str) -> Database:
    db = Database(load_settings({"DATABASE_URL": url, "ATM_PARTITIONS": "1"}))
    init_database(db)
    return db
