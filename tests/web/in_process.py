"""The web app in-process, for tests of its request handling: a fresh SQLite file seeded as
at a normal start, its own Redis database, no worker, and nothing left behind after it.

A served web process is never closed: its engine, its Redis connections and the threads
it starts on first use (the job-intake committer, the completion subscription) live as long
as the process does. A test makes an app per test, so `running_app` closes each one
(`Services.close`) when its test is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import func, select

from shared.config.settings import Settings, load_settings
from shared.store.db import Database, init_database
from shared.store.models import Job
from web import create_app
from web.serving.services import EXTENSION_KEY, Services

REDIS_DATABASE = 5  # of the session's redis-server: no other test uses it
STOP_SECONDS = 5.0


def in_process_settings(database_path: Path, redis_url: str, **env: str) -> Settings:
    """Settings for an app on `database_path` and Redis database REDIS_DATABASE of the
    server at `redis_url`; `env` adds or overrides variables."""
    server = redis_url.rsplit("/", 1)[0]
    return load_settings(
        {
            "DATABASE_URL": f"sqlite:///{database_path}",
            "REDIS_URL": f"{server}/{REDIS_DATABASE}",
            # No worker applies anything here, so no outcome ever comes: a withdrawal or
            # deposit answers 202 as soon as it is recorded (instead of after the default
            # 10 s), and a `Prefer: wait=N` is capped to no wait at all.
            "ATM_SYNC_WAIT_SECONDS": "0",
            "ATM_MAX_WAIT_SECONDS": "0",
            **env,
        }
    )


@contextmanager
def running_app(settings: Settings) -> Iterator[Flask]:
    """`create_app(settings)` over an empty Redis database and a database initialized as
    gunicorn's master does before its workers start; closed on exit."""
    flushing = redis.Redis.from_url(settings.redis_url)
    try:
        flushing.flushdb()
    finally:
        flushing.close()
    database = Database(settings)
    init_database(database)
    database.close()
    app = create_app(settings)
    try:
        yield app
    finally:
        services_of(app).close(STOP_SECONDS)


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]


def job_count(app: Flask) -> int:
    """How many jobs the app's database holds: what was recorded, whatever its state."""
    return services_of(app).reading(lambda session: session.scalar(select(func.count(Job.id))))
