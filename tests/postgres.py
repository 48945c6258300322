"""A throwaway PostgreSQL database for tests that run on both databases.

Only the server named by ATM_TEST_POSTGRES_URL is used: without it the PostgreSQL tests are
skipped (and the summary says so), so a test run never creates databases on a server it
was not given. ATM_TEST_POSTGRES_REQUIRED=1 (CI) turns that skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

URL_VARIABLE = "ATM_TEST_POSTGRES_URL"
REQUIRED_VARIABLE = "ATM_TEST_POSTGRES_REQUIRED"
HOW_TO_RUN = f"set {URL_VARIABLE}=postgresql+psycopg://… to run them"
SKIP_REASON = f"PostgreSQL tests skipped: {HOW_TO_RUN}"


def postgres_admin_url() -> str:
    """The server the PostgreSQL tests may use, or skip (fail, where required) without one."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get(REQUIRED_VARIABLE, "").strip() in {"1", "true", "yes"}:
        pytest.fail(f"{REQUIRED_VARIABLE} forbids skipping the PostgreSQL tests: {HOW_TO_RUN}")
    pytest.skip(SKIP_REASON)


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """Create a new database on the server of ATM_TEST_POSTGRES_URL, yield its URL, drop it
    afterwards (closing any connections)."""
    admin_url = postgres_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        # Asked for and not there: a failure, not a skip that would hide it.
        shown = make_url(admin_url).render_as_string(hide_password=True)
        pytest.fail(f"{URL_VARIABLE}={shown} does not answer: {exc}")
    try:
        yield str(make_url(admin_url).set(database=name))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
