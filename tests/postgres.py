"""A throwaway PostgreSQL database for tests that run on both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

POSTGRES_ADMIN_URL = os.environ.get(
    "ATM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """Create a new database, yield its URL, drop it afterwards (closing any connections).

    Skips the test where no PostgreSQL answers at ATM_TEST_POSTGRES_URL.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        pytest.skip(f"no PostgreSQL answers at {POSTGRES_ADMIN_URL}")
    try:
        yield str(make_url(POSTGRES_ADMIN_URL).set(database=name))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
