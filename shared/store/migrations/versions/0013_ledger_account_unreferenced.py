"""The ledger's account column without a foreign key: the applier is what keeps it true.

Every ledger entry is written by an apply transaction for an account it has read, and
locked, in that same transaction (shared.ledger.applying: an entry for an account it did
not read cannot be linked into a chain), and no account is ever deleted. The foreign key
checked it again for each entry: on PostgreSQL a lookup and a row lock in `accounts` per
row of the COPY, which halved the COPY's rate (115,000 rows/s against 208,000 to 250,000
without it, a bare psycopg script of 8,000-row COPYs on a development machine) and was a
sixth of a batch's apply time; on SQLite 15% of the ledger insert's. The audit checks that
every entry names an account that exists (shared.ledger.audit).

PostgreSQL drops the constraint in place. SQLite cannot drop a constraint, so there the
ledger is copied into a new table without it (as revision 0009 did): on a large ledger the
start that upgrades takes a while, once. A downgrade puts the key back, which fails if an
entry names an account that does not exist (the audit reports any).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COLUMNS = (
    "id",
    "account_number",
    "job_id",
    "type",
    "amount",
    "status",
    "balance_after",
    "reference",
    "metadata",
    "direction",
    "created_at",
    "overdraft_limit",
    "prev_id",
    "seq",
)


def _account_keys(bind: sa.Connection) -> list[dict]:
    return [
        key
        for key in sa.inspect(bind).get_foreign_keys("transactions")
        if key["referred_table"] == "accounts"
    ]


def upgrade() -> None:
    bind = op.get_bind()
    keys = _account_keys(bind)
    if not keys:  # (none: a database whose revision record was lost)
        return
    if bind.dialect.name == "postgresql":
        for key in keys:
            op.drop_constraint(key["name"], "transactions", type_="foreignkey")
    else:
        _copy_ledger(bind, foreign_key=False)


def downgrade() -> None:
    bind = op.get_bind()
    if _account_keys(bind):
        return
    if bind.dialect.name == "postgresql":
        op.create_foreign_key(
            None, "transactions", "accounts", ["account_number"], ["account_number"]
        )
    else:
        _copy_ledger(bind, foreign_key=True)


def _copy_ledger(bind: sa.Connection, *, foreign_key: bool) -> None:
    """SQLite: the ledger copied into a table of the same columns, with or without the
    key. The old one is renamed first and its indexes dropped, so that the new one has the
    table's name from the start; then every index it had is made again from its own SQL
    (one added by hand as well as the revisions' two)."""
    indexes = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transactions' "
        "AND sql IS NOT NULL"
    ).all()
    for name, _ in indexes:
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
    op.execute("ALTER TABLE transactions RENAME TO transactions_before_0013")
    account = [sa.ForeignKey("accounts.account_number")] if foreign_key else []
    op.create_table(
        "transactions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("account_number", sa.String(34), *account, nullable=False),
        sa.Column("job_id", sa.String(36)),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(128)),
        sa.Column("metadata", sa.Text),
        sa.Column("direction", sa.String(6)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdraft_limit", sa.BigInteger),
        sa.Column("prev_id", sa.BigInteger),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    columns = ", ".join(f'"{name}"' for name in COLUMNS)
    op.execute(
        f"INSERT INTO transactions ({columns}) SELECT {columns} FROM transactions_before_0013"
    )
    op.execute("DROP TABLE transactions_before_0013")
    for _, sql in indexes:
        op.execute(sql)
