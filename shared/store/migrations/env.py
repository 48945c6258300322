"""Alembic's entry point: migrate the connection the service hands over, or DATABASE_URL.

The service runs migrations inside its own start-up transaction (see shared.store.migrating), so
concurrent starts serialize on the database's write lock and a failed step leaves nothing
half-done. The `alembic` command line (for new revisions) connects to DATABASE_URL.
"""

from __future__ import annotations

from alembic import context

from shared.store.models import Base

RENDER = {"target_metadata": Base.metadata, "render_as_batch": True, "compare_type": True}


def run_on(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, **RENDER)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    from shared.config.settings import get_settings
    from shared.store.db import Database

    database = Database(get_settings())
    with database.writing() as session:
        run_on(session.connection())
