"""State shared by the web's real database threads is guarded by the system's locks, also
in a process where gevent patched `threading` (as gunicorn's gevent worker does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from gevent import monkey
monkey.patch_all()
import threading
from shared.accepting.batch_queue import decoded_parts
from shared.store.native_lock import native_lock
kinds = {
    "patched": type(threading.Lock()).__module__,
    "native": type(native_lock()).__module__,
    "decoded_parts": type(decoded_parts.lock).__module__,
}
import json
print(json.dumps(kinds))
"""


def test_locks_shared_by_real_threads_are_not_gevent_locks() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    kinds = json.loads(done.stdout)
    assert kinds["patched"].startswith("gevent")  # the probe really patched
    assert not kinds["native"].startswith("gevent")
    assert not kinds["decoded_parts"].startswith("gevent")
