"""Schema migrations (Alembic), run by every process at start inside its init transaction."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file; `connection` is the one to migrate."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(connection: Connection) -> None:
    """Bring the database to the newest revision, in the caller's transaction.

    The caller holds the database's write lock (SQLite) or an advisory lock (PostgreSQL),
    so processes starting together migrate one after the other; the later ones find the
    database at head and do nothing. Reading the current revision first keeps that common
    case to one query.
    """
    if current_revision(connection) == head_revision():
        return
    command.upgrade(alembic_config(connection), "head")
