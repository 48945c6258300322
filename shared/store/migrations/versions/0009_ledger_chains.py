"""The ledger indexed by account only at every 16th entry: each entry links to its account's
previous one.

Before, every ledger entry had an entry in `ix_transactions_account_id` (account, id). The
entries of one apply transaction belong to thousands of accounts, so each landed on its
own page of that index, and every commit wrote those pages again: most of a batch's cost
in the database. Now an entry carries `prev_id` (its account's previous entry) and `seq`
(its place among the account's entries, from 1), both known to the applier from the
account's row, which it rewrites anyway (`last_entry_id`, `entry_count`); the index by
account (`ix_transactions_anchors`, partial) holds only entries 1, 17, 33, … of each
account. History walks the chain; a search by date bisects the anchors and walks at most
15 entries (shared.ledger.chain).

The upgrade numbers the existing entries of each account in id order (the order they were
applied in) and links them. `seq` is NOT NULL: an applier of the previous release, should
one still run after the upgrade, writes entries without it, and the database refuses them
(its transaction rolls back, and its work waits for this release's workers) instead of
letting an entry fall out of its account's chain. **Stop the previous release's processes
before the upgrade** all the same. SQLite cannot add NOT NULL to a column, so there the
ledger is copied into a new table, numbered and linked on the way; PostgreSQL numbers it
in place. Either way every entry is written once more: on a large ledger the start that
upgrades takes a while, once (2,000,000 entries in 22 s on SQLite on a development
machine).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ANCHOR = sa.text("seq % 16 = 1")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The ledger's columns before this revision, in order (0001 to 0008).
KEPT = (
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
)
NUMBERED = (
    "LAG(id) OVER account_order, ROW_NUMBER() OVER account_order"
    " FROM {table} WINDOW account_order AS (PARTITION BY account_number ORDER BY id)"
)


def upgrade() -> None:
    bind = op.get_bind()
    present = {c["name"] for c in sa.inspect(bind).get_columns("transactions")}
    if "seq" not in present:  # (present: a database whose revision record was lost)
        if bind.dialect.name == "postgresql":
            _number_in_place()
        else:
            _number_in_a_copy(bind)
    present = {c["name"] for c in sa.inspect(bind).get_columns("accounts")}
    for name in ("last_entry_id", "entry_count"):
        if name not in present:
            op.add_column("accounts", sa.Column(name, sa.BigInteger()))
    op.execute(
        "UPDATE accounts SET last_entry_id = newest.id, entry_count = newest.entries FROM ("
        "SELECT account_number, MAX(id) AS id, COUNT(*) AS entries FROM transactions "
        "GROUP BY account_number"
        ") AS newest WHERE newest.account_number = accounts.account_number"
    )
    op.execute("UPDATE accounts SET entry_count = 0 WHERE entry_count IS NULL")
    indexes = {i["name"] for i in sa.inspect(bind).get_indexes("transactions")}
    if "ix_transactions_anchors" not in indexes:
        op.create_index(
            "ix_transactions_anchors",
            "transactions",
            ["account_number", "seq"],
            sqlite_where=ANCHOR,
            postgresql_where=ANCHOR,
        )
    if "ux_transactions_job_account" not in indexes:
        op.create_index(
            "ux_transactions_job_account",
            "transactions",
            ["job_id", "account_number"],
            unique=True,
        )
    if "ix_transactions_account_id" in indexes:
        op.drop_index("ix_transactions_account_id", table_name="transactions")


def _number_in_place() -> None:
    """PostgreSQL: two columns added, every entry numbered (UPDATE … FROM), then NOT NULL."""
    op.add_column("transactions", sa.Column("prev_id", sa.BigInteger()))
    op.add_column("transactions", sa.Column("seq", sa.BigInteger()))
    op.execute(
        "UPDATE transactions SET prev_id = chain.prev_id, seq = chain.seq FROM ("
        f"SELECT id, {NUMBERED.format(table='transactions')}"
        ") AS chain (id, prev_id, seq) WHERE chain.id = transactions.id"
    )
    op.alter_column("transactions", "seq", nullable=False)


def _number_in_a_copy(bind: sa.Connection) -> None:
    """SQLite: the ledger copied into a new table with the two columns, numbered on the
    way. The old table is renamed first and its indexes dropped, so that the new one has
    the table's own name from the start (no reference to rename) and the indexes' names."""
    for index in sa.inspect(bind).get_indexes("transactions"):
        op.execute(f"DROP INDEX IF EXISTS {index['name']}")
    op.execute("ALTER TABLE transactions RENAME TO transactions_before_0009")
    op.create_table(
        "transactions",
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
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("overdraft_limit", sa.BigInteger),
        sa.Column("prev_id", sa.BigInteger),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    columns = ", ".join(f'"{name}"' for name in KEPT)
    op.execute(
        f"INSERT INTO transactions ({columns}, prev_id, seq) SELECT {columns}, "
        + NUMBERED.format(table="transactions_before_0009")
    )
    op.execute("DROP TABLE transactions_before_0009")


def downgrade() -> None:
    op.create_index("ix_transactions_account_id", "transactions", ["account_number", "id"])
    op.drop_index("ix_transactions_anchors", table_name="transactions")
    # In place (SQLite since 3.35): batch mode would copy the tables, which their foreign
    # keys refuse.
    for table, name in (
        ("transactions", "seq"),
        ("transactions", "prev_id"),
        ("accounts", "entry_count"),
        ("accounts", "last_entry_id"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {name}")
