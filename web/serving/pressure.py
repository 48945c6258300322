"""Backpressure: refuse new work with 503 while the backlog or Redis memory is past its limit.

Work is refused before it is recorded, never accepted and then dropped. The measurements
are taken at most every half second per process, so the limits are soft by what arrives
in that time.
"""

from __future__ import annotations

import threading
import time

import redis
from redis.exceptions import RedisError

from shared.accepting.operations import queued_backlog
from shared.config.settings import Settings
from shared.errors import Overloaded
from shared.store.db import Database
from web.serving.offload import DatabaseThreads

REFRESH_SECONDS = 0.5


class Backpressure:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        threads: DatabaseThreads,
        client: redis.Redis,
    ) -> None:
        self.settings = settings
        self.database = database
        self.threads = threads
        self.redis = client
        self.lock = threading.Lock()
        self.measured_at = float("-inf")
        self.backlog = 0
        self.redis_full = False

    def admit(self, incoming: int = 1) -> None:
        """Raise Overloaded if `incoming` more operations should not be accepted now."""
        self._refresh()
        if self.backlog + incoming > self.settings.max_backlog:
            raise Overloaded(
                f"{self.backlog} operations are waiting to be applied "
                f"(limit {self.settings.max_backlog}); retry later"
            )
        if self.redis_full:
            raise Overloaded("the message broker is near its memory limit; retry later")

    def _refresh(self) -> None:
        with self.lock:
            if time.monotonic() - self.measured_at < REFRESH_SECONDS:
                return
            self.measured_at = time.monotonic()
            self.backlog = self.threads.run(self._measure_backlog)
            self.redis_full = self._redis_near_limit()

    def _measure_backlog(self) -> int:
        with self.database.read.begin() as session:
            return queued_backlog(session, self.settings.partitions)

    def _redis_near_limit(self) -> bool:
        try:
            memory = self.redis.info("memory")
        except RedisError:
            return False  # accepting is still safe: the job row is the durable record
        limit = int(memory.get("maxmemory", 0))
        used = int(memory.get("used_memory", 0))
        return bool(limit) and used > limit * self.settings.max_redis_memory_fraction
