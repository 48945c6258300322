"""The PostgreSQL tests use only the server they are given, and say when they did not run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.config.settings import PROJECT_ROOT
from tests import postgres


@pytest.fixture
def no_postgres_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(postgres.URL_VARIABLE, raising=False)
    monkeypatch.delenv(postgres.REQUIRED_VARIABLE, raising=False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a PostgreSQL server that was not given was connected to")

    monkeypatch.setattr(postgres, "create_engine", refuse)


@pytest.mark.usefixtures("no_postgres_given")
def test_without_a_url_no_server_is_touched_and_the_test_is_skipped() -> None:
    with (
        pytest.raises(pytest.skip.Exception, match="set ATM_TEST_POSTGRES_URL="),
        postgres.fresh_postgres_database("atm_never"),
    ):
        pass


@pytest.mark.usefixtures("no_postgres_given")
def test_where_postgres_is_required_a_missing_url_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(postgres.REQUIRED_VARIABLE, "1")
    with (
        pytest.raises(pytest.fail.Exception, match="ATM_TEST_POSTGRES_URL"),
        postgres.fresh_postgres_database("atm_never"),
    ):
        pass


def test_the_summary_says_the_postgres_tests_were_skipped() -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {postgres.URL_VARIABLE, postgres.REQUIRED_VARIABLE}
    }
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    result = subprocess.run(
        [*command, "tests/shared/test_applying.py", "-k", "sample_accounts"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{postgres.SKIP_REASON} (1 skipped)" in result.stdout.splitlines()
    assert "1 passed, 1 skipped" in result.stdout
