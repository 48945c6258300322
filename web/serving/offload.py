"""Database work off the event loop: under gevent, a pool of real threads runs it.

gunicorn's gevent worker serves every request on one OS thread, so a waiting request costs a
greenlet, not a thread. The database calls are the exception: sqlite3 (and psycopg's wait)
block in C, where gevent cannot switch, and a commit's fsync would stall every request of
the process. Each unit of work therefore runs whole (open, query, commit) on one of a few
real threads while the calling greenlet waits cooperatively. Outside gevent (the CLI, tests
in-process) it simply runs in the caller's thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from gevent import monkey

P = ParamSpec("P")
T = TypeVar("T")


def serving_on_gevent() -> bool:
    return monkey.is_module_patched("socket")


class DatabaseThreads:
    """A per-process pool of real threads, created on first use (after gunicorn's fork)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pool = None
        self.pid: int | None = None

    def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(*args, **kwargs)` on a real thread; its result, or its exception, here."""
        if not serving_on_gevent():
            return work(*args, **kwargs)
        if self.pid != os.getpid():
            from gevent.threadpool import ThreadPool

            self.pool, self.pid = ThreadPool(self.size), os.getpid()
        return self.pool.apply(work, args, kwargs)  # type: ignore[union-attr]
