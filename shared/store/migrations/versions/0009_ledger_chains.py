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
applied in) and links them, in one statement over the ledger, before it drops the old
index. On a large ledger it takes a while, once: a minute or so per ten million entries
on SQLite.

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


def upgrade() -> None:
    bind = op.get_bind()
    # Nullable columns rewrite nothing on either database; one already there (a database
    # whose revision record was lost, brought to head again) is left alone.
    for table, names in (
        ("transactions", ("prev_id", "seq")),
        ("accounts", ("last_entry_id", "entry_count")),
    ):
        present = {c["name"] for c in sa.inspect(bind).get_columns(table)}
        for name in names:
            if name not in present:
                op.add_column(table, sa.Column(name, sa.BigInteger()))
    # UPDATE … FROM: SQLite since 3.33, PostgreSQL always.
    op.execute(
        "UPDATE transactions SET prev_id = chain.prev_id, seq = chain.seq FROM ("
        "SELECT id, LAG(id) OVER account_order AS prev_id, "
        "ROW_NUMBER() OVER account_order AS seq FROM transactions "
        "WINDOW account_order AS (PARTITION BY account_number ORDER BY id)"
        ") AS chain WHERE chain.id = transactions.id"
    )
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
    if "ix_transactions_account_id" in indexes:
        op.drop_index("ix_transactions_account_id", table_name="transactions")


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
