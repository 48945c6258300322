"""A process thread starts once per process, and anew in a forked child (as gunicorn's
workers are forked from its master)."""

from __future__ import annotations

import os
import threading

from web.serving.background import ProcessThread


def test_started_once_here_and_once_in_a_forked_child() -> None:
    started = threading.Event()
    thread = ProcessThread("probe", started.set)
    assert thread.ensure_started() is True
    assert started.wait(5)
    assert thread.ensure_started() is False
    child = os.fork()
    if child == 0:  # the child reports through its exit status
        os._exit(0 if thread.ensure_started() and not thread.ensure_started() else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert thread.ensure_started() is False  # still this process's
