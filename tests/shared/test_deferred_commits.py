"""Deferred commits (a request that waits for its outcome leaves the fsync to the owner's
commit) and make_durable, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.config.settings import load_settings
from shared.store import db as db_module
from shared.store.db import Database, init_database


def _level(database: Database, **writing: bool) -> str:
    """How the commit of a write transaction would wait for the disk."""
    with database.writing(**writing) as session:
        if database.sqlite_file is None:
            return str(session.execute(text("SHOW synchronous_commit")).scalar())
        return {0: "off", 1: "normal", 2: "full", 3: "extra"}[
            session.execute(text("PRAGMA synchronous")).scalar()
        ]


def test_a_deferred_write_does_not_wait_for_the_disk_and_the_next_one_does(
    database: Database,
) -> None:
    waits = "full" if database.sqlite_file else "on"
    deferred = "normal" if database.sqlite_file else "off"
    assert [
        _level(database),
        _level(database, deferred=True),
        _level(database, deferred=True),
        _level(database),
    ] == [waits, deferred, deferred, waits]


def test_a_read_after_a_deferred_write_commits_as_configured(database: Database) -> None:
    if database.sqlite_file is not None:
        pytest.skip("SQLite's reads take no synchronous setting of their own")
    _level(database, deferred=True)
    with database.read.begin() as session:
        assert session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    with database.look.begin() as session:
        session.execute(text("SELECT 1"))
    assert _level(database, deferred=True) == "off"


def test_a_rolled_back_transaction_leaves_the_setting_as_recorded(database: Database) -> None:
    """The setting is the connection's, changed outside the transaction: a rollback cannot
    undo it behind its record and leave a later commit deferred unasked."""
    if database.sqlite_file is not None:
        pytest.skip("PostgreSQL's setting")
    assert _level(database, deferred=True) == "off"
    with pytest.raises(RuntimeError), database.writing() as session:
        session.execute(text("SELECT 1"))
        raise RuntimeError("rolled back")
    assert _level(database) == "on"


def test_make_durable_flushes_postgresql_log_past_a_deferred_commit(database: Database) -> None:
    """The log flushed at least to the end of the deferred commit, at once (the log's
    writer would flush it within a few hundred milliseconds anyway)."""
    if database.sqlite_file is not None:
        pytest.skip("PostgreSQL's log")
    for _ in range(5):
        with database.writing(deferred=True) as session:
            session.execute(text("UPDATE partitions SET applied_by = 'test'"))
        with database.look.begin() as session:
            written = session.execute(text("SELECT pg_current_wal_insert_lsn()")).scalar()
            database.make_durable()
            flushed = session.execute(
                text("SELECT pg_current_wal_flush_lsn() >= CAST(:written AS pg_lsn)"),
                {"written": written},
            ).scalar()
        assert flushed


def test_make_durable_syncs_the_log_sqlite_writes_to(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.sqlite_file is None:
        pytest.skip("SQLite's log file")
    assert _files_synced(database, monkeypatch) == [f"{database.sqlite_file}-wal"]


def test_make_durable_without_a_log_has_nothing_to_sync(database: Database) -> None:
    if database.sqlite_file is None:
        pytest.skip("PostgreSQL has no log file of the database's own")
    database.engine.dispose()  # the last connection closed: the log checkpointed and removed
    assert not os.path.exists(f"{database.sqlite_file}-wal")
    database.make_durable()


def test_make_durable_syncs_the_log_of_the_file_a_symlink_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps the log beside the file a symlink resolves to."""
    (tmp_path / "real").mkdir()
    (tmp_path / "atm.db").symlink_to(tmp_path / "real" / "atm.db")
    database = Database(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"}))
    init_database(database)
    synced = _files_synced(database, monkeypatch)
    database.close()
    assert synced == [str(tmp_path / "real" / "atm.db-wal")]


def _files_synced(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files make_durable syncs after a deferred write."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(db_module.os, "fsync", fsync)
    with database.writing(deferred=True) as session:
        session.execute(text("UPDATE accounts SET balance = balance WHERE 0"))
    database.make_durable()
    return synced
