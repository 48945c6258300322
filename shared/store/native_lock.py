"""A lock of the operating system, for state that real threads share in a gevent process."""

from __future__ import annotations

import threading


def native_lock() -> threading.Lock:
    """A lock of the operating system, also in a process where gevent patched `threading`.

    The web's database work runs in a pool of real threads; a gevent lock shared between
    real threads can miss the wake-up of a waiter when the holder releases it (gevent
    issues #1744 and #2013), which stalled every writer of a web process for good under
    concurrent account openings. These threads never run on the event loop, so blocking
    them is what is wanted.
    """
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a runtime dependency
        return threading.Lock()
    return monkey.get_original("_thread", "allocate_lock")()
