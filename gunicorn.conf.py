"""gunicorn settings for the web process (read from the working directory by gunicorn)."""

import gc
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '5000')}"
# Threads, not processes, carry the waiting: a synchronous request spends most of its time
# waiting for the worker's notice, which costs no CPU.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "32"))
# The app is built in each worker after the fork (no preload), so every process opens its
# own database pool, Redis connections and completion subscription.
preload_app = False
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("ACCESS_LOG") or None


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """Create the tables (and sample accounts) once, in the master, before workers fork."""
    from shared.db import Database, init_database
    from shared.settings import get_settings

    database = Database(get_settings())
    init_database(database)
    database.engine.dispose()


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """Keep the app's start-up objects out of garbage collection: a 10,000-operation batch
    allocates enough to trigger full collections, which would otherwise walk them all."""
    gc.freeze()
