"""A web process under gevent makes its engine's first connection (and the ORM's set-up)
before any database thread can: SQLAlchemy guards both with locks made on first use, gevent
locks there, which real threads sharing them can miss the release of. Seen before: one
long-poll of 300 arriving together at a fresh process never answered, its database thread
waiting for good in the engine's first-connection lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from gevent import monkey
monkey.patch_all()
import json, sys
from shared.store.db import Database, init_database
from shared.config.settings import load_settings
from web import create_app
settings = load_settings({"DATABASE_URL": sys.argv[1], "REDIS_URL": sys.argv[2]})
init_database(Database(settings))
app = create_app(settings)
engine = app.extensions["atm"].database.engine
print(json.dumps({
    "patched": type(__import__("threading").Lock()).__module__,
    # SQLAlchemy's marks that its first-run lock is no longer taken
    "connect_done": engine.pool.dispatch.connect._exec_w_sync_once,
}))
"""


def test_the_first_connection_is_made_before_the_database_threads(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, f"sqlite:///{tmp_path / 'atm.db'}", "redis://127.0.0.1:1/0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"patched": found["patched"], "connect_done": True}
    assert found["patched"].startswith("gevent")
