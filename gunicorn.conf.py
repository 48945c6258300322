"""gunicorn settings for the web process (read from the working directory by gunicorn)."""

import os

from gunicorn.glogging import Logger

from shared.collector import settle_after_start
from shared.config.settings import get_settings

settings = get_settings()


class AccessLogWhenAsked(Logger):
    """gunicorn builds every request's access-line fields whenever a logging configuration
    is given (ours always is: JSON lines), even with the access logger silenced; that was
    about 3% of a web process's CPU under load. Here only ACCESS_LOG turns it on.

    Defined here, not in the `web` package: importing that package in gunicorn's master
    would import ssl (through redis and urllib3) before each worker's gevent patches it,
    and every worker would warn (MonkeyPatchWarning) at boot.
    """

    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)


bind = f"{settings.host}:{settings.port}"
# gevent: each connection is a greenlet, so a request waiting for its outcome costs a few
# kilobytes instead of an OS thread. Database work runs on real threads (web/serving/offload.py).
worker_class = "gevent"
workers = settings.web_processes
# Connections one process holds at once: the waiters (ATM_MAX_WAITERS) plus room for the
# requests that answer at once. Each is a file descriptor (see run.py's limit check).
worker_connections = settings.web_connections
# The gevent worker bounds the reading of each request's line and headers, and the idle
# time between a connection's requests, by `keepalive`: the header read timeout. The body
# has its own deadline (web/http/bodies.py).
keepalive = settings.header_timeout_seconds
# The app is built in each worker after the fork (no preload), so every process opens its
# own database pool, Redis connections and completion subscription, after gevent's patching.
preload_app = False
timeout = 60
graceful_timeout = 30
accesslog = settings.access_log
logger_class = AccessLogWhenAsked
# The access line ends with the request's id (the X-Request-ID response header).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(D)sus %({x-request-id}o)s'
# Every log line one JSON object, gunicorn's own and the app's (the app adds request ids).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "shared.logs.json_formatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
        "error_console": {"class": "logging.StreamHandler", "formatter": "json"},
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {
            "level": "INFO" if accesslog else "WARNING",  # off unless ACCESS_LOG is set
            "handlers": ["console"],
            "propagate": False,
        },
    },
}
# One control socket per user would be shared by every gunicorn on the machine.
control_socket_disable = True


def on_starting(server) -> None:  # type: ignore[no-untyped-def]
    """Create the tables (and sample accounts) once, in the master, before workers fork;
    each web process is given the database's partition count (it reads its settings
    after the fork)."""
    from shared.ledger.partition_count import PartitionCountDiffers
    from shared.store.db import Database, init_database

    database = Database(settings)
    try:
        os.environ["ATM_PARTITIONS"] = str(init_database(database))
    except PartitionCountDiffers as exc:
        server.log.error("%s", exc)  # one line, not a traceback
        raise SystemExit(1) from exc
    finally:
        database.engine.dispose()
    get_settings.cache_clear()


def post_worker_init(worker) -> None:  # type: ignore[no-untyped-def]
    """Keep the app's start-up objects out of garbage collection, and collect less often: a
    10,000-operation batch allocates enough to trigger full collections, which would
    otherwise walk them all (see shared.collector)."""
    settle_after_start()


def worker_exit(server: object, worker: object) -> None:
    """A stopping web process writes the requests it counted since its last flush."""
    from web.api.metrics import tally  # this process's, imported with the app

    tally.flush()
