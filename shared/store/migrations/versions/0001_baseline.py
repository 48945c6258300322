"""The schema as it stood when migrations began, for a new database or one made before.

A new database gets every table. A database made by a release before migrations (it has
tables but no alembic_version) is brought to the same schema by the steps those releases
ran at every start: missing tables, columns and indexes added, new account columns given
their defaults, the ledger's UNIQUE(job_id) widened to UNIQUE(job_id, account_number), and
an index that a later one replaced dropped. Queued work in it is kept and applied after.

The tables are written out here, not taken from shared.store.models: a revision describes one
moment of the schema, and the models will move on.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)
IS_QUEUED = sa.text("status = 'queued'")
IS_FAILED = sa.text("status = 'failed'")
IS_ACTIVE = sa.text("status = 'active'")
IS_PENDING = sa.text("status = 'pending'")
# Indexes of earlier releases that a later one replaced (by ix_jobs_queued).
REPLACED_INDEXES = ("ix_jobs_partition_status_id",)


def partial(name: str, *columns: str, where: sa.TextClause) -> sa.Index:
    """An index of only the rows `where` holds (both databases support them)."""
    return sa.Index(name, *columns, sqlite_where=where, postgresql_where=where)


def baseline_tables() -> sa.MetaData:
    """Every table and index of the baseline schema."""
    metadata = sa.MetaData()
    sa.Table(
        "accounts",
        metadata,
        sa.Column("account_number", sa.String(34), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("opening_balance", sa.BigInteger, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("status", sa.String(16)),
        sa.Column("held", sa.BigInteger),
        sa.Column("daily_withdrawal_limit", sa.BigInteger),
        sa.Column("limit_day", sa.String(10)),
        sa.Column("withdrawn_on_limit_day", sa.BigInteger),
    )
    sa.Table(
        "jobs",
        metadata,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(36), nullable=False, unique=True),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("account_number", sa.String(34), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("new_balance", sa.BigInteger),
        sa.Column("transaction_id", sa.BigInteger),
        sa.Column("error_type", sa.String(64)),
        sa.Column("error_message", sa.String(255)),
        sa.Column("applied_by", sa.String(128)),
        sa.Column("batch_id", sa.String(36)),
        sa.Column("batch_index", sa.Integer),
        sa.Column("reference", sa.String(128)),
        sa.Column("metadata", sa.Text),
        sa.Column("request_id", sa.String(128)),
        sa.Column("to_account", sa.String(34)),
        sa.Column("to_balance", sa.BigInteger),
        sa.Column("target_id", sa.String(36)),
        sa.Column("details", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("reversed_by", sa.String(36)),
        sa.Column("submitted_by", sa.String(36)),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("completed_at", Moment),
        partial("ix_jobs_queued", "partition", "id", where=IS_QUEUED),
        sa.Index("ix_jobs_batch", "batch_id", "batch_index"),
        partial("ix_jobs_failed", "id", where=IS_FAILED),
        sa.Index("ix_jobs_target", "target_id"),
    )
    sa.Table(
        "batches",
        metadata,
        sa.Column("batch_id", sa.String(36), primary_key=True),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("applied", sa.Integer),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("submitted_by", sa.String(36)),
    )
    sa.Table(
        "transactions",
        metadata,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "account_number",
            sa.String(34),
            sa.ForeignKey("accounts.account_number"),
            nullable=False,
        ),
        sa.Column("job_id", sa.String(36)),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(128)),
        sa.Column("metadata", sa.Text),
        sa.Column("direction", sa.String(6)),
        sa.Column("created_at", Moment, nullable=False),
        sa.Index("ix_transactions_account_id", "account_number", "id"),
        sa.Index("ux_transactions_job_account", "job_id", "account_number", unique=True),
    )
    sa.Table(
        "holds",
        metadata,
        sa.Column("hold_id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column(
            "account_number",
            sa.String(34),
            sa.ForeignKey("accounts.account_number"),
            nullable=False,
        ),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("captured_amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("limit_day", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(128)),
        sa.Column("metadata", sa.Text),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("completed_at", Moment),
        partial("ix_holds_active", "partition", "expires_at", where=IS_ACTIVE),
    )
    sa.Table(
        "partitions",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_by", sa.String(128)),
    )
    sa.Table(
        "api_keys",
        metadata,
        sa.Column("key_id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.String(64), nullable=False),
        sa.Column("accounts", sa.Text),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("revoked_at", Moment),
    )
    sa.Table(
        "idempotency_keys",
        metadata,
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(36)),
        sa.Column("response_status", sa.Integer),
        sa.Column("response_body", sa.Text),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False, index=True),
    )
    sa.Table(
        "webhooks",
        metadata,
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("events", sa.String(128), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("deleted_at", Moment),
    )
    sa.Table(
        "webhook_events",
        metadata,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("webhook_ids", sa.Text, nullable=False),
        sa.Column("subject_ids", sa.Text, nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("claimed_until", Moment),
    )
    sa.Table(
        "webhook_deliveries",
        metadata,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(255)),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("next_attempt_at", Moment, nullable=False),
        sa.Column("completed_at", Moment),
        partial("ix_webhook_deliveries_due", "next_attempt_at", where=IS_PENDING),
        sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )
    return metadata


def upgrade() -> None:
    connection = op.get_bind()
    metadata = baseline_tables()
    metadata.create_all(connection)  # checks first: only what is missing
    _add_missing_columns(connection, metadata)
    _fill_new_account_columns(connection)
    _widen_ledger_job_uniqueness(connection, metadata.tables["transactions"])
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(connection, checkfirst=True)
    for name in REPLACED_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")


def downgrade() -> None:
    raise NotImplementedError("the baseline is the oldest schema there is")


def _add_missing_columns(connection: sa.Connection, metadata: sa.MetaData) -> None:
    """Columns added by releases before migrations, all nullable: added empty."""
    inspector = sa.inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=connection.dialect)
                op.execute(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')


def _fill_new_account_columns(connection: sa.Connection) -> None:
    """Accounts from before controls and holds: active, nothing held, nothing withdrawn."""
    for column, value in (("status", "'active'"), ("held", "0"), ("withdrawn_on_limit_day", "0")):
        op.execute(f"UPDATE accounts SET {column} = {value} WHERE {column} IS NULL")


def _widen_ledger_job_uniqueness(connection: sa.Connection, ledger: sa.Table) -> None:
    """Replace an early release's UNIQUE(job_id) on the ledger by UNIQUE(job_id, account).

    A transfer writes one entry on each of its accounts. PostgreSQL drops the constraint;
    SQLite cannot drop a column's UNIQUE, so the table is rebuilt (copied into a new one).
    """
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE transactions DROP CONSTRAINT IF EXISTS transactions_job_id_key")
        return
    old_unique = [
        row
        for row in connection.exec_driver_sql("PRAGMA index_list(transactions)")
        if row[1].startswith("sqlite_autoindex_")
    ]
    if not old_unique:
        return
    columns = ", ".join(f'"{column.name}"' for column in ledger.columns)
    for index in ledger.indexes:
        op.execute(f"DROP INDEX IF EXISTS {index.name}")
    op.execute("ALTER TABLE transactions RENAME TO transactions_before_upgrade")
    ledger.create(connection)
    op.execute(
        f"INSERT INTO transactions ({columns}) SELECT {columns} FROM transactions_before_upgrade"
    )
    op.execute("DROP TABLE transactions_before_upgrade")
