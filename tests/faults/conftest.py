"""The stack that fault tests break: its own database (a SQLite file, then a fresh database
of ATM_TEST_POSTGRES_URL), Redis database 3, slow applying."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.postgres import fresh_postgres_database
from tests.stack import RedisServer, Stack, logs


@pytest.fixture(params=["sqlite", "postgresql"])
def fault_stack(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: RedisServer
) -> Iterator[Stack]:
    """A stack of its own on Redis database 3 that applies slowly (100 jobs a transaction),
    so that a fault lands in the middle of the work; on each database the service runs on."""
    with ExitStack() as resources:
        env = {"ATM_APPLY_CHUNK": "100"}
        if request.param == "postgresql":
            env["DATABASE_URL"] = resources.enter_context(fresh_postgres_database("atm_faults"))
        running = Stack(tmp_path, redis_server.url.replace("/0", "/3"), **env)
        running.redis.flushdb()
        try:
            yield running
        finally:
            running.stop()
            if os.environ.get("ATM_TEST_SHOW_LOGS"):
                print(logs(tmp_path))
