"""A daemon thread per process, started on first use, so gunicorn's fork never copies one."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    """Starts `target` once in each process that calls `ensure_started()`.

    Under gunicorn's gevent worker `threading` is patched, so this is a greenlet: it may
    block on sockets (Redis) cooperatively, and hands database work to web/offload.py.
    """

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.lock = threading.Lock()
        self.pid: int | None = None

    def ensure_started(self) -> bool:
        """Start the thread if this process has none yet; True if it was started now."""
        with self.lock:
            if self.pid == os.getpid():
                return False
            self.pid = os.getpid()
            threading.Thread(target=self.target, name=self.name, daemon=True).start()
            return True
