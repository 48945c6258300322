"""The long-lived objects one web process uses, kept on the Flask app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

import redis
from flask import Flask, current_app
from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, configure_mappers

from shared import messaging
from shared.access.api_keys import identify
from shared.config.settings import Settings
from shared.labels import database_label
from shared.ledger.partition_count import check_partition_count, stored_partition_count
from shared.store.db import Database
from shared.store.models import Partition
from web.http.key_directory import KeyDirectory
from web.serving.dispatch import PartitionDispatcher
from web.serving.hold_directory import HoldDirectory
from web.serving.intake import JobIntake
from web.serving.offload import DatabaseThreads, serving_on_gevent
from web.serving.pressure import Backpressure
from web.serving.waiting import CompletionListener

log = logging.getLogger(__name__)
EXTENSION_KEY = "atm"
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    database: Database
    redis: redis.Redis
    listener: CompletionListener
    intake: JobIntake
    backpressure: Backpressure
    threads: DatabaseThreads
    holds: HoldDirectory
    keys: KeyDirectory

    def reading(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(session, ...)` in a read transaction, off the event loop."""

        def unit() -> T:
            with self.database.read.begin() as session:
                return work(session, *args, **kwargs)

        return self.threads.run(unit)

    def writing(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`work(session, ...)` in a write transaction (committed if it returns), off the
        event loop."""

        def unit() -> T:
            with self.database.writing() as session:
                return work(session, *args, **kwargs)

        return self.threads.run(unit)

    def close(self, timeout: float = 5.0) -> None:
        """End the job committer (after the jobs already handed to it; later ones are
        refused) and the completion subscription, and close the database engine, the
        writers' lock file and the Redis client. (The request-metrics flusher, a daemon
        thread of the process rather than of the app, is left to end with the process.)

        A served process never calls it (they all live as long as the process); an app
        built in a process that goes on, such as a test's, does. Raises if a thread did not
        end within `timeout`.
        """
        ended = {
            "job-intake": self.intake.close(timeout),
            "completions": self.listener.close(self.redis, timeout),
        }
        self.database.close()
        self.redis.close()
        running = [name for name, done in ended.items() if not done]
        if running:
            raise RuntimeError(f"threads still running after {timeout} s: {running}")


def init_services(app: Flask, settings: Settings) -> Services:
    # Tables come from init_database. Under gevent only the real threads of DatabaseThreads
    # touch it, each with a connection of its own, after one made here; else on first use.
    on_gevent = serving_on_gevent()
    database = Database(settings, connection_per_thread=on_gevent)
    if not settings.partitions_given:
        settings = database.settings = settings.with_partitions(database_partitions(database))
    if on_gevent:
        first_connection(database)
    threads = DatabaseThreads(settings.database_threads)
    client = messaging.connect(settings.redis_url)
    dispatcher = PartitionDispatcher(client)
    services = Services(
        settings=settings,
        database=database,
        redis=client,
        listener=CompletionListener(settings.redis_url, settings.max_waiters),
        intake=JobIntake(
            database, threads, settings.partitions, dispatcher, settings.idempotency_ttl_seconds
        ),
        backpressure=Backpressure(settings, database, threads, client),
        threads=threads,
        holds=HoldDirectory(),
        # Reads a key through this same Services (the name is bound when it is called).
        keys=KeyDirectory(
            client,
            lambda secret: services.reading(identify, secret),
            flushing=serving_on_gevent(),
            database=database_label(settings.database_url),
        ),
    )
    if services.keys.flushing:
        # Registered from the start, not from the first keyed request: `keys revoke` looks
        # for the live web processes of its database before it trusts their silence.
        services.keys.start_flusher()
    app.extensions[EXTENSION_KEY] = services
    return services


def current_services() -> Services:
    return current_app.extensions[EXTENSION_KEY]


def database_partitions(database: Database) -> int:
    """The database's partition count, for a process started without ATM_PARTITIONS (the
    default for a database without partitions yet). Read at start, as a web process records
    work in the partitions it counts; if the database does not answer, the process does
    not start: the count is not its to guess."""
    try:
        with database.read.begin() as session:
            if not inspect(session.connection()).has_table(Partition.__tablename__):
                return database.settings.partitions
            return stored_partition_count(session) or database.settings.partitions
    except SQLAlchemyError as exc:
        raise RuntimeError(
            f"the database did not answer at start ({exc}); without ATM_PARTITIONS a web "
            "process reads the database's partition count before it starts"
        ) from exc


def first_connection(database: Database) -> None:
    """Make the engine's first connection now, before any database thread needs one.

    SQLAlchemy runs an engine's first-connection events under a lock it makes on first use,
    which in a process gevent has patched is a gevent lock; the database threads are real
    threads, and a gevent lock shared by real threads can miss the wake-up of a waiter
    (see shared/store/native_lock.py). When several threads made their first connection at once
    (hundreds of requests arriving together at a fresh process), one could wait on it for
    good, and its request was never answered. Once the first connection has been made the
    lock is never taken again. A database that does not answer yet is connected on first
    use, as before.

    The same read checks the database's partition count (shared.ledger.partition_count): a
    web process with another ATM_PARTITIONS would record work in partitions no owner
    applies in order with the rest, so it refuses to start.
    """
    configure_mappers()  # the same for the ORM's one-time set-up, under its own lock
    try:
        with database.read.begin() as session:
            check_partition_count(session, database.settings.partitions)
    except SQLAlchemyError as exc:
        log.warning("the database did not answer at start (%s); connecting on first use", exc)
