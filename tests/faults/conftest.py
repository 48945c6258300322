"""The stack that fault tests break: its own database, Redis database 3, slow applying."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import RedisServer, Stack, logs


@pytest.fixture
def fault_stack(tmp_path: Path, redis_server: RedisServer) -> Iterator[Stack]:
    """A stack of its own on Redis database 3 that applies slowly (100 jobs a transaction),
    so that a fault lands in the middle of the work."""
    running = Stack(tmp_path, redis_server.url.replace("/0", "/3"), ATM_APPLY_CHUNK="100")
    running.redis.flushdb()
    yield running
    running.stop()
    if os.environ.get("ATM_TEST_SHOW_LOGS"):
        print(logs(tmp_path))
