"""A daemon thread per process, started on first use, so gunicorn's fork never copies one."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# This process's id, kept current across forks: every request asks for its threads, and
# os.getpid is a system call each time.
_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork)


class ProcessThread:
    """Starts `target` once in each process that calls `ensure_started()`.

    Under gunicorn's gevent worker `threading` is patched, so this is a greenlet: it may
    block on sockets (Redis) cooperatively, and hands database work to web/serving/offload.py.
    """

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        self.name = name
        self.target = target
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.thread: threading.Thread | None = None

    def ensure_started(self) -> bool:
        """Start the thread if this process has none yet; True if it was started now."""
        if self.pid == _pid:  # asked by every request: no lock once started
            return False
        with self.lock:
            if self.pid == _pid:
                return False
            self.pid = _pid
            self.thread = threading.Thread(target=self.target, name=self.name, daemon=True)
            self.thread.start()
            return True

    def running_here(self) -> bool:
        """Whether this process's thread has started and not ended."""
        return self.pid == _pid and self.thread is not None and self.thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` for this process's thread to end (its target told to stop);
        True if it has ended or never started here."""
        if self.pid != _pid or self.thread is None:
            return True
        self.thread.join(timeout)
        return not self.thread.is_alive()
