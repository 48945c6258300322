"""Engine and sessions: SQLite in WAL mode with write transactions that lock up front."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool

from shared.accounts import open_account
from shared.api_keys import ADMIN, ensure_key
from shared.models import Account, Base, LedgerEntry, Partition
from shared.settings import Settings

SAMPLE_ACCOUNTS = {"10001": 500_000, "10002": 300_000, "10003": 100_000}
# Indexes an earlier version created that a current one replaces (by ix_jobs_queued).
REPLACED_INDEXES = ("ix_jobs_partition_status_id",)
WRITE_OPTION = "atm_write"


def _configure_sqlite(engine: Engine, settings: Settings) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for write sessions.

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
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        immediate = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


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
    return create_engine(url, pool_pre_ping=True, **pooling)


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


class Database:
    """The engine plus session factories: `read` (plain BEGIN) and `writing()` (locks up front)."""

    def __init__(self, settings: Settings, *, connection_per_thread: bool = False) -> None:
        self.settings = settings
        self.engine = make_engine(settings, connection_per_thread=connection_per_thread)
        self.read = sessionmaker(self.engine, expire_on_commit=False)
        self.write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        url = make_url(settings.database_url)
        self.writers = (
            WriterQueue(Path(url.database)) if url.get_backend_name() == "sqlite" else None
        )

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self.writers.turn() if self.writers else nullcontext(), self.write.begin() as session:
            yield session

    def dispose_after_fork(self) -> None:
        """Drop pooled connections inherited from the parent without closing its sockets."""
        self.engine.dispose(close=False)


def init_database(database: Database) -> None:
    """Create tables and partition rows, the sample accounts on an empty database, and the
    bootstrap admin key when ATM_BOOTSTRAP_ADMIN_KEY names one.

    Safe to run from every process at start: the whole step is one write transaction
    (SQLite's write lock, PostgreSQL's advisory lock), so concurrent starts serialize.
    """
    settings = database.settings
    with database.writing() as session:
        if session.bind.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(727274)"))
        Base.metadata.create_all(session.connection())
        _add_missing_columns(session.connection())
        _fill_new_account_columns(session.connection())
        _relax_ledger_job_uniqueness(session.connection())
        _upgrade_indexes(session.connection())
        known = set(session.scalars(select(Partition.id)))
        session.add_all(Partition(id=p) for p in range(settings.partitions) if p not in known)
        if (
            settings.seed_sample_accounts
            and session.scalar(select(Account.account_number).limit(1)) is None
        ):
            for number, cents in SAMPLE_ACCOUNTS.items():
                open_account(session, number, cents)
        if settings.bootstrap_admin_key:
            ensure_key(session, "bootstrap admin", settings.bootstrap_admin_key, [ADMIN])


def _add_missing_columns(connection: Connection) -> None:
    """Give a table made by an earlier version the columns added since (all nullable).

    create_all skips tables that already exist, so a new column is added here, empty.
    """
    inspector = inspect(connection)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=connection.dialect)
                connection.exec_driver_sql(
                    f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'
                )


def _fill_new_account_columns(connection: Connection) -> None:
    """Accounts from before controls and holds: active, nothing held, nothing withdrawn."""
    for column, value in (("status", "'active'"), ("held", "0"), ("withdrawn_on_limit_day", "0")):
        connection.exec_driver_sql(f"UPDATE accounts SET {column} = {value} WHERE {column} IS NULL")


def _relax_ledger_job_uniqueness(connection: Connection) -> None:
    """Replace an earlier version's UNIQUE(job_id) on the ledger by UNIQUE(job_id, account).

    A transfer writes one entry on each of its accounts. PostgreSQL drops the constraint;
    SQLite cannot drop a column's UNIQUE, so the table is rebuilt (copied into a new one),
    inside the init transaction like everything else here.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_job_id_key"
        )
        return
    old_unique = [
        row
        for row in connection.exec_driver_sql("PRAGMA index_list(transactions)")
        if row[1].startswith("sqlite_autoindex_")
    ]
    if not old_unique:
        return
    columns = ", ".join(f'"{c.name}"' for c in LedgerEntry.__table__.columns)
    for index in LedgerEntry.__table__.indexes:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    connection.exec_driver_sql("ALTER TABLE transactions RENAME TO transactions_before_upgrade")
    LedgerEntry.__table__.create(connection)
    connection.exec_driver_sql(
        f"INSERT INTO transactions ({columns}) SELECT {columns} FROM transactions_before_upgrade"
    )
    connection.exec_driver_sql("DROP TABLE transactions_before_upgrade")


def _upgrade_indexes(connection: Connection) -> None:
    """Give a database made by an earlier version the current indexes.

    create_all skips the indexes of a table that already exists, so each is created here
    if missing, and the ones it replaced are dropped.
    """
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            index.create(connection, checkfirst=True)
    for name in REPLACED_INDEXES:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
