"""Engine and sessions: SQLite in WAL mode with write transactions that lock up front."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool

from shared.access.api_keys import ADMIN, ensure_key
from shared.config.settings import Settings
from shared.ledger.accounts import open_account
from shared.ledger.partition_count import settled_partition_count
from shared.store.migrating import upgrade_schema
from shared.store.models import Account
from shared.store.native_lock import native_lock

SAMPLE_ACCOUNTS = {"10001": 500_000, "10002": 300_000, "10003": 100_000}
WRITE_OPTION = "atm_write"
DEFERRED_OPTION = "atm_deferred"  # a write transaction whose commit does not wait for the disk
# A connection's `synchronous` setting as last set (SQLite), or whether its commits are
# deferred (PostgreSQL's synchronous_commit off).
_SYNCHRONOUS = "atm_synchronous"
_LOG_RECORD = text("SELECT pg_logical_emit_message(true, 'atm', 'durable')")
_RETURNED_AT = "atm_returned_at"  # when a pooled connection was last given back (monotonic)
# A pooled connection idle for this long is pinged before it is lent out again.
PING_AFTER_IDLE_SECONDS = 1.0


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    """WAL (checkpointed every ATM_SQLITE_CHECKPOINT_PAGES), a busy timeout, and BEGIN
    IMMEDIATE for write sessions.

    pysqlite's own transaction handling is switched off (isolation_level=None) so that
    SQLAlchemy's begin really starts the transaction; a write transaction then takes the
    write lock at BEGIN instead of failing with SQLITE_BUSY when it first writes.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={settings.sqlite_checkpoint_pages}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        _record.info[_SYNCHRONOUS] = settings.sqlite_synchronous

    # A deferred commit syncs like NORMAL (never more than the setting asks); the pragma
    # cannot change inside a transaction, so it is set before BEGIN, only when it differs.
    configured = settings.sqlite_synchronous
    deferred_level = "NORMAL" if configured in ("FULL", "EXTRA") else configured

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        options = connection.get_execution_options()
        immediate = options.get(WRITE_OPTION)
        if immediate:
            level = deferred_level if options.get(DEFERRED_OPTION) else settings.sqlite_synchronous
            if connection.info.get(_SYNCHRONOUS) != level:
                connection.exec_driver_sql(f"PRAGMA synchronous={level}")
                connection.info[_SYNCHRONOUS] = level
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    """A deferred write transaction commits with `synchronous_commit` off: its commit does
    not wait for the log to reach the disk. Any other transaction of that connection runs
    with the setting as configured again (RESET).

    The setting is changed for the connection, outside any transaction (so that a rollback
    cannot undo it behind the record of it kept here), and only when it differs: a
    connection that commits only deferred writes sets it once.
    """

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        options = connection.get_execution_options()
        deferred = bool(options.get(WRITE_OPTION) and options.get(DEFERRED_OPTION))
        if connection.info.get(_SYNCHRONOUS, False) == deferred:
            return
        driver = connection.connection.driver_connection
        if driver.autocommit:  # a look: no commit to wait for
            return
        driver.autocommit = True  # the statement runs on its own, before the transaction
        try:
            connection.exec_driver_sql(
                "SET synchronous_commit = off" if deferred else "RESET synchronous_commit"
            )
        finally:
            driver.autocommit = False
        connection.info[_SYNCHRONOUS] = deferred


def _ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection before lending it out only if it sat unused for
    PING_AFTER_IDLE_SECONDS; one that fails is replaced (the pool retries the checkout).

    SQLAlchemy's `pool_pre_ping` pings at every checkout: a round trip more for every
    transaction, about a fifth of a millisecond here, and a read or an apply is a few of
    them. A connection the server dropped (a restart, an idle timeout) has sat unused; one
    dropped while in use fails its transaction, which is rolled back, and SQLAlchemy then
    replaces every connection of the pool made before that failure.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc


def make_engine(settings: Settings, *, connection_per_thread: bool = False) -> Engine:
    """An engine for DATABASE_URL; for SQLite the file's folder is created.

    `connection_per_thread` (the web's, under gevent): each of the few real threads that
    run the database work keeps a connection of its own (SingletonThreadPool), instead of
    sharing a queue of them. The queue's mutex and condition would be gevent's (gunicorn
    patches `threading` before anything is imported), and a gevent lock shared by real
    threads can miss a wake-up (see native_lock); a connection per thread needs no lock.
    """
    pooling: dict[str, object] = {"pool_size": 20, "max_overflow": 40}
    if connection_per_thread:
        pooling = {"poolclass": SingletonThreadPool, "pool_size": settings.database_threads + 4}
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("DATABASE_URL must name a SQLite file: every process shares it")
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={
                "timeout": settings.sqlite_busy_timeout_ms / 1000,
                "check_same_thread": False,
            },
            **pooling,
        )
        _configure_sqlite(engine, settings)
        return engine
    engine = create_engine(url, **pooling)
    _ping_after_idle(engine)
    if url.get_backend_name() == "postgresql":
        _configure_postgresql(engine)
    return engine


class WriterQueue:
    """Lets one SQLite writer at a time reach BEGIN IMMEDIATE, across threads and processes.

    SQLite's busy handler waits for the write lock by sleeping in steps of up to 100 ms, so
    many contending writers spend most of their time asleep while the lock is free. A
    blocking flock on a file beside the database wakes the next writer as soon as the lock
    is released; the thread lock is needed too, as flock does not exclude threads that
    share one open file.
    """

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + ".writer-lock")
        self.thread_lock = native_lock()
        self.file = None
        self.pid: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self.thread_lock:
            if self.pid != os.getpid():  # a forked child opens its own file description
                self.file = open(self.path, "a+b")  # noqa: SIM115 - held for the process
                self.pid = os.getpid()
            fcntl.flock(self.file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self.file, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file; a later turn opens it again."""
        with self.thread_lock:
            if self.file is not None:
                self.file.close()
            self.file, self.pid = None, None


class Database:
    """The engine plus session factories: `read` (plain BEGIN), `look` (one statement, no
    transaction where the database allows it) and `writing()` (locks up front)."""

    def __init__(self, settings: Settings, *, connection_per_thread: bool = False) -> None:
        self.settings = settings
        self.engine = make_engine(settings, connection_per_thread=connection_per_thread)
        self.read = sessionmaker(self.engine, expire_on_commit=False)
        self.write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self.write_deferred = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True, DEFERRED_OPTION: True}),
            expire_on_commit=False,
        )
        url = make_url(settings.database_url)
        # The file as SQLite opens it (a symlink resolved): its log is beside that file.
        sqlite = url.get_backend_name() == "sqlite"
        # A single read needs no transaction around it: on PostgreSQL its BEGIN and its
        # end are two round trips of the three. SQLite's reads begin where they are.
        self.look = (
            self.read
            if sqlite
            else sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
        )
        self.sqlite_file = Path(os.path.realpath(url.database)) if sqlite else None
        self.writers = WriterQueue(Path(url.database)) if sqlite else None

    @contextmanager
    def writing(self, *, deferred: bool = False) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception.

        `deferred`: its commit does not wait for the disk (SQLite: synchronous=NORMAL;
        PostgreSQL: synchronous_commit off); it is durable once a later commit that waits
        for the disk (any process's) or `make_durable` has returned. Only for work that
        nothing is answered about before one of them. Either database's log is written in
        order, so a commit that waits for it to reach the disk takes every commit before
        it there too.
        """
        maker = self.write_deferred if deferred else self.write
        with self.writers.turn() if self.writers else nullcontext(), maker.begin() as session:
            yield session

    def make_durable(self) -> None:
        """Every transaction committed so far, by any process, on disk.

        SQLite: the write-ahead log synced (a deferred commit's pages are in it, or were
        checkpointed into the database file, which a checkpoint syncs before the log is
        reused). PostgreSQL: a transaction that writes a record to the log and commits
        waiting for it, which flushes the log up to there. A commit that has written
        nothing to the log does not wait for it, so the record is a logical decoding
        message (`pg_logical_emit_message`, transactional, read by nobody): a log record
        without a table, at any `wal_level`.
        """
        if self.sqlite_file is None:
            with self.writing() as session:  # not deferred: its commit waits for the log
                session.execute(_LOG_RECORD)
            return
        try:
            descriptor = os.open(f"{self.sqlite_file}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # no log: the last connection checkpointed it whole and removed it
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def close(self) -> None:
        """Close the pooled connections and the writers' lock file."""
        self.engine.dispose()
        if self.writers is not None:
            self.writers.close()

    def dispose_after_fork(self) -> None:
        """Drop pooled connections inherited from the parent without closing its sockets."""
        self.engine.dispose(close=False)


def init_database(database: Database) -> int:
    """Migrate the schema to the newest revision, then add the partition rows to a new
    database (an existing one keeps its count, and must have ATM_PARTITIONS of them when
    that is set: PartitionCountDiffers), the sample accounts on an empty database, and the
    bootstrap admin key when ATM_BOOTSTRAP_ADMIN_KEY names one. Returns the database's
    partition count, the one every process of it must work with.

    Safe to run from every process at start: the whole step is one write transaction
    (SQLite's write lock, PostgreSQL's advisory lock), so concurrent starts serialize.
    """
    settings = database.settings
    with database.writing() as session:
        if session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        upgrade_schema(session.connection())
        partitions = settled_partition_count(
            session, settings.partitions, given=settings.partitions_given
        )
        if (
            settings.seed_sample_accounts
            and session.scalar(select(Account.account_number).limit(1)) is None
        ):
            for number, cents in SAMPLE_ACCOUNTS.items():
                open_account(session, number, cents)
        if settings.bootstrap_admin_key:
            ensure_key(session, "bootstrap admin", settings.bootstrap_admin_key, [ADMIN])
    return partitions
