"""The web app in-process, for tests of its request handling: a fresh SQLite file seeded as
at a normal start, its own Redis database, no worker, and nothing left behind after it.

A web process is never closed: its engine, its Redis connections and the threads it starts
on first use (the job-intake committer, the completion subscription) live as long as the
process does, and web has no hook that ends them. A test makes an app per test, so
`running_app` ends them itself when the test is done: the threads through the one call
each loop makes per item it takes (the intake's commit of a group, the listener's delivery
of a notice), which raise `_Stop` once the app is closing; their targets are wrapped
before they start so that it ends them quietly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import func, select

from shared import messaging
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
    database.engine.dispose()
    app = create_app(settings)
    services = services_of(app)
    threads = BackgroundThreads(services)
    try:
        yield app
    finally:
        threads.stop()
        close(services)


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION_KEY]


def job_count(app: Flask) -> int:
    """How many jobs the app's database holds: what was recorded, whatever its state."""
    return services_of(app).reading(lambda session: session.scalar(select(func.count(Job.id))))


def close(services: Services) -> None:
    """Close the connections and files the app holds (its threads have ended)."""
    services.database.engine.dispose()
    writers = services.database.writers
    if writers is not None and writers.file is not None:
        writers.file.close()
    services.redis.close()


class _Stop(BaseException):
    """Raised in a background thread of a closing app: not an Exception, which both loops
    catch and go on after."""


class BackgroundThreads:
    """The app's job-intake and completion threads, ended by `stop()`."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.started: list[threading.Thread] = []
        for process_thread in (services.intake.thread, services.listener.thread):
            process_thread.target = self._ending_quietly(process_thread.target)

    def _ending_quietly(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            # Listed before the request that started it returns: that request waits for
            # the thread (for its job's commit, or for the subscription).
            self.started.append(threading.current_thread())
            with suppress(_Stop):
                target()

        return run

    def stop(self) -> None:
        if not self.started:
            return
        intake, listener = self.services.intake, self.services.listener

        def stop_here(*_: object) -> None:
            raise _Stop

        intake._commit = stop_here  # type: ignore[method-assign]
        listener._deliver = stop_here  # type: ignore[method-assign]
        if intake.thread.pid is not None:
            intake.waiting.put(None)  # type: ignore[arg-type]
        channel = messaging.completions_channel(self.services.redis)
        deadline = time.monotonic() + STOP_SECONDS
        for thread in self.started:
            while thread.is_alive() and time.monotonic() < deadline:
                if thread.name == listener.thread.name:
                    # A notice for the subscription to deliver (once it is subscribed).
                    self.services.redis.publish(channel, "{}")
                thread.join(0.01)
        running = [thread.name for thread in self.started if thread.is_alive()]
        assert not running, f"background threads still running after close: {running}"
